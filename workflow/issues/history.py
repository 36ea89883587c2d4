"""The tamper-evident history: event hashing and chain verification.

Each issue's events form a chain: an event's ``hash`` is the sha256 of its canonical content
including ``prev_hash``, the hash of the issue's previous event (``GENESIS`` for the first).
Chains are per issue, so writers on different issues never wait on each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from workflow.db import Database
from workflow.models import Issue, IssueEvent

GENESIS = "0" * 64


def event_hash(*, issue_id: int, seq: int, at: datetime, actor: str, role: str, trigger: str,
               from_state: str | None, to_state: str, comment: str | None,
               payload: dict[str, Any], prev_hash: str) -> str:
    """The hash of one event; every stored column but ``id`` and ``hash`` is covered."""
    content = json.dumps(
        [issue_id, seq, at.isoformat(timespec="microseconds"), actor, role, trigger,
         from_state, to_state, comment, payload, prev_hash],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def stored_hash(event: IssueEvent) -> str:
    """Recompute the hash of a stored event from its columns."""
    return event_hash(issue_id=event.issue_id, seq=event.seq, at=event.at, actor=event.actor,
                      role=event.role, trigger=event.trigger, from_state=event.from_state,
                      to_state=event.to_state, comment=event.comment, payload=event.payload,
                      prev_hash=event.prev_hash)


@dataclass(frozen=True)
class ChainProblem:
    issue_id: int
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"issue {self.issue_id}" + (f" event #{self.seq}" if self.seq else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    issues: int
    events: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _chain_problem(issue: Issue, events: list[IssueEvent]) -> ChainProblem | None:
    prev_hash, prev_state = GENESIS, None
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            return ChainProblem(issue.id, expected_seq,
                                f"missing: the history jumps from #{expected_seq - 1} "
                                f"to #{event.seq}")
        if event.prev_hash != prev_hash:
            return ChainProblem(issue.id, event.seq,
                                "broken link: prev_hash does not match the previous event")
        if stored_hash(event) != event.hash:
            return ChainProblem(issue.id, event.seq,
                                "altered: its content no longer matches its hash")
        if event.from_state != prev_state:
            return ChainProblem(issue.id, event.seq,
                                f"starts from '{event.from_state}' but the previous event "
                                f"ended in '{prev_state}'")
        prev_hash, prev_state = event.hash, event.to_state
    last = len(events)
    if last != issue.version or prev_hash != issue.head_hash:
        return ChainProblem(issue.id, last + 1 if last < issue.version else None,
                            f"missing: the issue is at version {issue.version} but its history "
                            f"ends at #{last}")
    if prev_state != issue.state:
        return ChainProblem(issue.id, None, f"the issue is in state '{issue.state}' but its "
                                            f"history ends in '{prev_state}'")
    return None


def _issues_with_events(db: Database, issue_id: int | None) -> Iterator[
        tuple[Issue, list[IssueEvent]]]:
    with db.session() as session:
        issue_query = select(Issue).order_by(Issue.id)
        event_query = select(IssueEvent).order_by(IssueEvent.issue_id, IssueEvent.seq)
        if issue_id is not None:
            issue_query = issue_query.where(Issue.id == issue_id)
            event_query = event_query.where(IssueEvent.issue_id == issue_id)
        events = iter(session.execute(event_query.execution_options(yield_per=2000)).scalars())
        pending = next(events, None)
        for issue in session.execute(issue_query.execution_options(yield_per=2000)).scalars():
            chain: list[IssueEvent] = []
            while pending is not None and pending.issue_id <= issue.id:
                if pending.issue_id == issue.id:
                    chain.append(pending)
                pending = next(events, None)
            yield issue, chain


def verify(db: Database, issue_id: int | None = None) -> VerifyReport:
    """Walk every issue's chain (or one issue's) and report the first altered or missing event."""
    issues = events = 0
    for issue, chain in _issues_with_events(db, issue_id):
        issues += 1
        events += len(chain)
        problem = _chain_problem(issue, chain)
        if problem is not None:
            return VerifyReport(issues, events, problem)
    return VerifyReport(issues, events, None)
