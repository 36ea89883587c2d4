"""`verify`: replays every history chain and says what is wrong with it.

For each issue, in (issue, seq) order: the links and the keyed hashes (an event without a
key id is accepted only before the chain's first keyed one: those predate keying), time
never going backwards, the legality of every event — its trigger allowed from the state and
step it was fired in, for its role, under the issue's definition version, its requirements
on record, a period-bound step (the 7-day 公示) not cut short, and each system event written
by the role the engine writes it as — then the issue's row against the replay (state, step,
definition, version, head, and the facts its events carry: deadline, units, leader,
category, plan, number…), and every evidence file an event names against the store.
With a checkpoint log it also proves every event up to each checkpoint unchanged and no
issue deleted (``workflow.issues.checkpoints``). A whole-database check walks the audit trail
of administrative changes too (``workflow.audit.verify_audit``): a record altered, removed,
inserted out of turn, or written by someone holding the database alone (plain sha256 after
keyed records) is reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from workflow.audit import verify_audit
from workflow.errors import InputError, NotFoundError
from workflow.issues.checkpoints import LogCheck
from workflow.issues.history import GENESIS, ChainProblem, stored_hash
from workflow.issues.keys import TrustFiles
from workflow.issues.rows import HISTORY_FACTS, SYSTEM_ACTOR, SYSTEM_ROLE
from workflow.models import Issue, IssueEvent
from workflow.spec.machine import CompiledDefinition

if TYPE_CHECKING:
    from workflow.issues.engine import Engine

CHUNK = 1 << 20
MAX_PROBLEMS = 200
CREATE, IMPORT, MIGRATE = "create", "import", "migrate"
# Events the engine writes outside the definitions' transitions, with the roles it writes
# them for (where each is refused otherwise: sweep and calendar → the system; monthly
# reports, instructions, chases (一键催办), accountability in workflow.supervision; split
# and milestones in the engine; migrate in issues.versions; import in documents.ledger).
# None of them moves the state, but an import.
SYSTEM_EVENTS: dict[str, tuple[str, ...]] = {
    "remind": (SYSTEM_ROLE,), "escalate": (SYSTEM_ROLE,), "skip": (SYSTEM_ROLE,),
    "recompute_deadline": (SYSTEM_ROLE,), "missing_report": (SYSTEM_ROLE,),
    "progress": ("unit", "office"), "instruct": ("leader", "office"),
    "split": ("office", "unit"), "set_milestones": ("office", "unit"),
    "reach_milestone": ("office", "unit"), "accountability": ("office", "discipline"),
    "dismiss_proposal": ("office",), "chase": ("office",), MIGRATE: ("office",),
    IMPORT: ("office",),
}
YES = ("是", "yes")
# Facts compared as times (the rest as they are).
TIME_FACTS = ("deadline_at",)


@dataclass
class VerifyReport:
    """What ``verify`` found.

    Attributes:
        issues, events: how many were walked.
        problems: everything wrong (at most ``MAX_PROBLEMS``; ``more`` counts the rest).
        unkeyed: events without a key id (plain sha256): they predate keying, and only a
            checkpoint taken since proves them.
        unchecked: what could not be checked, and why.
        evidence: evidence files checked against their hashes.
        checkpoints: checkpoints the chains were proved against (None: not asked).
        audit_records, unkeyed_audit: audit records walked (None: one issue was checked, not
            the trail), and those that predate keying.
    """

    issues: int = 0
    events: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    more: int = 0
    unkeyed: int = 0
    unchecked: list[str] = field(default_factory=list)
    evidence: int = 0
    checkpoints: int | None = None
    audit_records: int | None = None
    unkeyed_audit: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem(self) -> ChainProblem | None:
        """The first problem, or None."""
        return self.problems[0] if self.problems else None

    def add(self, problem: ChainProblem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "issues": self.issues, "events": self.events,
                "problem": str(self.problem) if self.problem else None,
                "problems": [str(p) for p in self.problems], "more_problems": self.more,
                "unkeyed_events": self.unkeyed, "unchecked": self.unchecked,
                "evidence_files": self.evidence, "checkpoints": self.checkpoints,
                "audit_records": self.audit_records, "unkeyed_audit_records": self.unkeyed_audit}


@dataclass
class Replay:
    """What an issue's events say about it, event by event."""

    compiled: CompiledDefinition
    state: str | None = None
    stage: str | None = None
    stage_until: datetime | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # only the facts on record
    facts_from_start: bool = False

    def enter_stage(self, key: str | None, at: datetime) -> None:
        spec = self.compiled.states[self.state].stage(key) if self.state and key else None
        self.stage = key
        self.stage_until = at + spec.period if spec is not None and spec.period else None


def _affirmed(answer: Any) -> bool:
    """A checklist item on record as affirmed: ``{"answer": "是", "note": …}``, or a note alone
    (how items were recorded before explicit answers)."""
    if isinstance(answer, dict):
        return answer.get("answer") in YES and bool(str(answer.get("note") or "").strip())
    return bool(str(answer or "").strip())


def _ref(text: Any) -> tuple[str, int] | None:
    name, sep, version = str(text or "").partition("@")
    return (name, int(version)) if sep and version.isdigit() else None


def _deadline_of(day: str) -> str:
    from workflow.issues.engine import deadline_instant

    return deadline_instant(date.fromisoformat(day)).isoformat()


class ChainCheck:
    """Replays one issue's chain against its definitions and its row.

    Args:
        engine: the engine (its registry, keys and evidence store).
        report: where problems and notes go.
        evidence_seen: sha256 → whether the stored file matched, shared across issues.
    """

    def __init__(self, engine: Engine, report: VerifyReport, evidence_seen: dict[str, str | None]):
        self.engine = engine
        self.report = report
        self.evidence_seen = evidence_seen
        self.head_of: dict[tuple[int, int], str] = {}
        self.unkeyed: dict[int, int] = {}
        self.no_facts: list[int] = []

    def run(self, issue: Issue, events: list[IssueEvent],
            wanted: set[tuple[int, int]]) -> None:
        for event in events:
            if (issue.id, event.seq) in wanted:
                self.head_of[(issue.id, event.seq)] = event.hash
        try:
            problem = self._walk(issue, events)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A hand-made event can hold anything; say so instead of stopping the check.
            problem = None, (f"cannot be replayed: an event holds what the engine never writes "
                             f"({type(exc).__name__}: {exc})")
        if problem is not None:
            self.report.add(ChainProblem(issue.id, problem[0], problem[1]))

    def _walk(self, issue: Issue, events: list[IssueEvent]) -> tuple[int | None, str] | None:
        """The first problem of the chain as (seq, message); the row's problems are added to
        the report directly (there may be several)."""
        if not events:
            return None, (f"no history: the engine writes an issue with its '{CREATE}' (or "
                          f"'{IMPORT}') event, and this one has none")
        prev_hash, prev_at, keyed = GENESIS, None, False
        replay: Replay | None = None
        for expected_seq, event in enumerate(events, start=1):
            if event.seq != expected_seq:
                return expected_seq, (f"missing: the history jumps from #{expected_seq - 1} "
                                      f"to #{event.seq}")
            if event.prev_hash != prev_hash:
                return event.seq, "broken link: prev_hash does not match the previous event"
            if event.key_id is None:
                if keyed:
                    return event.seq, ("forged: it has no key id (plain sha256, which anyone "
                                       "with the database can compute) after events hashed "
                                       "with the history key")
                self.report.unkeyed += 1
                self.unkeyed[issue.id] = event.seq
            else:
                keyed = True
            recomputed = stored_hash(event, self.engine.keys)
            if recomputed is None:
                return event.seq, (f"hashed with key {event.key_id}, which is not among the "
                                   f"keys here ({', '.join(self.engine.keys.ids)}); give the "
                                   "key file that holds it")
            if recomputed != event.hash:
                return event.seq, "altered: its content no longer matches its hash"
            if prev_at is not None and event.at < prev_at:
                return event.seq, (f"time goes backwards: at {event.at.isoformat()}, before "
                                   f"event #{event.seq - 1} at {prev_at.isoformat()}")
            if replay is None:
                replay = self._start(issue, event)
                if isinstance(replay, str):
                    return event.seq, replay
            else:
                illegal = self._step(replay, event)
                if illegal is not None:
                    return event.seq, illegal
            self._check_evidence(issue.id, event)
            prev_hash, prev_at = event.hash, event.at
        if len(events) != issue.version or prev_hash != issue.head_hash:
            return (len(events) + 1 if len(events) < issue.version else None,
                    f"missing: the issue is at version {issue.version} but its history ends "
                    f"at #{len(events)}")
        if replay is not None:
            self._compare_row(issue, events[0], replay)
        return None

    def _compiled(self, ref: tuple[str, int]) -> CompiledDefinition | str:
        try:
            return self.engine.registry.get(*ref)
        except (NotFoundError, InputError):
            return f"names definition {ref[0]}@{ref[1]}, which is not loaded"

    def _start(self, issue: Issue, event: IssueEvent) -> Replay | str:
        payload = event.payload or {}
        ref = _ref(payload.get("definition"))
        if ref is None:
            ref = (issue.definition_id, issue.definition_version)
            self.report.unchecked.append(f"issue {issue.id}: its first event names no "
                                         "definition; its row's was assumed")
        compiled = self._compiled(ref)
        if isinstance(compiled, str):
            return compiled
        definition = compiled.definition
        if event.from_state is not None or event.trigger not in (CREATE, IMPORT):
            return (f"illegal first event '{event.trigger}' from '{event.from_state}': a "
                    f"history starts with '{CREATE}' (or '{IMPORT}' from a ledger) from no state")
        if event.to_state not in compiled.states:
            return f"enters '{event.to_state}', which is no state of {definition.ref}"
        if event.trigger == CREATE and event.to_state != definition.initial:
            return (f"illegal: '{CREATE}' enters '{event.to_state}'; {definition.ref} starts "
                    f"in '{definition.initial}' (only a ledger import enters other states)")
        roles = SYSTEM_EVENTS[IMPORT] if event.trigger == IMPORT else tuple(definition.roles)
        if event.role not in roles:
            return (f"illegal: role '{event.role}' may not {event.trigger} an issue; roles "
                    f"allowed: {', '.join(roles)}")
        replay = Replay(compiled, state=event.to_state)
        stages = compiled.states[event.to_state].stages
        replay.enter_stage(stages[0].key if stages else None, event.at)
        facts = payload.get("facts")
        if isinstance(facts, dict):
            replay.facts = {key: facts[key] for key in HISTORY_FACTS if key in facts}
            replay.facts_from_start = True
        else:
            self.no_facts.append(issue.id)
        return replay

    def _step(self, replay: Replay, event: IssueEvent) -> str | None:
        payload = event.payload or {}
        if event.from_state != replay.state:
            return (f"starts from '{event.from_state}' but the previous event ended in "
                    f"'{replay.state}'")
        compiled = replay.compiled
        definition = compiled.definition
        if any(trigger == event.trigger for _, trigger in compiled.transitions):
            illegal = self._transition_problem(replay, event)
            if illegal is not None:
                return illegal
            spec = compiled.transition(event.from_state or "", event.trigger)
            for name, field_spec in spec.requires.fields.items() if spec else ():
                value = (payload.get("fields") or {}).get(name)
                if field_spec.sets == "deadline" and "facts" not in payload and value:
                    replay.facts["deadline_at"] = _deadline_of(str(value))
        elif event.trigger in SYSTEM_EVENTS:
            roles = SYSTEM_EVENTS[event.trigger]
            if event.role not in roles or (event.role == SYSTEM_ROLE
                                           and event.actor != SYSTEM_ACTOR):
                return (f"illegal: '{event.trigger}' by {event.actor} as '{event.role}'; "
                        f"the engine writes it only for role(s) {', '.join(roles)}")
            if event.trigger != IMPORT and event.to_state != event.from_state:
                return (f"illegal: '{event.trigger}' moves the issue from '{event.from_state}' "
                        f"to '{event.to_state}'; it never changes the state")
            if event.to_state not in compiled.states:
                return f"enters '{event.to_state}', which is no state of {definition.ref}"
            if event.trigger == IMPORT and "changed" in payload and "facts" not in payload:
                for key in payload.get("changed") or []:
                    replay.facts.pop(key, None)
        else:
            return (f"illegal: '{event.trigger}' is neither a trigger of {definition.ref} nor "
                    "an event the engine writes")
        if event.trigger == MIGRATE:
            target = _ref(payload.get("to"))
            new = self._compiled(target) if target else "names no definition it moved to"
            if isinstance(new, str):
                return new
            if replay.state not in new.states:
                return (f"illegal: '{MIGRATE}' to {new.definition.ref}, which has no state "
                        f"'{replay.state}'")
            replay.compiled = new
        moved = event.to_state != replay.state
        replay.state = event.to_state
        if "stage" in payload:
            replay.enter_stage(payload["stage"], event.at)
        elif moved:
            stages = replay.compiled.states[event.to_state].stages
            replay.enter_stage(stages[0].key if stages else None, event.at)
        facts = payload.get("facts")
        if isinstance(facts, dict):
            replay.facts.update({key: facts[key] for key in HISTORY_FACTS if key in facts})
        return None

    def _transition_problem(self, replay: Replay, event: IssueEvent) -> str | None:
        compiled = replay.compiled
        definition = compiled.definition
        state = replay.state or ""
        spec = compiled.transition(state, event.trigger)
        if spec is None:
            allowed = compiled.allowed_triggers(state, event.role, stage=replay.stage)
            return (f"illegal: '{event.trigger}' does not leave '{state}' under "
                    f"{definition.ref}; triggers allowed there for '{event.role}': "
                    f"{', '.join(allowed) or 'none'}")
        if event.role not in spec.roles:
            return (f"illegal: '{event.trigger}' fired by role '{event.role}'; roles allowed: "
                    f"{', '.join(spec.roles)}")
        if event.to_state != spec.dest:
            return (f"illegal: '{event.trigger}' entered '{event.to_state}'; under "
                    f"{definition.ref} it leads to '{spec.dest}'")
        if spec.stage is not None:
            if replay.stage not in spec.stage.source:
                return (f"illegal: '{event.trigger}' fired at step '{replay.stage}' of "
                        f"'{state}'; it is allowed only from step(s) "
                        f"{', '.join(spec.stage.source)}")
            if spec.stage.after_period and replay.stage_until is not None \
                    and event.at < replay.stage_until:
                return (f"illegal: step '{replay.stage}' cut short: '{event.trigger}' at "
                        f"{event.at.isoformat()}, but the step runs until "
                        f"{replay.stage_until.isoformat()}")
        missing = self._requirements_missing(definition, spec, event)
        if missing:
            return f"'{event.trigger}' without what it requires: {'; '.join(missing)}"
        return None

    @staticmethod
    def _requirements_missing(definition: Any, spec: Any, event: IssueEvent) -> list[str]:
        requires, payload = spec.requires, event.payload or {}
        missing = []
        if requires.comment and not (event.comment or "").strip():
            missing.append("a comment")
        given = len(payload.get("evidence") or [])
        if given < requires.evidence:
            missing.append(f"{requires.evidence} evidence file(s), {given} on record")
        if requires.checklist:
            notes = payload.get("checklist") or {}
            items = definition.checklists[requires.checklist].items
            unaffirmed = [item.key for item in items if not _affirmed(notes.get(item.key))]
            if unaffirmed:
                missing.append(f"checklist items {', '.join(unaffirmed)}")
        absent = [name for name in requires.fields if name not in (payload.get("fields") or {})]
        if absent:
            missing.append(f"field(s) {', '.join(absent)}")
        return missing

    def _check_evidence(self, issue_id: int, event: IssueEvent) -> None:
        for item in (event.payload or {}).get("evidence") or []:
            sha = str(item.get("sha256", "")) if isinstance(item, dict) else ""
            if sha not in self.evidence_seen:
                self.evidence_seen[sha] = self._evidence_problem(sha)
                self.report.evidence += 1
            problem = self.evidence_seen[sha]
            if problem is not None:
                name = item.get("name") if isinstance(item, dict) else None
                self.report.add(ChainProblem(issue_id, event.seq,
                                             f"evidence {name or sha[:16]}: {problem}"))

    def _evidence_problem(self, sha: str) -> str | None:
        store = self.engine.evidence
        if len(sha) != 64:
            return f"names no sha256 ({sha!r})"
        path = store.path_of(sha)
        if not path.is_file():
            return f"the file {path} is missing from the evidence store {store.root}"
        digest = hashlib.sha256()
        with Path(path).open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != sha:
            return (f"the file {path} no longer matches its sha256 {sha[:16]}…: it was "
                    "replaced or damaged")
        return None

    def _compare_row(self, issue: Issue, first: IssueEvent, replay: Replay) -> None:
        found: list[tuple[str, Any, Any]] = []
        expected = (replay.compiled.definition.id, replay.compiled.definition.version)
        if (issue.definition_id, issue.definition_version) != expected:
            found.append(("definition", f"{issue.definition_id}@{issue.definition_version}",
                          f"{expected[0]}@{expected[1]}"))
        for name, row_value, replayed in (("state", issue.state, replay.state),
                                          ("step", issue.stage, replay.stage),
                                          ("step until", issue.stage_until, replay.stage_until),
                                          ("created_at", issue.created_at, first.at)):
            if row_value != replayed:
                found.append((name, row_value, replayed))
        for key, value in replay.facts.items():
            row_value = getattr(issue, key)
            if key in TIME_FACTS:
                replayed = datetime.fromisoformat(value) if value else None
            elif key.endswith("_units"):
                row_value, replayed = list(row_value or []), list(value or [])
            else:
                replayed = value
            if row_value != replayed:
                found.append((key, row_value, replayed))
        for name, row_value, replayed in found:
            shown = [v.isoformat() if isinstance(v, datetime) else v
                     for v in (row_value, replayed)]
            self.report.add(ChainProblem(issue.id, None, (
                f"the issue row says {name} = {shown[0]!r} but its history says {shown[1]!r}")))

    def notes(self, checkpoints: bool) -> None:
        """Say what could not be checked."""
        if self.no_facts:
            self.report.unchecked.append(
                f"{len(self.no_facts)} issue(s) were created before events carried their "
                f"facts ({_listed(self.no_facts)}): their deadline, units, leader, category, "
                "plan and number were checked only where a later event set them; state, step "
                "and definition were checked")
        if self.report.unkeyed:
            self.report.unchecked.append(
                f"{self.report.unkeyed} event(s) predate keying (no key id, plain sha256), in "
                f"issue(s) {_listed(sorted(self.unkeyed))}: anyone with the database could "
                "recompute them; only a checkpoint taken since proves them"
                + ("" if checkpoints else " (verify --checkpoints)"))


def _listed(ids: list[int], most: int = 20) -> str:
    shown = ", ".join(str(i) for i in ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _chains(engine: Engine, issue_id: int | None) -> Iterator[tuple[Issue, list[IssueEvent]]]:
    with engine.db.session() as session:
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


def _check_audit(engine: Engine, report: VerifyReport) -> None:
    audit = verify_audit(engine.db, engine.keys)
    report.audit_records, report.unkeyed_audit = audit.records, audit.unkeyed
    for message in audit.problems:
        report.add(ChainProblem(None, None, message, subject="audit trail"))
    if audit.unkeyed:
        report.unchecked.append(
            f"{audit.unkeyed} audit record(s) predate keying (no key id, plain sha256): anyone "
            "with the database could recompute them")


def verify(engine: Engine, issue_id: int | None = None, *,
           checkpoints: TrustFiles | None = None) -> VerifyReport:
    """Replay every issue's chain (or one issue's) and report everything wrong with it;
    without ``issue_id`` the audit trail too.

    Args:
        engine: the engine whose database, keys, definitions and evidence store to check.
        issue_id: only this issue.
        checkpoints: also prove the chains against the checkpoint log of these files.

    Raises:
        InputError: ``issue_id`` with ``checkpoints`` (a checkpoint covers every issue).
    """
    if checkpoints is not None and issue_id is not None:
        raise InputError("--checkpoints proves every issue against the checkpoint log; "
                         "leave out --issue")
    report = VerifyReport()
    log = LogCheck(checkpoints) if checkpoints is not None else None
    wanted = log.wanted() if log is not None else set()
    check = ChainCheck(engine, report, {})
    lengths: dict[int, int] = {}
    for issue, chain in _chains(engine, issue_id):
        report.issues += 1
        report.events += len(chain)
        lengths[issue.id] = len(chain)
        check.run(issue, chain, wanted)
    check.notes(checkpoints=log is not None)
    if issue_id is None:
        _check_audit(engine, report)
    if log is not None:
        for problem in [*log.problems, *log.check(check.head_of, lengths, check.unkeyed)]:
            report.add(problem)
        report.checkpoints = len(log.checkpoints)
    return report
