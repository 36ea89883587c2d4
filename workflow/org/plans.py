"""Inspections (督察) and the rectification plans (整改方案) that answer them.

An inspection has a level (中央 central / 省级 provincial), a round, the team, the period it
ran and the date its feedback (反馈意见) was given. A plan names its inspection and its
categories (问题类别); an issue of a registered plan must name one of them. Registering either
is an office act, on the audit trail in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select

from workflow.clock import SystemClock
from workflow.db import Database, add_unique
from workflow.errors import InputError
from workflow.models import Inspection, Plan
from workflow.org.directory import OfficeAct

LEVELS = {"central": "中央", "provincial": "省级"}


def level_key(value: str) -> str:
    text = value.strip()
    found = text if text in LEVELS else {v: k for k, v in LEVELS.items()}.get(text)
    if found is None:
        raise InputError(f"unknown inspection level {value!r}; allowed: 中央 (central), "
                         "省级 (provincial)")
    return found


def add_inspection(db: Database, name: str, *, by: OfficeAct, level: str,
                   round: str | None = None, team: str | None = None,
                   period: tuple[date, date] | None = None,
                   feedback_on: date | None = None) -> int:
    """Register an inspection (an office actor only, on the audit trail); returns its id.

    Raises:
        InputError: an unknown level, a period that ends before it starts, feedback before
            the inspection ended, a duplicate name, or an empty directory.
        ActionDeniedError: ``by`` is not the office.
    """
    problems = []
    key = None
    try:
        key = level_key(level)
    except InputError as exc:
        problems.append(str(exc))
    if not name.strip():
        problems.append("an inspection needs a name")
    if period and period[1] < period[0]:
        problems.append(f"the period ends ({period[1]}) before it starts ({period[0]})")
    if period and feedback_on and feedback_on < period[1]:
        problems.append(f"feedback ({feedback_on}) cannot come before the inspection ended "
                        f"({period[1]})")
    if problems:
        raise InputError("; ".join(problems))
    with db.session(write=True) as session:
        by.check(session, "register inspections")
        inspection = Inspection(name=name.strip(), level=str(key), round=round, team=team,
                                period_start=period[0] if period else None,
                                period_end=period[1] if period else None,
                                feedback_on=feedback_on)
        inspection_id = add_unique(session, inspection, f"inspection {name!r}")
        by.record(session, "inspection_add", f"inspection {name.strip()}",
                  at=SystemClock().now(), level=level, round=round)
        return inspection_id


def add_plan(db: Database, name: str, *, by: OfficeAct, inspection: str | None = None,
             issued_on: date | None = None, categories: Sequence[str] = ()) -> int:
    """Register a plan with its categories (an office actor only, on the audit trail);
    returns its id.

    Raises:
        InputError: an unregistered inspection, an empty name, a duplicate name, or an empty
            directory. ActionDeniedError: ``by`` is not the office.
    """
    if not name.strip():
        raise InputError("a plan needs a name")
    with db.session(write=True) as session:
        by.check(session, "register plans")
        if inspection and session.scalar(
                select(Inspection.id).where(Inspection.name == inspection)) is None:
            raise InputError(f"inspection {inspection!r} is not registered; add it with "
                             "`rectify plan inspection`")
        plan = Plan(name=name.strip(), inspection=inspection, issued_on=issued_on,
                    categories=list(dict.fromkeys(c.strip() for c in categories if c.strip())))
        plan_id = add_unique(session, plan, f"plan {name!r}")
        by.record(session, "plan_add", f"plan {plan.name}", at=SystemClock().now(),
                  inspection=inspection, categories=plan.categories)
        return plan_id


def check_category(db: Database, plan: str | None, category: str | None) -> None:
    """An issue of a registered plan with categories must name one of them.

    Raises:
        InputError: the category is missing or not one of the plan's.
    """
    if not plan:
        return
    with db.session() as session:
        categories = session.scalar(select(Plan.categories).where(Plan.name == plan))
    if not categories:
        return
    if category not in categories:
        raise InputError(f"category {category!r} is not one of plan {plan!r}'s categories: "
                         f"{', '.join(categories)}")


def plans(db: Database) -> list[Plan]:
    with db.session() as session:
        return list(session.scalars(select(Plan).order_by(Plan.name)))


def inspections(db: Database) -> list[Inspection]:
    with db.session() as session:
        return list(session.scalars(select(Inspection).order_by(Inspection.name)))
