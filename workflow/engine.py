"""The engine's use-cases: create an issue and fire a trigger, each in ONE transaction.

``fire`` checks the role, lets the shared machine run the guards, then does a guarded
``UPDATE … WHERE id=? AND version=?`` (0 rows means someone else won: ``ConflictError``) and
appends the hash-chained history event. Nothing is written when any check fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from workflow.clock import SHANGHAI, Clock, SystemClock, to_utc
from workflow.db import Database
from workflow.errors import (
    ConflictError,
    IllegalTriggerError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from workflow.evidence import EvidenceRef, EvidenceStore
from workflow.history import GENESIS, event_hash
from workflow.machine import FireContext
from workflow.registry import Registry
from workflow.statements import WriteStatements

logger = logging.getLogger(__name__)

CREATE_TRIGGER = "create"
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class Actor:
    """Who acts, and in which role (office, unit, acceptor, leader, discipline, public)."""

    name: str
    role: str


@dataclass(frozen=True)
class NewIssue:
    """The facts of a new rectification item (the columns of the ledger)."""

    title: str
    plan: str | None = None
    number: str | None = None
    category: str | None = None
    target: str | None = None
    measures: str | None = None
    leader: str | None = None
    lead_unit: str | None = None
    unit: str | None = None
    deadline: date | None = None
    long_term: bool = False


@dataclass(frozen=True)
class FireResult:
    issue_id: int
    trigger: str
    from_state: str
    to_state: str
    version: int
    event_hash: str


def deadline_instant(day: date) -> datetime:
    """A 整改时限 date means the end of that day in Asia/Shanghai; stored as UTC."""
    return to_utc(datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI))


class Engine:
    """Moves issues through their definitions.

    Args:
        db: the database.
        evidence: where evidence files are stored.
        clock: source of the current time (inject a ``FrozenClock`` in tests).
        registry: compiled-definition cache; one is made when not given.
    """

    def __init__(self, db: Database, evidence: EvidenceStore, *, clock: Clock | None = None,
                 registry: Registry | None = None):
        self.db = db
        self.evidence = evidence
        self.clock = clock or SystemClock()
        self.registry = registry or Registry(db)
        self._sql = WriteStatements(db)

    def create_issue(self, new: NewIssue, *, actor: Actor, definition: str = "rectification",
                     version: int | None = None, comment: str | None = None) -> int:
        """Create an issue in the definition's initial state, pinned to that definition version.

        Returns:
            the new issue's id.
        """
        if not new.title.strip():
            raise InputError("an issue needs a title (反馈问题); got an empty one")
        if new.long_term and new.deadline is not None:
            raise InputError("a long-term item (长期坚持) has no deadline; give one or the other")
        version = version or self.registry.latest_version(definition)
        compiled = self.registry.get(definition, version)
        initial = compiled.definition.initial
        now = self.clock.now()
        sql = self._sql
        deadline_at = deadline_instant(new.deadline) if new.deadline else None
        with sql.transaction() as cursor:
            cursor.execute(sql.insert_issue, {
                "plan": new.plan, "number": new.number, "category": new.category,
                "title": new.title, "target": new.target, "measures": new.measures,
                "leader": new.leader, "lead_unit": new.lead_unit, "unit": new.unit,
                "deadline_at": sql.time(deadline_at) if deadline_at else None,
                "long_term": new.long_term, "definition_id": definition,
                "definition_version": version, "state": initial, "version": 0,
                "head_hash": GENESIS, "created_at": sql.time(now), "updated_at": sql.time(now),
                "due_at": None, "due_provisional": False, "escalation_level": None,
                "key_supervision": False})
            issue_id = cursor.fetchone()[0]
            self._append(cursor, issue_id=issue_id, old_version=0, prev_hash=GENESIS, now=now,
                         actor=actor, trigger=CREATE_TRIGGER, from_state=None, to_state=initial,
                         comment=comment, payload={"definition": compiled.definition.ref})
        logger.info("issue %s created in %s by %s", issue_id, initial, actor.name)
        return issue_id

    def fire(self, issue_id: int, trigger: str, *, actor: Actor, comment: str | None = None,
             evidence: Iterable[EvidenceRef | str] = (), checklist: Mapping[str, Any] | None = None,
             fields: Mapping[str, Any] | None = None,
             expected_version: int | None = None) -> FireResult:
        """Fire ``trigger`` on an issue in one transaction.

        Args:
            issue_id: the issue.
            trigger: a trigger of the issue's definition version.
            actor: who fires it; the role must be allowed on the transition.
            comment: free text; required where the transition says so.
            evidence: files (paths, stored content-addressed) or ``EvidenceRef`` already stored.
            checklist: item key → note (or ``True``) for the transition's checklist.
            fields: values for the transition's declared fields.
            expected_version: the version the caller last saw; a different one is a conflict.

        Raises:
            NotFoundError, IllegalTriggerError, PermissionDeniedError, RequirementError,
            ConflictError: and nothing is written.
        """
        refs = self.evidence.resolve(evidence)
        now = self.clock.now()
        sql = self._sql
        with sql.transaction() as cursor:
            cursor.execute(sql.select_for_fire, {"issue_id": issue_id})
            row = cursor.fetchone()
            if row is None:
                raise NotFoundError(f"issue {issue_id} does not exist")
            state, version, head_hash, definition_id, definition_version = row
            if expected_version is not None and version != expected_version:
                raise ConflictError(issue_id=issue_id, expected=expected_version, actual=version)
            compiled = self.registry.get(definition_id, definition_version)
            roles = compiled.definition.roles
            if actor.role not in roles:
                raise InputError(f"unknown role '{actor.role}'; roles of "
                                 f"{compiled.definition.ref}: {', '.join(roles)}")
            spec = compiled.transition(state, trigger)
            if spec is None:
                raise IllegalTriggerError(issue_id=issue_id, trigger=trigger, state=state,
                                          role=actor.role,
                                          allowed=compiled.allowed_triggers(state, actor.role))
            if actor.role not in spec.roles:
                raise PermissionDeniedError(issue_id=issue_id, trigger=trigger, role=actor.role,
                                            roles=spec.roles,
                                            allowed=compiled.allowed_triggers(state, actor.role))
            context = FireContext(issue_id=issue_id, state=state, comment=comment,
                                  evidence=refs, checklist=checklist, fields=fields or {})
            to_state = compiled.run(context, trigger)
            payload: dict[str, Any] = {}
            if refs:
                payload["evidence"] = [ref.as_dict() for ref in refs]
            if checklist:
                payload["checklist"] = {key: (True if value is True else str(value))
                                        for key, value in checklist.items()}
            if context.accepted_fields:
                payload["fields"] = context.accepted_fields
            new_hash = self._append(cursor, issue_id=issue_id, old_version=version,
                                    prev_hash=head_hash, now=now, actor=actor, trigger=trigger,
                                    from_state=state, to_state=to_state, comment=comment,
                                    payload=payload)
            for name, field in spec.requires.fields.items():
                if field.sets == "deadline":
                    new_day = date.fromisoformat(context.accepted_fields[name])
                    cursor.execute(sql.set_deadline, {
                        "issue_id": issue_id, "new_deadline": sql.time(deadline_instant(new_day))})
        return FireResult(issue_id, trigger, state, to_state, version + 1, new_hash)

    def _append(self, cursor: Any, *, issue_id: int, old_version: int, prev_hash: str,
                now: datetime, actor: Actor, trigger: str, from_state: str | None, to_state: str,
                comment: str | None, payload: dict[str, Any]) -> str:
        """Move the issue to ``to_state`` under the version guard and append its event."""
        seq = old_version + 1
        new_hash = event_hash(issue_id=issue_id, seq=seq, at=now, actor=actor.name,
                              role=actor.role, trigger=trigger, from_state=from_state,
                              to_state=to_state, comment=comment, payload=payload,
                              prev_hash=prev_hash)
        sql = self._sql
        at = sql.time(now)
        cursor.execute(sql.guarded_update, {
            "issue_id": issue_id, "old_version": old_version, "new_state": to_state,
            "new_version": seq, "new_hash": new_hash, "now": at})
        if cursor.rowcount != 1:
            raise ConflictError(issue_id=issue_id, expected=old_version)
        cursor.execute(sql.insert_event, {
            "issue_id": issue_id, "seq": seq, "at": at, "actor": actor.name, "role": actor.role,
            "trigger": trigger, "from_state": from_state, "to_state": to_state,
            "comment": comment, "payload": sql.json(payload), "prev_hash": prev_hash,
            "hash": new_hash})
        return new_hash
