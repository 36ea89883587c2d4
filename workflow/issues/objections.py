"""Objections from the public during 公示 (public notice): which step of a definition takes
them, which issues are at it now, receiving one (the definition's objection trigger fired by a
public actor named after the ticket, and the ticket's row, in one transaction) and what a
ticket's sender may read back.

The step is the definition's, not a name written here: the step a transition the public role
may fire starts from (``stage: {from: public_notice, …}`` on ``object`` in
definitions/rectification.yaml).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select

from workflow.clock import local
from workflow.db import Database
from workflow.errors import InputError, NotFoundError
from workflow.issues import policy
from workflow.issues.engine import Engine
from workflow.issues.transaction import IssueTx
from workflow.models import DefinitionRecord, Issue, IssueEvent, PublicObjection
from workflow.org.actors import Actor
from workflow.spec.machine import CompiledDefinition
from workflow.spec.registry import Registry

TEXT_MIN, TEXT_MAX = 5, 2000
CONTACT_MAX = 200
RECEIVED = "received"
# Crockford's base32: no I, L, O or U, so a ticket read aloud or copied by hand survives.
TICKET_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TICKET_RANDOM = 10  # 50 random bits after the two-digit year
TICKET_MAX = 40
TICKET_PATTERN = re.compile(rf"^\d{{2}}[{TICKET_ALPHABET}]{{{TICKET_RANDOM}}}$")


class NotAtNoticeError(InputError):
    """The issue is not at the step that takes objections now."""


@dataclass(frozen=True)
class NoticeStep:
    """Where a definition takes objections from the public: a state, its step, and the
    trigger that sends the objection."""

    state: str
    stage: str
    trigger: str
    label_zh: str
    label_en: str


def notice_steps(compiled: CompiledDefinition) -> list[NoticeStep]:
    """The steps of ``compiled`` at which the public may object: every source step of a
    transition whose roles include the public role."""
    found = []
    for spec in compiled.definition.transitions:
        if policy.PUBLIC_ROLE not in spec.roles or spec.stage is None:
            continue
        for state in spec.source:
            for key in spec.stage.source:
                stage = compiled.states[state].stage(key)
                found.append(NoticeStep(state, key, spec.trigger,
                                        stage.label_zh if stage else key,
                                        stage.label_en if stage else key))
    return found


def notice_step(registry: Registry, issue: Issue) -> NoticeStep | None:
    """The step the issue is at if it is one that takes objections now (and the issue is
    disclosed at all), else None."""
    if not policy.is_disclosed(issue):
        return None
    compiled = registry.get(issue.definition_id, issue.definition_version)
    return next((step for step in notice_steps(compiled)
                 if (step.state, step.stage) == (issue.state, issue.stage)), None)


def at_notice(db: Database, registry: Registry) -> list[Issue]:
    """The disclosed issues at a step that takes objections now (公示中), in id order."""
    with db.session() as session:
        refs = session.execute(select(DefinitionRecord.id, DefinitionRecord.version)).all()
    clauses = [and_(Issue.definition_id == definition_id, Issue.definition_version == version,
                    Issue.state == step.state, Issue.stage == step.stage)
               for definition_id, version in refs
               for step in notice_steps(registry.get(definition_id, version))]
    with db.session() as session:
        found = session.scalars(select(Issue).where(or_(*clauses) if clauses else false())
                                .order_by(Issue.id))
        return [issue for issue in found if policy.is_disclosed(issue)]


def address_hash(address: str | None) -> str:
    """The sha256 of a sender's address: what the rate limit counts; the address itself is
    never stored."""
    return hashlib.sha256((address or "").encode()).hexdigest()


def sent_since(db: Database, hashed: str, since: datetime) -> list[datetime]:
    """When the objections from one (hashed) address after ``since`` were received, oldest
    first."""
    with db.session() as session:
        return list(session.scalars(
            select(PublicObjection.created_at)
            .where(PublicObjection.address_hash == hashed, PublicObjection.created_at > since)
            .order_by(PublicObjection.created_at)))


def new_ticket(now: datetime) -> str:
    """A ticket number: the two-digit year (Asia/Shanghai) and ten random base32 characters,
    e.g. ``26K7QH3M9TXA``; unguessable, never sequential."""
    return f"{local(now):%y}" + "".join(secrets.choice(TICKET_ALPHABET)
                                         for _ in range(TICKET_RANDOM))


# Crockford's reading of the letters it leaves out: I and L as 1, O as 0.
_MISREAD = str.maketrans("ILO", "110")


def normal_ticket(text: str) -> str:
    """A ticket as typed back (any case, spaces or dashes, I/L for 1, O for 0) in its stored
    form."""
    return "".join(text.split()).replace("-", "").upper().translate(_MISREAD)


def check_text(text: str, contact: str | None) -> tuple[str, str | None]:
    """The objection's text and contact, trimmed.

    Raises:
        InputError: text shorter than ``TEXT_MIN`` or longer than ``TEXT_MAX`` characters, or
            a contact longer than ``CONTACT_MAX``.
    """
    for name, value in (("text", text), ("contact", contact)):
        if value and "\x00" in value:
            raise InputError(f"the objection's {name} contains a NUL character (U+0000); "
                             "send plain text")
    text = text.strip()
    if not TEXT_MIN <= len(text) <= TEXT_MAX:
        raise InputError(f"the objection text has {len(text)} characters; it must have "
                         f"{TEXT_MIN} to {TEXT_MAX} (异议内容 {TEXT_MIN}–{TEXT_MAX} 字)")
    contact = (contact or "").strip() or None
    if contact is not None and len(contact) > CONTACT_MAX:
        raise InputError(f"the contact has {len(contact)} characters; at most {CONTACT_MAX} "
                         "are kept (联系方式)")
    return text, contact


@dataclass(frozen=True)
class Received:
    ticket: str
    issue_id: int
    event_seq: int
    created_at: datetime


def receive(engine: Engine, issue_id: int, *, text: str, contact: str | None,
            address: str | None) -> Received:
    """Receive an objection to an issue at its 公示: fire the definition's objection trigger
    as a public actor named after the ticket, with the text as the comment, and store the
    ticket's row in the same transaction (neither without the other).

    Raises:
        InputError: the text or contact is out of bounds.
        NotFoundError: no such disclosed issue.
        NotAtNoticeError: the issue is not at a step that takes objections; the message says
            when it would.
    """
    text, contact = check_text(text, contact)
    issue = _disclosed(engine.db, issue_id)
    step = notice_step(engine.registry, issue)
    if step is None:
        raise NotAtNoticeError(_closed_message(engine.registry, issue))
    now = engine.clock.now()
    ticket = new_ticket(now)
    actor = Actor(f"公众（异议 {ticket}）", policy.PUBLIC_ROLE)
    seqs: list[int] = []

    def store(tx: IssueTx, seq: int) -> None:
        tx.add_objection({"ticket": ticket, "issue_id": issue_id, "text": text,
                          "contact": contact, "address_hash": address_hash(address),
                          "status": RECEIVED, "event_seq": seq, "created_at": now})
        seqs.append(seq)

    engine.fire(issue_id, step.trigger, actor=actor, comment=text, along=store)
    return Received(ticket, issue_id, seqs[0], now)


def _disclosed(db: Database, issue_id: int) -> Issue:
    with db.session() as session:
        issue = session.get(Issue, issue_id)
    if issue is None or not policy.is_disclosed(issue):
        raise NotFoundError(f"issue {issue_id} does not exist")
    return issue


def _closed_message(registry: Registry, issue: Issue) -> str:
    compiled = registry.get(issue.definition_id, issue.definition_version)
    steps = notice_steps(compiled)
    state = compiled.states[issue.state]
    stage = state.stage(issue.stage)
    where = f"{state.label_zh} ({issue.state})" + (f", {stage.label_zh} ({stage.key})"
                                                  if stage else "")
    when = " or ".join(f"{s.label_zh} ({s.stage}) of {compiled.states[s.state].label_zh} "
                       f"({s.state})" for s in steps) or "never for this issue's process"
    return (f"issue {issue.id} takes no objections now: it is at {where}. Objections are "
            f"accepted only while an issue is at {when} (公示期内方可提出异议)")


def ticket_view(db: Database, registry: Registry, ticket: str) -> dict[str, Any]:
    """What the sender of an objection may read back: its status, when it was received,
    the issue's id, number and title, and what the objection did (the step the issue went
    back to); never the address or the contact.

    Raises:
        NotFoundError: no such ticket.
    """
    wanted = normal_ticket(ticket)
    with db.session() as session:
        row = session.scalar(select(PublicObjection).where(PublicObjection.ticket == wanted)) \
            if TICKET_PATTERN.match(wanted) else None
        if row is None:
            raise NotFoundError(f"no objection has ticket {ticket[:TICKET_MAX]!r}; check the "
                                "ticket number you were given (异议编号: two digits and ten "
                                "letters or digits, e.g. 26K7QH3M9TXA)")
        issue = session.get(Issue, row.issue_id)
        event = session.scalar(select(IssueEvent).where(IssueEvent.issue_id == row.issue_id,
                                                        IssueEvent.seq == row.event_seq))
    assert issue is not None and event is not None  # written together, never deleted
    state = registry.get(issue.definition_id, issue.definition_version).states[event.to_state]
    stage = state.stage((event.payload or {}).get("stage"))
    return {
        "ticket": row.ticket, "status": row.status,
        "created_at": local(row.created_at).isoformat(),
        "issue": {"id": issue.id, "number": issue.number, "title": issue.title},
        "outcome": {"state": event.to_state, "state_label_zh": state.label_zh,
                    "state_label_en": state.label_en,
                    "stage": stage.key if stage else None,
                    "stage_label_zh": stage.label_zh if stage else None,
                    "stage_label_en": stage.label_en if stage else None},
        "answer": row.answer,
        "answered_at": local(row.answered_at).isoformat() if row.answered_at else None,
    }
