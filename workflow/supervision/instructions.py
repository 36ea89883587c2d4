"""Instructions (批示) by a supervising leader on the issues of their sectors.

A leader instructs an issue they supervise: its ``leader`` is them, or its category is one
of the sectors (包保领域) they are registered for. The office may record an instruction too.
The instruction is appended to the issue's history and sent to the issue's units
(【领导批示】…).
"""

from __future__ import annotations

import os

from sqlalchemy import select

from workflow.errors import ActionDeniedError, InputError, NotFoundError, OutOfScopeError
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.issues.sweep import Contacts
from workflow.models import Issue, Person
from workflow.notify.outbox import PENDING
from workflow.org.actors import Actor

INSTRUCTING_ROLES = ("leader", "office")


def instruct(engine: Engine, issue_id: int, text: str, *, actor: Actor) -> None:
    """Record a leader's instruction on an issue and send it to the issue's units.

    Raises:
        ActionDeniedError: the role is neither leader nor office.
        OutOfScopeError: a leader instructing an issue outside their sectors.
        InputError: an empty instruction.
        NotFoundError: no such issue.
    """
    if actor.role not in INSTRUCTING_ROLES:
        raise ActionDeniedError(action="give instructions (批示)", role=actor.role,
                                roles=INSTRUCTING_ROLES)
    if not text.strip():
        raise InputError("an instruction (批示) needs its text")
    with engine.db.session() as session:
        issue = session.get(Issue, issue_id)
        sectors = session.scalar(select(Person.sectors).where(Person.name == actor.name))
    if issue is None:
        raise NotFoundError(f"issue {issue_id} does not exist")
    if actor.role == "leader" and issue.leader != actor.name and \
            issue.category not in (sectors or []):
        raise OutOfScopeError(issue_id=issue_id, action="give instructions (批示) on it",
                              actor=actor.name, role="leader",
                              owners=[issue.leader or "no supervising leader"])
    now = engine.clock.now()
    contacts = Contacts(engine.db)
    office = os.environ.get("RECTIFY_OFFICE_NAME") or "整改办"
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        if row is None:
            raise NotFoundError(f"issue {issue_id} does not exist")
        new_hash = tx.record(issue_id=issue_id, old_version=row.version,
                              prev_hash=row.head_hash, now=now, due=Due.of(row),
                              event=EventDraft(actor.name, actor.role, "instruct", row.state,
                                               row.state, text.strip(), {}, os_user=actor.os_user))
        subject = f"【领导批示】{row.title[:40]}"
        body = (f"{actor.name}批示：\n\n{text.strip()}\n\n问题：{row.title}\n"
                f"请认真落实，并将落实情况报{office}。\n\n{office}\n")
        for unit in sorted(row.units()):
            for channel, address, _options in contacts.of(unit):
                tx.add_notification({
                    "dedupe_key": f"instruct:{issue_id}:{new_hash[:16]}:{unit}:{channel}:"
                                  f"{address}",
                    "issue_id": issue_id, "timer_id": None, "kind": "notice",
                    "level": "instruction", "recipient": unit, "channel": channel,
                    "address": address, "subject": subject, "body": body, "status": PENDING,
                    "attempts": 0, "next_attempt_at": now, "created_at": now})
