"""The engine's use-cases: create an issue and fire a trigger, each in ONE transaction.

``fire`` checks the role, asks the access policy (``policy``) whether the actor may act on
the issue, lets the shared machine run the guards, then does a guarded
``UPDATE … WHERE id=? AND version=?`` (0 rows means someone else won: ``ConflictError``) and
appends the hash-chained history event. Nothing is written when any check fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select

from workflow.clock import SHANGHAI, Clock, SystemClock, local, to_utc
from workflow.config import Settings
from workflow.db import Database
from workflow.errors import (
    ConflictError,
    IllegalTriggerError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)
from workflow.issues import policy
from workflow.issues.evidence import EvidenceRef, EvidenceStore
from workflow.issues.history import GENESIS
from workflow.issues.keys import HistoryKeys
from workflow.issues.rows import (
    SYSTEM_ACTOR,
    SYSTEM_ROLE,
    Due,
    EventDraft,
    IssueRow,
    facts_payload,
)
from workflow.issues.transaction import (
    IssueTx,
    check_not_ahead,
    compile_statements,
    open_transaction,
)
from workflow.models import DatabaseInstance, Issue
from workflow.org.actors import Actor
from workflow.org.directory import OfficeAct, sectors_of
from workflow.org.plans import check_category
from workflow.spec.definitions import FROM_ISSUE
from workflow.spec.durations import Duration, parse_duration
from workflow.spec.machine import CompiledDefinition, FireContext
from workflow.spec.registry import Registry
from workflow.spec.timers import MILESTONE_SEP, plan_milestone_timers, plan_timers
from workflow.spec.workdays import WorkCalendar, load_calendar

logger = logging.getLogger(__name__)

CREATE_TRIGGER = "create"
RECOMPUTE_TRIGGER = "recompute_deadline"
MILESTONE_NAME_MAX = 40
END_OF_DAY = time(23, 59, 59)


def _stage_label(spec: Any, key: str | None) -> str:
    stage = spec.stage(key) if key else None
    return f"{stage.label_zh} ({stage.key})" if stage else "no step"


def _stage_problems(compiled: CompiledDefinition, spec: Any, row: IssueRow,
                    now: datetime) -> list[tuple[str, str]]:
    """Why the issue is not at a step of its state the transition may be fired from, in
    English and in Chinese."""
    rule = spec.stage
    if rule is None:
        return []
    state = compiled.states[row.state]
    if row.stage not in rule.source:
        wanted = " or ".join(_stage_label(state, key) for key in rule.source)
        wanted_zh = "或".join(_stage_label_zh(state, key) for key in rule.source)
        at, at_zh = _stage_label(state, row.stage), _stage_label_zh(state, row.stage)
        if row.stage_until is not None and now < row.stage_until:
            at += f" until {local(row.stage_until):%Y-%m-%d %H:%M}"
            at_zh += f"（至{local(row.stage_until):%Y-%m-%d %H:%M}）"
        return [(f"the issue must be at step {wanted}; it is at {at}",
                 f"须在“{wanted_zh}”环节办理，当前为“{at_zh}”")]
    if rule.after_period and row.stage_until is not None and now < row.stage_until:
        until = f"{local(row.stage_until):%Y-%m-%d %H:%M}"
        return [(f"step {_stage_label(state, row.stage)} runs until {until}; wait until it "
                 "is over", f"“{_stage_label_zh(state, row.stage)}”期至{until}，期满后方可办理")]
    return []


def _stage_label_zh(spec: Any, key: str | None) -> str:
    stage = spec.stage(key) if key else None
    return stage.label_zh if stage else "无环节"


def _next_stage(compiled: CompiledDefinition, spec: Any, row: IssueRow, to_state: str,
                now: datetime) -> tuple[str | None, datetime | None]:
    """The step the issue is at after the transition, and when that step's period ends."""
    if to_state != row.state:
        stages = compiled.states[to_state].stages
        stage = stages[0] if stages else None
    elif spec.stage is not None and spec.stage.dest is not None:
        stage = compiled.states[to_state].stage(spec.stage.dest)
    else:
        return row.stage, row.stage_until
    if stage is None:
        return None, None
    return stage.key, (now + stage.period) if stage.period else None


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
    responsible_units: tuple[str, ...] = ()  # 责任单位 beyond ``unit`` (or all of them)
    cooperating_units: tuple[str, ...] = ()  # 配合单位
    acceptance_unit: str | None = None  # 牵头验收单位
    progress_note: str | None = None  # 整改进展 (the ledger's text)
    parent: int | None = None  # the issue this one is a sub-task of

    def all_responsible_units(self) -> list[str]:
        """``unit`` first, then the other responsible units, each once."""
        names = [self.unit, *self.responsible_units]
        return list(dict.fromkeys(n.strip() for n in names if n and n.strip()))


@dataclass(frozen=True)
class FireResult:
    issue_id: int
    trigger: str
    from_state: str
    to_state: str
    version: int
    event_hash: str


def holds_nul(value: Any) -> bool:
    """Whether text (or any text inside a mapping or list) holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(holds_nul(v) for v in value)
    return False


def _check_no_nul(values: Mapping[str, Any]) -> None:
    """Refuse text with a NUL character, which no database column can hold."""
    for name, value in values.items():
        if holds_nul(value):
            raise InputError(f"{name} contains a NUL character (U+0000), which cannot be "
                             "stored; remove it and try again")


def _existing(tx: IssueTx, issue_id: int) -> IssueRow:
    row = tx.read_issue(issue_id)
    if row is None:
        raise NotFoundError(f"issue {issue_id} does not exist")
    return row


def _check_milestone_role(actor: Actor, action: policy.Action) -> None:
    # An InputError, not the policy's ActionDeniedError: the CLI has always answered a
    # refused milestone with exit code 2.
    if not policy.may_take(actor, action):
        raise InputError(f"role '{actor.role}' may not {action.text}; roles allowed: "
                         f"{', '.join(action.roles)}")


def _subtask_numbers(parent: str | None, existing: int, count: int) -> list[str | None]:
    """序号 of new sub-tasks: numbered under the parent's (5-1, 5-2, …) after its
    ``existing`` ones; none when the parent has none."""
    if parent is None:
        return [None] * count
    return [f"{parent}-{existing + k}" for k in range(1, count + 1)]


def deadline_instant(day: date) -> datetime:
    """A 整改时限 date means the end of that day in Asia/Shanghai; stored as UTC."""
    return to_utc(datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI))


_REAL_CLOCK = SystemClock()


def is_training(db: Database) -> bool:
    """Whether the database was created for training (``rectify init --training``): only
    there may the clock be moved."""
    with db.session() as session:
        instance = session.get(DatabaseInstance, 1)
    return bool(instance and instance.training)


class Engine:
    """Moves issues through their definitions.

    Args:
        db: the database.
        evidence: where evidence files are stored.
        keys: the history keys; new events are hashed under the current one.
        clock: source of the current time (inject a ``FrozenClock`` in tests).
        registry: compiled-definition cache; one is made when not given.
        calendar: working-day calendar for state deadlines; the default one when not given.
        settings: what the engine was configured with (the office's name and the base URL
            its notices use); the defaults when not given.
    """

    def __init__(self, db: Database, evidence: EvidenceStore, *, keys: HistoryKeys,
                 clock: Clock | None = None, registry: Registry | None = None,
                 calendar: WorkCalendar | None = None, settings: Settings | None = None):
        self.db = db
        self.evidence = evidence
        self.keys = keys
        self.clock = clock or SystemClock()
        self.registry = registry or Registry(db)
        self.calendar = calendar or load_calendar()
        self.settings = settings or Settings()
        self._statements = compile_statements(db)
        self._training: bool | None = None  # read once, on the first write

    def transaction(self) -> AbstractContextManager[IssueTx]:
        """One write transaction: every write of the engine and of the domain around it
        goes through the ``IssueTx`` this yields, and commits or rolls back as one. Unless
        the database was created for training, the history it appends may not be dated
        after the real time at which it opened."""
        return open_transaction(self.db, self._statements, self.keys.current,
                                real_clock=self.real_clock())

    def real_clock(self) -> Clock | None:
        """The clock no history may be dated after: the system's, or None (any time) on a
        training database. The training flag is read once per engine."""
        if self._training is None:
            self._training = is_training(self.db)
        return None if self._training else _REAL_CLOCK

    def check_time(self, now: datetime) -> None:
        """Refuse to act at ``now`` when it is ahead of the real time on a database not
        created for training (the sweep checks before it claims anything).

        Raises:
            InputError: ``now`` is in the future there.
        """
        real = self.real_clock()
        check_not_ahead(now, real.now() if real else None)

    def record_clock_move(self, mover: Actor, command: str, at: datetime) -> None:
        """Put a training clock move (``issue fire --now``, ``outbox deliver --now``) on the
        audit trail, in a transaction of its own just before the command acts at ``at``
        (``sweep --now`` records its move in its claim's transaction instead).

        Raises:
            InputError: ``at`` is ahead of the real time on a database not for training.
        """
        self.check_time(at)
        with self.transaction() as tx:
            tx.append_audit(mover.audit("clock_moved", command, now=at.isoformat()),
                            at=max(at, self.clock.now()))

    def create_issue(self, new: NewIssue, *, actor: Actor, definition: str = "rectification",
                     version: int | None = None, comment: str | None = None) -> int:
        """Create an issue in the definition's initial state, pinned to that definition version.

        Returns:
            the new issue's id.
        """
        policy.check_action(actor, policy.CREATE_ISSUE)
        _check_no_nul(vars(new))
        if not new.title.strip():
            raise InputError("an issue needs a title (反馈问题); got an empty one")
        if new.long_term and new.deadline is not None:
            raise InputError("a long-term item (长期坚持) has no deadline; give one or the other")
        check_category(self.db, new.plan, new.category)
        self._check_number_free(new.plan, new.number)
        version = version or self.registry.latest_version(definition)
        compiled = self.registry.get(definition, version)
        with self.transaction() as tx:
            issue_id = self.insert_issue(tx, new, compiled, actor=actor, comment=comment,
                                          now=self.clock.now())
        logger.info("issue %s created in %s by %s", issue_id, compiled.definition.initial,
                    actor.name)
        return issue_id

    def _check_number_free(self, plan: str | None, number: str | None) -> None:
        if number is None:
            return
        with self.db.session() as session:
            taken = session.scalar(select(Issue.id).where(Issue.plan == plan,
                                                          Issue.number == number))
        if taken is not None:
            raise InputError(f"序号 {number!r} of plan {plan!r} is issue {taken} already; a "
                             "序号 is unique within its plan, give another --number")

    def insert_issue(self, tx: IssueTx, new: NewIssue, compiled: CompiledDefinition, *,
                      actor: Actor, comment: str | None, now: datetime, state: str | None = None,
                      trigger: str = CREATE_TRIGGER, extra: Mapping[str, Any] | None = None) -> int:
        """Insert the issue in the initial state (or ``state``: a ledger import enters issues
        where the ledger says they are) with its timers and first event."""
        definition = compiled.definition
        initial = state or definition.initial
        first = compiled.states[initial].stages[0] if compiled.states[initial].stages else None
        deadline_at = deadline_instant(new.deadline) if new.deadline else None
        units = new.all_responsible_units()
        values = {
            "plan": new.plan, "number": new.number, "category": new.category,
            "title": new.title, "target": new.target, "measures": new.measures,
            "leader": new.leader, "lead_unit": new.lead_unit,
            "unit": units[0] if units else None, "responsible_units": units,
            "cooperating_units": list(dict.fromkeys(
                u.strip() for u in new.cooperating_units if u.strip())),
            "acceptance_unit": new.acceptance_unit, "parent_id": new.parent,
            "deadline_at": deadline_at,
            "long_term": new.long_term, "definition_id": definition.id,
            "definition_version": definition.version, "state": initial, "version": 0,
            "head_hash": GENESIS, "created_at": now, "updated_at": now,
            "due_at": None, "due_provisional": False, "escalation_level": None,
            "key_supervision": False, "schedule_status": None,
            "accepted_by": None, "accepted_unit": None, "progress_note": new.progress_note,
            "stage": first.key if first else None,
            "stage_until": now + first.period if first and first.period else None}
        issue_id = tx.insert_issue(values)
        due = self.enter_state(tx, compiled, issue_id=issue_id, state=initial,
                          deadline_at=deadline_at, previous=None, now=now)
        payload = {"definition": definition.ref, **self._due_payload(due), **(extra or {}),
                   "facts": facts_payload(values)}
        if new.parent is not None:
            payload["parent"] = new.parent
        tx.record(issue_id=issue_id, old_version=0, prev_hash=GENESIS, now=now,
                   due=due, event=EventDraft(actor.name, actor.role, trigger, None,
                                             initial, comment, payload, os_user=actor.os_user))
        return issue_id

    def fire(self, issue_id: int, trigger: str, *, actor: Actor, comment: str | None = None,
             evidence: Iterable[EvidenceRef | str] = (), checklist: Mapping[str, Any] | None = None,
             fields: Mapping[str, Any] | None = None,
             expected_version: int | None = None,
             along: Callable[[IssueTx, int], None] | None = None) -> FireResult:
        """Fire ``trigger`` on an issue in one transaction.

        Args:
            issue_id: the issue.
            trigger: a trigger of the issue's definition version.
            actor: who fires it; the role must be allowed on the transition.
            comment: free text; required where the transition says so.
            evidence: files (paths, stored content-addressed) or ``EvidenceRef`` already stored.
            checklist: item key → its answer, ``是:NOTE`` (or ``yes:NOTE``; ``否`` refuses
                the transition) or ``{"answer": …, "note": …}``.
            fields: values for the transition's declared fields.
            expected_version: the version the caller last saw; a different one is a conflict.
            along: a write that stands or falls with the event (a public objection's
                ticket), called in the same transaction with the event's seq.

        Raises:
            NotFoundError, IllegalTriggerError, PermissionDeniedError, OutOfScopeError,
            RequirementError, ConflictError: and nothing is written.
        """
        _check_no_nul({"comment": comment, "checklist": checklist, "fields": fields})
        refs = self.evidence.resolve(evidence)
        sectors = sectors_of(self.db, actor)
        now = self.clock.now()
        with self.transaction() as tx:
            row = _existing(tx, issue_id)
            state, version = row.state, row.version
            if expected_version is not None and version != expected_version:
                raise ConflictError(issue_id=issue_id, expected=expected_version, actual=version)
            compiled = self.registry.get(row.definition_id, row.definition_version)
            roles = compiled.definition.roles
            if actor.role not in roles:
                raise InputError(f"unknown role '{actor.role}'; roles of "
                                 f"{compiled.definition.ref}: {', '.join(roles)}")
            spec = compiled.transition(state, trigger)
            if spec is None:
                raise IllegalTriggerError(issue_id=issue_id, trigger=trigger, state=state,
                                          role=actor.role,
                                          allowed=compiled.allowed_triggers(
                                              state, actor.role, stage=row.stage))
            if actor.role not in spec.roles:
                raise PermissionDeniedError(issue_id=issue_id, trigger=trigger, role=actor.role,
                                            roles=spec.roles,
                                            allowed=compiled.allowed_triggers(
                                              state, actor.role, stage=row.stage))
            policy.check_act_scope(actor, row, issue_id=issue_id, action=f"fire '{trigger}'",
                                   sectors=sectors)
            context = FireContext(issue_id=issue_id, state=state, comment=comment,
                                  evidence=refs, checklist=checklist, fields=fields or {},
                                  open_subtasks=self._open_subtasks(tx, issue_id)
                                  if spec.requires.subtasks_done else (),
                                  stage_problems=_stage_problems(compiled, spec, row, now))
            to_state = compiled.run(context, trigger)
            payload: dict[str, Any] = {}
            if refs:
                payload["evidence"] = [ref.as_dict() for ref in refs]
            if context.accepted_checklist:
                payload["checklist"] = context.accepted_checklist
            if context.accepted_fields:
                payload["fields"] = context.accepted_fields
            deadline_at = row.deadline_at
            for name, field in spec.requires.fields.items():
                if field.sets == "deadline":
                    deadline_at = deadline_instant(
                        date.fromisoformat(context.accepted_fields[name]))
                    tx.set_deadline(issue_id, deadline_at)
                    payload["facts"] = {"deadline_at": deadline_at.isoformat()}
                    if row.deadline_at is not None:
                        payload["previous_deadline"] = local(row.deadline_at).date().isoformat()
            due = self.enter_state(tx, compiled, issue_id=issue_id, state=to_state,
                              deadline_at=deadline_at, previous=row, now=now)
            payload.update(self._due_payload(due))
            if compiled.states[state].completed and not compiled.states[to_state].completed:
                payload["clearance_revoked"] = True  # 问题反弹的不销号: reopened on record
            stage, stage_until = _next_stage(compiled, spec, row, to_state, now)
            if (stage, stage_until) != (row.stage, row.stage_until):
                payload["stage"] = stage
                if stage_until is not None:
                    payload["stage_until"] = local(stage_until).isoformat()
            if spec.records_acceptor:
                accepted_unit = actor.unit or actor.name
                payload["accepted_by"] = {"person": actor.name, "unit": accepted_unit}
                tx.set_acceptor(issue_id, actor.name, accepted_unit)
            if spec.opens_proposal:
                tx.open_proposal(issue_id=issue_id, timer_id=None, now=now,
                                  reason=f"{spec.label_zh}：{comment or ''}".rstrip("："))
                payload["proposal"] = True
            new_hash = tx.record(issue_id=issue_id, old_version=version,
                                  prev_hash=row.head_hash, now=now, due=due,
                                  event=EventDraft(actor.name, actor.role, trigger, state,
                                                   to_state, comment, payload,
                                                   os_user=actor.os_user))
            if (stage, stage_until) != (row.stage, row.stage_until):
                tx.set_stage(issue_id, stage, stage_until)
            if along is not None:
                along(tx, version + 1)
        return FireResult(issue_id, trigger, state, to_state, version + 1, new_hash)

    def _open_subtasks(self, tx: IssueTx, issue_id: int) -> list[tuple[int, str | None]]:
        open_ones = []
        for child_id, unit, state, definition_id, version in tx.children(issue_id):
            spec = self.registry.get(definition_id, version).states[state]
            if not (spec.completed or spec.terminal):
                open_ones.append((child_id, unit))
        return open_ones

    def create_subtasks(self, issue_id: int, *, actor: Actor,
                        units: Sequence[str] | None = None) -> list[int]:
        """Split a multi-unit issue: one sub-task per cooperating unit (配合单位), on the same
        definition version and deadline; the parent's history lists them. A transition that
        requires ``subtasks_done`` waits until every sub-task is completed.

        Args:
            issue_id: the lead unit's issue.
            actor: the office, or the issue's own (lead or responsible) unit.
            units: the units to give sub-tasks; default every cooperating unit without one.

        Returns:
            the new sub-tasks' ids.

        Raises:
            ActionDeniedError: another role; OutOfScopeError: another unit's issue.
            InputError: no unit to split for, or a unit already with a sub-task.
        """
        policy.check_action(actor, policy.SPLIT_ISSUE)
        parent = self._issue(issue_id)
        sectors = sectors_of(self.db, actor)
        now = self.clock.now()
        with self.transaction() as tx:
            row = _existing(tx, issue_id)
            policy.check_act_scope(actor, row, issue_id=issue_id,
                                   action="split it into sub-tasks", sectors=sectors)
            taken = {unit for _, unit, *_ in tx.children(issue_id)}
            wanted = list(dict.fromkeys(units if units else (
                unit for unit in row.cooperating_units if unit not in taken)))
            if not wanted:
                raise InputError(f"issue {issue_id} names no cooperating unit (配合单位) to "
                                 "give a sub-task; give the units")
            dup = [unit for unit in wanted if unit in taken]
            if dup:
                raise InputError(f"issue {issue_id} has a sub-task for {', '.join(dup)} "
                                 "already")
            compiled = self.registry.get(row.definition_id, row.definition_version)
            lead = row.lead_unit or row.unit
            numbers = _subtask_numbers(parent.number, len(taken), len(wanted))
            created = [self.insert_issue(tx, NewIssue(
                title=f"{row.title}（{unit}配合任务）", plan=parent.plan, number=number,
                category=parent.category, target=parent.target, measures=parent.measures,
                leader=row.leader, lead_unit=lead, unit=unit,
                deadline=local(row.deadline_at).date() if row.deadline_at else None,
                long_term=parent.long_term, acceptance_unit=lead, parent=issue_id),
                compiled, actor=actor, comment=f"issue {issue_id} 的配合任务", now=now)
                for unit, number in zip(wanted, numbers, strict=True)]
            tx.record(issue_id=issue_id, old_version=row.version,
                       prev_hash=row.head_hash, now=now, due=Due.of(row), event=EventDraft(
                           actor.name, actor.role, "split", row.state, row.state, None,
                           {"subtasks": [{"issue_id": child, "unit": unit}
                                         for child, unit in zip(created, wanted, strict=True)]},
                                         os_user=actor.os_user))
        return created

    def _issue(self, issue_id: int) -> Issue:
        with self.db.session() as session:
            issue = session.get(Issue, issue_id)
        if issue is None:
            raise NotFoundError(f"issue {issue_id} does not exist")
        return issue

    def set_milestones(self, issue_id: int, stages: Sequence[tuple[str, Duration]], *,
                       actor: Actor, comment: str | None = None) -> list[tuple[str, date]]:
        """Plan the issue's stages backwards from its deadline (倒排工期) and record them as
        milestones (阶段性节点); a missed milestone turns the light yellow.

        Args:
            issue_id: the issue; it needs a deadline (整改时限).
            stages: (name, duration) in the order the stages are worked.
            actor: the office or the responsible unit.
            comment: why (e.g. the plan the dates come from).

        Returns:
            (name, due date) of each milestone, in Asia/Shanghai dates.

        Raises:
            InputError: no stages, a repeated name, a role that may not plan, no deadline, or
                stages that do not fit between today and the deadline.
        """
        names = [name for name, _ in stages]
        if not names or len(set(names)) != len(names) or not all(
                name.strip() and len(name) <= MILESTONE_NAME_MAX and MILESTONE_SEP not in name
                for name in names):
            raise InputError(f"milestones need at least one stage, each with its own name of 1 "
                             f"to {MILESTONE_NAME_MAX} characters without '{MILESTONE_SEP}'; "
                             f"got {names}")
        _check_milestone_role(actor, policy.PLAN_MILESTONES)
        now = self.clock.now()
        with self.transaction() as tx:
            row = _existing(tx, issue_id)
            if row.deadline_at is None:
                raise InputError(f"issue {issue_id} has no deadline (整改时限) to plan back from")
            plan = self.calendar.reverse_schedule(local(row.deadline_at).date(), list(stages),
                                                  start=local(now).date())
            planned = [(name, deadline_instant(day)) for name, day in plan]
            tx.replace_milestones(issue_id, planned)
            tx.cancel_milestones(issue_id, now)
            reminders = self.registry.get(row.definition_id, row.definition_version).timelines[
                False]
            for name, due in planned:
                tx.schedule(issue_id=issue_id, state=row.state, deadline=due,
                             timers=plan_milestone_timers(
                                 reminders, name, due, hour=self.settings.reminder_hour),
                             now=now)
            tx.record(issue_id=issue_id, old_version=row.version,
                       prev_hash=row.head_hash, now=now, due=Due.of(row), event=EventDraft(
                           actor.name, actor.role, "set_milestones", row.state, row.state,
                           comment, {"milestones": {name: day.isoformat()
                                                    for name, day in plan}}, os_user=actor.os_user))
        return plan

    def reach_milestone(self, issue_id: int, name: str, *, actor: Actor,
                        comment: str | None = None) -> None:
        """Record that a milestone was reached (its light no longer counts as missed).

        Raises:
            InputError: the role may not, or no open milestone has that name.
        """
        _check_milestone_role(actor, policy.REACH_MILESTONE)
        sectors = sectors_of(self.db, actor)
        now = self.clock.now()
        with self.transaction() as tx:
            row = _existing(tx, issue_id)
            policy.check_act_scope(actor, row, issue_id=issue_id,
                                   action=f"report milestone {name!r}", sectors=sectors)
            if not tx.reach_milestone(issue_id, name, now):
                raise InputError(f"issue {issue_id} has no open milestone named {name!r}")
            tx.cancel_milestones(issue_id, now, name)
            tx.record(issue_id=issue_id, old_version=row.version,
                       prev_hash=row.head_hash, now=now, due=Due.of(row), event=EventDraft(
                           actor.name, actor.role, "reach_milestone", row.state, row.state,
                           comment, {"milestone": name}, os_user=actor.os_user))

    def recompute_provisional_deadlines(self, *, actor: Actor) -> list[int]:
        """Recompute every provisional deadline with the calendar as it is now (after an office
        entered a new year's notice), in one transaction with its audit record: a moved
        deadline gets new timers, and either way the issue's history records the
        recomputation.

        Returns:
            the ids of the issues whose deadline or provisional mark changed.

        Raises:
            InputError: an empty directory. ActionDeniedError: ``actor`` is not the office.
        """
        with self.db.session() as session:
            OfficeAct(actor, self.keys.current).check(session, "recompute the calendar")
            ids = list(session.scalars(select(Issue.id).where(Issue.due_provisional.is_(True))
                                       .order_by(Issue.id)))
        now = self.clock.now()
        with self.transaction() as tx:
            changed = [issue_id for issue_id in ids if self._recompute(tx, issue_id, now)]
            tx.append_audit(actor.audit("calendar_recompute", "provisional deadlines",
                                        issues=changed), at=now)
        return changed

    def _recompute(self, tx: IssueTx, issue_id: int, now: datetime) -> bool:
        row = tx.read_issue(issue_id)
        if row is None or not row.due_provisional or row.due_at is None:
            return False
        compiled = self.registry.get(row.definition_id, row.definition_version)
        spec = compiled.states[row.state]
        if spec.deadline == FROM_ISSUE:
            due_at = row.due_at
            provisional = self.calendar.is_provisional(local(due_at).date())
        else:
            entered = tx.entered_at(issue_id, row.state, row.version)
            due_at, provisional = self.calendar.deadline_after(
                entered, parse_duration(spec.deadline))
        if (due_at, provisional) == (row.due_at, row.due_provisional):
            return False
        if due_at == row.due_at:
            due = Due(due_at, provisional, row.escalation_level, row.key_supervision)
        else:
            tx.cancel_timers(issue_id, now, with_milestones=False)
            tx.schedule(issue_id=issue_id, state=row.state, deadline=due_at,
                        timers=plan_timers(compiled.timelines[spec.escalate], due_at,
                                           hour=self.settings.reminder_hour),
                        now=now)
            due = Due(due_at, provisional, None, row.key_supervision)
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash, now=now,
                  due=due, event=EventDraft(
                      SYSTEM_ACTOR, SYSTEM_ROLE, RECOMPUTE_TRIGGER, row.state, row.state, None,
                      {"previous_due": local(row.due_at).isoformat(), **self._due_payload(due)}))
        logger.info("issue %s: deadline recomputed to %s (provisional: %s)", issue_id, due_at,
                    provisional)
        return True

    def enter_state(self, tx: IssueTx, compiled: CompiledDefinition, *, issue_id: int, state: str,
               deadline_at: datetime | None, previous: IssueRow | None, now: datetime) -> Due:
        """Cancel the timers of the state being left and schedule those of ``state``.

        Returns:
            the issue's deadline bookkeeping in the new state.
        """
        if previous is not None and previous.due_at is not None:
            tx.cancel_timers(issue_id, now, with_milestones=previous.state != state)
        spec = compiled.states[state]
        key_supervision = previous.key_supervision if previous and not spec.completed else False
        if spec.deadline is None or spec.completed or spec.terminal:
            return Due(None, False, None, key_supervision)
        if spec.deadline == FROM_ISSUE:
            if deadline_at is None:
                return Due(None, False, None, key_supervision)
            due_at, provisional = deadline_at, self.calendar.is_provisional(
                local(deadline_at).date())
        else:
            due_at, provisional = self.calendar.deadline_after(now, parse_duration(spec.deadline))
        tx.schedule(issue_id=issue_id, state=state, deadline=due_at,
                    timers=plan_timers(compiled.timelines[spec.escalate], due_at,
                                       hour=self.settings.reminder_hour),
                    now=now)
        return Due(due_at, provisional, None, key_supervision)

    @staticmethod
    def _due_payload(due: Due) -> dict[str, Any]:
        if due.at is None:
            return {}
        payload: dict[str, Any] = {"due": local(due.at).isoformat()}
        if due.provisional:
            payload["due_provisional"] = True
        return payload
