"""Instructions (批示) by a supervising leader on the issues of their sectors.

A leader instructs an issue they supervise: its ``leader`` is them, or its category is one
of the sectors (包保领域) they are registered for. The office may record an instruction too.
The instruction is appended to the issue's history and sent to the issue's units
(【领导批示】…).
"""

from __future__ import annotations

from sqlalchemy import select

from workflow.errors import ActionDeniedError, InputError, NotFoundError, OutOfScopeError
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.models import Issue, Person
from workflow.notify.contacts import Contacts
from workflow.notify.enqueue import Notice, enqueue
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
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        if row is None:
            raise NotFoundError(f"issue {issue_id} does not exist")
        new_hash = tx.record(issue_id=issue_id, old_version=row.version,
                              prev_hash=row.head_hash, now=now, due=Due.of(row),
                              event=EventDraft(actor.name, actor.role, "instruct", row.state,
                                               row.state, text.strip(), {}))
        enqueue(tx, contacts, Notice(
            template="instruction", kind="notice", level="instruction", issue_id=issue_id,
            timer_id=None, context={"instructed_by": actor.name, "text": text.strip(),
                                    "title": row.title},
            recipients=tuple(sorted(row.units())), key=f"instruct:{issue_id}:{new_hash[:16]}"),
            now=now, settings=engine.settings)
