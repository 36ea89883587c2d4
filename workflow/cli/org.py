"""Organisation commands: `rectify units add|list`, `rectify people add|list` and
`rectify plan inspection|add|list` (plans and the inspections they answer)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from workflow.cli.common import (
    ActorName,
    JsonOption,
    RankOption,
    RoleName,
    console,
    make_engine,
    office_act,
    parse_date,
    print_json,
    print_table,
    reports_errors,
)
from workflow.config import Settings
from workflow.db import Database
from workflow.errors import InputError

units_app = typer.Typer(help="Units (单位): who works and accepts issues.", no_args_is_help=True)
people_app = typer.Typer(help="People and the roles they act in.", no_args_is_help=True)


@units_app.command("add")
@reports_errors
def units_add(name: Annotated[str, typer.Argument(help="Unit name, e.g. 相山区人民政府.")],
              parent: Annotated[str | None, typer.Option(help="The unit above it.")] = None,
              actor: ActorName = None, role: RoleName = None) -> None:
    """Register a unit (a county, a department, an office); an office person does."""
    from workflow.org.directory import add_unit

    engine = make_engine()
    add_unit(engine.db, name, parent=parent, by=office_act(engine, actor, role))
    console.print(f"unit {name} registered")


@units_app.command("list")
@reports_errors
def units_list(as_json: JsonOption = False) -> None:
    """Registered units."""
    from workflow.org.directory import units

    rows = [{"name": u.name, "parent": u.parent}
            for u in units(Database(Settings.from_env().database_url))]
    if as_json:
        print_json(rows)
        return
    print_table("单位 units", ("name", "parent"), [(r["name"], r["parent"] or "") for r in rows])


@people_app.command("add")
@reports_errors
def people_add(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    roles: Annotated[list[str], typer.Option("--role", help="Role they act in (repeatable): "
                                             "office, unit, acceptor, leader, discipline, "
                                             "public.")],
    unit: Annotated[str | None, typer.Option(help="Their unit (registered).")] = None,
    title: Annotated[str | None, typer.Option(help="职务, e.g. 副市长.")] = None,
    rank: RankOption = None,
    sector: Annotated[list[str] | None, typer.Option(help="包保领域 (问题类别) of a leader "
                                                     "(repeatable).")] = None,
    actor: ActorName = None,
    acting_role: Annotated[str | None, typer.Option(
        "--as-role", help="Role the actor (--as) acts in, when they hold several (--role "
                          "here gives the new person's roles).")] = None,
) -> None:
    """Register a person with the roles they act in (`--as NAME` then acts as them); an
    office person does."""
    from workflow.org.directory import add_person

    engine = make_engine()
    add_person(engine.db, name, roles=roles, unit=unit, title=title, rank=rank,
               sectors=sector or [], by=office_act(engine, actor, acting_role))
    console.print(f"{name} registered ({', '.join(roles)})")


@people_app.command("list")
@reports_errors
def people_list(as_json: JsonOption = False) -> None:
    """Registered people."""
    from workflow.org.directory import people
    from workflow.org.ranks import rank_label

    rows = [{"name": p.name, "title": p.title, "rank": p.rank, "rank_label": rank_label(p.rank),
             "unit": p.unit, "roles": p.roles, "sectors": p.sectors}
            for p in people(Database(Settings.from_env().database_url))]
    if as_json:
        print_json(rows)
        return
    print_table("人员 people", ("name", "title", "rank", "unit", "roles", "sectors"),
                [(r["name"], r["title"] or "", r["rank_label"], r["unit"] or "",
                  ", ".join(r["roles"]), ", ".join(r["sectors"])) for r in rows])


plan_app = typer.Typer(help="Rectification plans (整改方案) and inspections (督察).",
                       no_args_is_help=True)


def _period(text: str | None) -> tuple[date, date] | None:
    if text is None:
        return None
    start, sep, end = text.partition("..")
    if not sep or not start.strip() or not end.strip():
        raise InputError(f"--period {text!r} must look like 2019-09-23..2019-10-30")
    first, last = parse_date(start.strip(), "--period"), parse_date(end.strip(), "--period")
    assert first is not None and last is not None
    return first, last


@plan_app.command("inspection")
@reports_errors
def plan_inspection(
    name: Annotated[str, typer.Argument(help="e.g. 安徽省第二生态环境保护督察组.")],
    level: Annotated[str, typer.Option(help="中央 (central) or 省级 (provincial).")],
    round_: Annotated[str | None, typer.Option("--round", help="轮次, e.g. 第二轮.")] = None,
    team: Annotated[str | None, typer.Option(help="督察组.")] = None,
    period: Annotated[str | None, typer.Option(help="督察时间, START..END.")] = None,
    feedback: Annotated[str | None, typer.Option(help="反馈日期, YYYY-MM-DD.")] = None,
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Register the inspection a plan answers (an office person does)."""
    from workflow.org.plans import add_inspection

    engine = make_engine()
    add_inspection(engine.db, name, by=office_act(engine, actor, role), level=level,
                   round=round_, team=team, period=_period(period),
                   feedback_on=parse_date(feedback, "--feedback"))
    console.print(f"inspection {name} registered")


@plan_app.command("add")
@reports_errors
def plan_add(
    name: Annotated[str, typer.Argument(help="整改方案 name.")],
    inspection: Annotated[str | None, typer.Option(help="The inspection it answers.")] = None,
    issued: Annotated[str | None, typer.Option(help="印发日期, YYYY-MM-DD.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="问题类别 (repeatable); issues of "
                                                       "the plan must name one.")] = None,
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Register a plan and its categories (an office person does)."""
    from workflow.org.plans import add_plan

    engine = make_engine()
    add_plan(engine.db, name, by=office_act(engine, actor, role), inspection=inspection,
             issued_on=parse_date(issued, "--issued"), categories=category or [])
    console.print(f"plan {name} registered")


@plan_app.command("list")
@reports_errors
def plan_list(as_json: JsonOption = False) -> None:
    """Registered plans with their inspections and categories."""
    from workflow.org.plans import LEVELS, inspections, plans

    db = Database(Settings.from_env().database_url)
    found = {i.name: i for i in inspections(db)}
    rows = []
    for p in plans(db):
        i = found.get(p.inspection or "")
        rows.append({"name": p.name, "inspection": p.inspection,
                     "level": LEVELS.get(i.level) if i else None,
                     "round": i.round if i else None,
                     "feedback_on": i.feedback_on.isoformat() if i and i.feedback_on else None,
                     "issued_on": p.issued_on.isoformat() if p.issued_on else None,
                     "categories": p.categories})
    if as_json:
        print_json(rows)
        return
    print_table("整改方案 plans", ("name", "inspection", "level", "feedback", "categories"),
                [(r["name"], r["inspection"] or "", r["level"] or "", r["feedback_on"] or "",
                  "、".join(r["categories"])) for r in rows])
