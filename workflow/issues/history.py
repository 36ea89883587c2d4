"""The tamper-evident history: how an event is hashed, and replaying a chain's states.

Each issue's events form a chain: an event's ``hash`` covers its canonical content including
``prev_hash``, the hash of the issue's previous event (``GENESIS`` for the first). The hash
is an HMAC-SHA256 under the history key the event names in ``key_id`` (a secret kept outside
the database, see ``workflow.issues.keys``); events written before keying have no key id
and a plain sha256 of the same content. Chains are per issue, so writers on different issues
never wait on each other. ``workflow.issues.verification`` checks the chains.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workflow.issues.keys import HistoryKey, HistoryKeys
from workflow.models import IssueEvent

GENESIS = "0" * 64


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with the history: of an issue (at an event, or its row), or of the
    checkpoint log or the audit trail (``issue_id`` None)."""

    issue_id: int | None
    seq: int | None
    message: str
    subject: str = "checkpoints"  # what ``issue_id`` None is about: the log or the audit trail

    def __str__(self) -> str:
        if self.issue_id is None:
            return f"{self.subject}: {self.message}"
        where = f"issue {self.issue_id}" + (f" event #{self.seq}" if self.seq else "")
        return f"{where}: {self.message}"


def canonical_content(*, issue_id: int, seq: int, at: datetime, actor: str, role: str,
                      trigger: str, from_state: str | None, to_state: str, comment: str | None,
                      payload: dict[str, Any], prev_hash: str) -> bytes:
    """What an event's hash covers: every stored column but ``id``, ``hash`` and ``key_id``,
    as canonical JSON (unchanged since the first release, so old events still verify)."""
    return json.dumps(
        [issue_id, seq, at.isoformat(timespec="microseconds"), actor, role, trigger,
         from_state, to_state, comment, payload, prev_hash],
        ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def payload_json(payload: dict[str, Any]) -> str:
    """An event's payload as its hash covers it (canonical JSON): what the write path
    stores, so the payload is encoded once."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def hash_stored(*, issue_id: int, seq: int, at: datetime, actor: str, role: str,
                trigger: str, from_state: str | None, to_state: str, comment: str | None,
                payload_text: str, prev_hash: str, key: HistoryKey) -> str:
    """``event_hash`` of an event whose payload is given as ``payload_json(payload)``: the
    same bytes as ``canonical_content``, the payload encoded once for hash and column."""
    head = json.dumps([issue_id, seq, at.isoformat(timespec="microseconds"), actor, role,
                       trigger, from_state, to_state, comment],
                      ensure_ascii=False, separators=(",", ":"))
    # prev_hash is 64 hex digits (or GENESIS): its JSON is itself in quotes
    return key.digest(f'{head[:-1]},{payload_text},"{prev_hash}"]'.encode())


def event_hash(*, issue_id: int, seq: int, at: datetime, actor: str, role: str, trigger: str,
               from_state: str | None, to_state: str, comment: str | None,
               payload: dict[str, Any], prev_hash: str, key: HistoryKey | None) -> str:
    """The hash of one event: HMAC-SHA256 under ``key``, or plain sha256 without one (the
    events written before keying)."""
    content = canonical_content(issue_id=issue_id, seq=seq, at=at, actor=actor, role=role,
                                trigger=trigger, from_state=from_state, to_state=to_state,
                                comment=comment, payload=payload, prev_hash=prev_hash)
    return key.digest(content) if key is not None else hashlib.sha256(content).hexdigest()


def stored_hash(event: IssueEvent, keys: HistoryKeys) -> str | None:
    """Recompute the hash of a stored event from its columns; None when it names a key
    that is not among ``keys``."""
    key = None
    if event.key_id is not None:
        key = keys.get(event.key_id)
        if key is None:
            return None
    return event_hash(issue_id=event.issue_id, seq=event.seq, at=event.at, actor=event.actor,
                      role=event.role, trigger=event.trigger, from_state=event.from_state,
                      to_state=event.to_state, comment=event.comment, payload=event.payload,
                      prev_hash=event.prev_hash, key=key)
