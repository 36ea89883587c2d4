"""Instructions (批示) by a supervising leader on the issues of their sectors.

A leader instructs an issue they supervise: its ``leader`` is them, or its category is one
of the sectors (包保领域) they are registered for. The office may record an instruction too.
The instruction is appended to the issue's history and sent to the issue's units
(【领导批示】…).
"""

from __future__ import annotations

from workflow.errors import InputError, NotFoundError
from workflow.issues import policy
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.models import Issue
from workflow.notify.contacts import Contacts
from workflow.notify.enqueue import Notice, enqueue
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
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        if row is None:
            raise NotFoundError(f"issue {issue_id} does not exist")
        new_hash = tx.record(issue_id=issue_id, old_version=row.version,
                              prev_hash=row.head_hash, now=now, due=Due.of(row),
                              event=EventDraft(actor.name, actor.role, "instruct", row.state,
                                               row.state, text.strip(), {}, os_user=actor.os_user))
        enqueue(tx, contacts, Notice(
            template="instruction", kind="notice", level="instruction", issue_id=issue_id,
            timer_id=None, context={"instructed_by": actor.name, "text": text.strip(),
                                    "title": row.title},
            recipients=tuple(sorted(row.units())), key=f"instruct:{issue_id}:{new_hash[:16]}"),
            now=now, settings=engine.settings)
