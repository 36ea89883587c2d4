"""一键催办: the office chases the units of issues it picked on the ledger.

Each issue's responsible unit (责任单位: its unit, else its lead unit) is sent a chase notice
(催办通知) through the outbox, and the issue's history records the chase (``chase``, with
the office person as actor), both in the issue's own transaction. A chase is once a day per
issue: the notice's dedupe key names the issue and the Asia/Shanghai day, so a second chase
the same day queues nothing and records nothing, and the answer says so. A unit without a
contact is still sent the notice (on the log channel, as every notice to a name without
contacts is), and the answer names it, so the office can enter its contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from workflow.clock import local
from workflow.errors import ActionDeniedError, InputError, NotFoundError
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.models import Issue
from workflow.notify.contacts import Contacts
from workflow.notify.enqueue import Notice, enqueue
from workflow.notify.render import issue_link
from workflow.org.actors import Actor

CHASE_TRIGGER = "chase"
CHASE_ROLES = ("office",)
CHASE_MAX = 500  # issues in one chase


@dataclass
class ChaseReport:
    """What a chase did: the issues chased now, those chased already today (nothing sent
    again), those without a unit to chase (nothing sent), and the units chased that have no
    contact (reached on the log channel only)."""

    chased: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    no_unit: list[int] = field(default_factory=list)
    no_contact: list[str] = field(default_factory=list)


def chase(engine: Engine, issue_ids: Sequence[int], *, actor: Actor) -> ChaseReport:
    """Chase the responsible unit of each of ``issue_ids`` (the office only), each issue in
    its own transaction.

    Raises:
        ActionDeniedError: the actor is not the office.
        InputError: more than ``CHASE_MAX`` issues at once.
        NotFoundError: an id names no issue (nothing is chased).
    """
    if actor.role not in CHASE_ROLES:
        raise ActionDeniedError(action="chase units (一键催办)", role=actor.role,
                                roles=CHASE_ROLES)
    ids = list(dict.fromkeys(issue_ids))
    if len(ids) > CHASE_MAX:
        raise InputError(f"at most {CHASE_MAX} issues may be chased at once; got {len(ids)}")
    with engine.db.session() as session:
        known = set(session.scalars(select(Issue.id).where(Issue.id.in_(ids))))
    if missing := [i for i in ids if i not in known]:
        raise NotFoundError(f"issue(s) {', '.join(map(str, missing))} do not exist; "
                            "nothing was chased")
    report = ChaseReport()
    contacts = Contacts(engine.db)
    for issue_id in ids:
        now = engine.clock.now()
        day = local(now).date().isoformat()
        with engine.transaction() as tx:
            row = tx.read_issue(issue_id)
            if row is None:
                raise NotFoundError(f"issue {issue_id} does not exist")
            unit = row.unit or row.lead_unit
            if not unit:
                report.no_unit.append(issue_id)
                continue
            queued = enqueue(tx, contacts, Notice(
                template="chase", kind="notice", level="chase", issue_id=issue_id,
                timer_id=None, context={"title": row.title, "number": row.number,
                                        "unit": unit, "deadline": row.deadline_at,
                                        "chased_by": actor.name,
                                        "link": issue_link(issue_id, engine.settings.base_url)},
                recipients=(unit,), key=f"chase:{issue_id}:{day}"),
                now=now, settings=engine.settings)
            if not queued:
                report.already.append(issue_id)
                continue
            tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                      now=now, due=Due.of(row), event=EventDraft(
                          actor.name, actor.role, CHASE_TRIGGER, row.state, row.state, None,
                          {"units": [unit], "day": day}, os_user=actor.os_user))
            report.chased.append(issue_id)
            if all(contact_id is None for *_, contact_id in contacts.of(unit)) and \
                    unit not in report.no_contact:
                report.no_contact.append(unit)
    return report
