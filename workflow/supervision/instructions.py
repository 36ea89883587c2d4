"""Instructions (批示) by a supervising leader on the issues of their sectors.

A leader instructs an issue they supervise: its ``leader`` is them, or its category is one
of the sectors (包保领域) they are registered for. The office may record an instruction too.
The instruction is appended to the issue's history and sent to the issue's units
(【领导批示】…).
"""

from __future__ import annotations

import os

from workflow.errors import InputError, NotFoundError
from workflow.issues import policy
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.issues.sweep import Contacts
from workflow.models import Issue
from workflow.notify.outbox import PENDING
from workflow.org.actors import Actor
from workflow.org.directory import sectors_of


def instruct(engine: Engine, issue_id: int, text: str, *, actor: Actor) -> None:
    """Record a leader's instruction on an issue and send it to the issue's units.

    Raises:
        ActionDeniedError: the role is neither leader nor office.
        OutOfScopeError: a leader instructing an issue outside their sectors.
        InputError: an empty instruction.
        NotFoundError: no such issue.
    """
    policy.check_action(actor, policy.INSTRUCT)
    if not text.strip():
        raise InputError("an instruction (批示) needs its text")
    with engine.db.session() as session:
        issue = session.get(Issue, issue_id)
    if issue is None:
        raise NotFoundError(f"issue {issue_id} does not exist")
    policy.check_act_scope(actor, issue, issue_id=issue_id,
                           action="give instructions (批示) on it",
                           sectors=sectors_of(engine.db, actor))
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
                                               row.state, text.strip(), {}))
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
