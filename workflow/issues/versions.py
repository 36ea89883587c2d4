"""Moving running issues from one definition version to another
(``rectify definitions migrate --from rectification@1 --to rectification@2``).

An issue moves when its current state exists in the target version and its escalation level
(if it reached one) is on the target's ladder. It keeps its state, deadline and history; its
pending reminder and escalation timers are planned again from the same deadline under the
target's rules (milestones are kept), and a ``migrate`` event in its history names both
versions. An issue whose step (e.g. 公示中) does not exist in the target state starts at that
state's first step (an issue awaiting acceptance under a version without steps starts at
待现场核查 under one with them). Issues in a terminal state stay where they are. Issues
that cannot move are listed with the reason, and nothing is written for them; a dry run
writes nothing at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from workflow.errors import ConflictError, InputError
from workflow.issues import policy
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.models import Issue
from workflow.org.actors import Actor
from workflow.spec.machine import CompiledDefinition
from workflow.spec.timers import plan_timers

REF_PATTERN = re.compile(r"^(?P<id>[a-z][a-z0-9_]*)@(?P<version>[1-9][0-9]*)$")


def parse_ref(text: str, option: str) -> tuple[str, int]:
    """``rectification@2`` → ``("rectification", 2)``.

    Raises:
        InputError: the text is not ``ID@VERSION``.
    """
    match = REF_PATTERN.match(text.strip())
    if not match:
        raise InputError(f"{option} {text!r} must look like ID@VERSION, e.g. rectification@2")
    return match["id"], int(match["version"])


@dataclass
class MigrationReport:
    """What a migration did (or, in a dry run, would do)."""

    source: str
    target: str
    dry_run: bool
    moved: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    kept: int = 0  # issues in a terminal state, left on the source version

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "dry_run": self.dry_run,
                "moved": self.moved, "refused": self.refused, "terminal_kept": self.kept}


def _obstacle(issue: Issue, target: CompiledDefinition) -> str | None:
    if issue.state not in target.states:
        return (f"state '{issue.state}' does not exist in {target.definition.ref} (states: "
                f"{', '.join(target.states)})")
    level = issue.escalation_level
    if level and target.level_rank(level) < 0:
        return (f"its escalation level '{level}' is not on {target.definition.ref}'s ladder "
                f"({', '.join(lv.key for lv in target.definition.notices.escalation)})")
    return None


def migrate(engine: Engine, source: tuple[str, int], target: tuple[str, int], *,
            actor: Actor, dry_run: bool = False) -> MigrationReport:
    """Move the running issues pinned to ``source`` onto ``target``.

    Raises:
        ActionDeniedError: the role is not the office.
        InputError: source and target are the same version.
        NotFoundError: either version is not loaded.
    """
    policy.check_action(actor, policy.MIGRATE_VERSIONS)
    if source == target:
        raise InputError(f"--from and --to name the same version {source[0]}@{source[1]}")
    old = engine.registry.get(*source)
    new = engine.registry.get(*target)
    report = MigrationReport(old.definition.ref, new.definition.ref, dry_run)
    with engine.db.session() as session:
        issues = list(session.scalars(
            select(Issue).where(Issue.definition_id == source[0],
                                Issue.definition_version == source[1]).order_by(Issue.id)))
    for issue in issues:
        if old.states[issue.state].terminal:
            report.kept += 1
            continue
        reason = _obstacle(issue, new)
        if reason is not None:
            report.refused.append({"issue_id": issue.id, "state": issue.state,
                                   "reason": reason})
            continue
        if not dry_run:
            try:
                _move(engine, issue.id, issue.version, old, new, actor)
            except ConflictError as exc:
                report.refused.append({"issue_id": issue.id, "state": issue.state,
                                       "reason": f"it changed meanwhile ({exc}); run again"})
                continue
        report.moved.append({"issue_id": issue.id, "state": issue.state})
    return report


def _move(engine: Engine, issue_id: int, version: int, old: CompiledDefinition,
          new: CompiledDefinition, actor: Actor) -> None:
    now = engine.clock.now()
    with engine.transaction() as tx:
        row = tx.read_issue(issue_id)
        if row is None or row.version != version:
            raise ConflictError(issue_id=issue_id, expected=version)
        spec = new.states[row.state]
        due = Due.of(row)
        if row.due_at is not None:
            tx.cancel_timers(issue_id, now, with_milestones=False)
            if spec.completed or spec.terminal:
                due = Due(None, False, None, False)
            else:
                tx.schedule(issue_id=issue_id, state=row.state, deadline=row.due_at,
                            timers=plan_timers(new.timelines[spec.escalate], row.due_at,
                                               hour=engine.settings.reminder_hour),
                            now=now)
        payload: dict[str, Any] = {"from": old.definition.ref, "to": new.definition.ref}
        stage, stage_until = row.stage, row.stage_until
        if spec.stage(row.stage) is None:  # the step is unknown there: start at the first
            first = spec.stages[0] if spec.stages else None
            stage = first.key if first else None
            stage_until = now + first.period if first and first.period else None
            if stage != row.stage:
                payload["stage"] = stage
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                   now=now, due=due, event=EventDraft(
                       actor.name, actor.role, "migrate", row.state, row.state, None, payload,
                       os_user=actor.os_user))
        tx.set_definition(issue_id, row.version + 1, new.definition.id,
                           new.definition.version)
        if (stage, stage_until) != (row.stage, row.stage_until):
            tx.set_stage(issue_id, stage, stage_until)
