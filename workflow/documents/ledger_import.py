"""The ledger (台账) import: an office's Excel or CSV ledger into the plan's issues.

Import reads the sheet 整改情况清单 (or the first sheet; ``sheet`` names another) row by row
with openpyxl's read-only mode, so a large file is never held in memory, and the optional
sheet 问责情况 with accountability records. Headers are the official Chinese column names or
their English aliases (see ``ISSUE_COLUMNS``); rows above the header (a title) are skipped.

A ledger is a snapshot of the day it describes (``as_of``). Everything is written in one
transaction. A row whose 序号 is new becomes an issue in the state the 整改状态 names, recorded
from the ledger: its first ``import`` event names the file, its sha256, the day and the
sheet's dates, which the reports count by. Once an issue exists an import never changes its
state (only transitions do): it updates the descriptive facts, each change an ``import``
event with the file's sha256; a row whose 整改状态 differs from the system refuses the whole
import (``facts_only`` imports the facts and leaves every state alone). Any bad row means
nothing is written, and the error lists every bad row with row number, column, value and
what is expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from workflow.clock import local
from workflow.documents.ledger_file import LedgerFile, inspect_file
from workflow.documents.ledger_read import (
    ACCOUNTABILITY_COLUMNS,
    ACCOUNTABILITY_SHEET,
    PARALLEL_FROM_BYTES,
    IssueReader,
    RowDates,
    RowProblem,
    Sheet,
    Workbook,
    batches_from_child,
    cell_boolean,
    cell_names,
    cell_text,
    data_rows,
    find_header,
    header_key,
    optional_date,
    row_checker,
)
from workflow.errors import InputError
from workflow.issues import policy
from workflow.issues.engine import Engine, NewIssue, deadline_instant
from workflow.issues.rows import FACT_COLUMNS, Due, EventDraft, facts_payload
from workflow.issues.transaction import IssueTx
from workflow.models import (
    AccountabilityIssue,
    AccountabilityRecord,
    Inspection,
    Issue,
    Plan,
)
from workflow.org.actors import Actor
from workflow.org.ranks import RANKS, rank_key
from workflow.spec.machine import CompiledDefinition
from workflow.supervision.accountability import (
    METHODS,
    SUBJECT_TYPES,
    NewAccountability,
    method_key,
    subject_type_key,
    write_record,
)

IMPORT_TRIGGER = "import"
RECORDED_FROM = "ledger"  # payload ``recorded`` of an issue's first event: known from a ledger


@dataclass(frozen=True)
class StateConflict:
    """A row whose 整改状态 is not the issue's state in the system, and what to do."""

    sheet: str
    row: int
    number: str
    ledger: str  # the ledger's state label
    system: str  # the system's state label
    action: str

    def __str__(self) -> str:
        return (f"序号 {self.number} ({self.sheet} row {self.row}): the ledger says "
                f"{self.ledger}, the system says {self.system} — {self.action}")

    def as_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "number": self.number,
                "ledger_state": self.ledger, "system_state": self.system,
                "action": self.action}


class LedgerError(InputError):
    """The ledger cannot be imported; ``problems`` lists every bad row, ``conflicts`` every
    row whose 整改状态 differs from the system. Nothing was written."""

    def __init__(self, path: Path, problems: list[RowProblem],
                 conflicts: list[StateConflict] | None = None):
        self.path = path
        self.problems = problems
        self.conflicts = conflicts or []
        lines = [str(p) for p in problems]
        if problems:
            noun = "problem" if len(problems) == 1 else "problems"
            head = f"{path.name}: {len(problems)} {noun}, nothing imported"
        else:
            count = len(self.conflicts)
            head = (f"{path.name}: {count} row{'s' if count > 1 else ''} whose 整改状态 "
                    "differs from the system, nothing imported; an import never changes a "
                    "state, only the issue's transitions do (rectify issue fire). Move each "
                    "issue as below, or import the other columns and leave every state as it "
                    "is with --facts-only")
            lines = [str(c) for c in self.conflicts]
        super().__init__("\n".join([head, *lines]))


@dataclass
class ImportResult:
    """What an import did."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # With facts_only: the rows whose 整改状态 differed, their state left as the system has it.
    states_kept: list[dict[str, Any]] = field(default_factory=list)
    accountability_added: int = 0
    accountability_unchanged: int = 0
    units_added: int = 0
    people_added: int = 0
    plan_created: bool = False
    as_of: str = ""
    sha256: str = ""
    ignored_columns: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Existing:
    """An issue of the plan before the import: what the update compares and guards on."""

    id: int
    version: int
    head_hash: str
    state: str
    compiled: CompiledDefinition
    facts: dict[str, Any]


@dataclass(frozen=True)
class ImportOptions:
    """How to import: the sheet, the day the ledger describes, whether to import the facts of
    rows whose state differs, progress callback, child-process reading."""

    sheet: str | None = None
    as_of: date | None = None
    facts_only: bool = False
    on_progress: Callable[[int, int | None], None] | None = None
    parallel: bool | None = None


def _advice(ledger: Any, system: Any, ahead: bool) -> str:
    """What to do about a row whose state (spec ``ledger``) is not the system's
    (``system``); ``ahead``: the ledger's state comes later in the definition."""
    if ledger.completed and not system.completed:
        return ("clear it through acceptance (evidence, site check, 公示, sign-off with the "
                "checklist: rectify issue fire); an import never clears an issue")
    if system.completed and not ledger.completed:
        return ("the system has it cleared; if the problem rebounded, reopen it through its "
                "look-back, else correct the ledger (rectify ledger export gives the current "
                "one)")
    if ahead:
        return "move it there through its transitions (rectify issue fire)"
    return ("the ledger is older than the system and would undo later work; export the current "
            "ledger (rectify ledger export) and edit that")


class _Importer:
    def __init__(self, engine: Engine, path: Path, plan: str, actor: Actor,
                 definition: str, options: ImportOptions):
        self.engine = engine
        self.options = options
        self.path = path
        self.plan = plan
        self.actor = actor
        self.now = engine.clock.now()
        self.today = local(self.now).date()
        self.as_of = options.as_of or self.today
        version = engine.registry.latest_version(definition)
        self.compiled = engine.registry.get(definition, version)
        states = self.compiled.definition.states
        self.states: dict[str, str] = {}
        for spec in states:
            for name in (spec.key, spec.label_zh, spec.label_en):
                self.states[header_key(name)] = spec.key
        self.state_labels = "、".join(spec.label_zh for spec in states)
        self.problems: list[RowProblem] = []
        self.conflicts: list[StateConflict] = []
        self.result = ImportResult(as_of=self.as_of.isoformat())
        self.numbers: dict[str, int] = {}  # 序号 → issue id, this plan
        self.units: dict[str, None] = {}
        self.leaders: dict[str, None] = {}
        self.categories: dict[str, None] = {}
        self.feedback_on: date | None = None
        self.file: LedgerFile | None = None

    # The whole import: one transaction, rolled back when any problem was found.
    def run(self) -> ImportResult:
        policy.check_action(self.actor, policy.IMPORT_LEDGER)
        if not self.plan.strip():
            raise InputError("--plan: give the plan's name (整改方案) the ledger belongs to")
        if self.as_of > self.today:
            raise InputError(f"--as-of {self.as_of.isoformat()}: a ledger describes a day that "
                             f"has passed; give {self.today.isoformat()} (today) or earlier")
        self.file = inspect_file(self.path)
        self.result.sha256 = self.file.sha256
        book = Workbook(self.path, merged=self.file.merged)
        try:
            with self.engine.db.session() as session:
                plan = session.scalar(select(Plan).where(Plan.name == self.plan))
                self.plan_categories = list(plan.categories) if plan else None
                self.feedback_on = self._feedback_on(session, plan)
                existing = self._existing(session)
            with self.engine.transaction() as tx:  # rolled back by the LedgerError
                self._issues(tx, existing)
                if not self.problems and book.is_xlsx \
                        and ACCOUNTABILITY_SHEET in book.sheet_names:
                    self._accountability(tx, book.sheet(ACCOUNTABILITY_SHEET))
                if not self.problems:
                    self._directory(tx, plan_exists=plan is not None)
                if self.problems or self.conflicts:
                    raise LedgerError(self.path, self.problems,
                                      [] if self.problems else self.conflicts)
                tx.append_audit(self.actor.audit(
                    "ledger_import", f"{self.path.name} → {self.plan}", sha256=self.file.sha256,
                    as_of=self.result.as_of, created=self.result.created,
                    updated=self.result.updated, units_added=self.result.units_added,
                    people_added=self.result.people_added), at=self.now)
        finally:
            book.close()
        return self.result

    @staticmethod
    def _feedback_on(session: Any, plan: Plan | None) -> date | None:
        """The day the plan's findings were handed over: its inspection's feedback (反馈意见)
        date, else the day the plan was issued; None when neither is known."""
        if plan is None:
            return None
        if plan.inspection:
            inspection = session.scalar(select(Inspection)
                                        .where(Inspection.name == plan.inspection))
            if inspection is not None and inspection.feedback_on is not None:
                return inspection.feedback_on
        return plan.issued_on

    def _existing(self, session: Any) -> dict[str, _Existing]:
        found: dict[str, _Existing] = {}
        for issue in session.scalars(select(Issue).where(Issue.plan == self.plan)):
            compiled = self.engine.registry.get(issue.definition_id, issue.definition_version)
            found[str(issue.number)] = _Existing(
                issue.id, issue.version, issue.head_hash, issue.state, compiled,
                {c: getattr(issue, c) for c in FACT_COLUMNS})
            self.numbers[str(issue.number)] = issue.id
        return found

    def _issues(self, tx: IssueTx, existing: dict[str, _Existing]) -> None:
        definition = self.compiled.definition
        reader = IssueReader(self.path, self.options.sheet, self.plan, self.plan_categories,
                             self.states, self.state_labels, definition.initial,
                             definition.ref, self.as_of,
                             merged=self.file.merged if self.file else {})
        parallel = self.options.parallel
        if parallel is None:
            parallel = self.path.stat().st_size >= PARALLEL_FROM_BYTES
        batches = batches_from_child(reader) if parallel else reader.batches()
        for batch in batches:
            self.problems += batch.problems
            if not self.problems:
                for row, fields, state, dates in batch.items:
                    self._write_issue(tx, batch.sheet, row, NewIssue(**fields), state,
                                      dates, existing=existing)
            if self.on_progress:
                self.on_progress(batch.read, batch.total)
            if batch.done:
                self.result.rows = batch.rows
                self.result.ignored_columns = batch.ignored
                self.categories = dict.fromkeys(batch.categories)
                self.units = dict.fromkeys(batch.units)
                self.leaders = dict.fromkeys(batch.leaders)

    @property
    def on_progress(self) -> Callable[[int, int | None], None] | None:
        return self.options.on_progress

    def _source(self, row: int) -> dict[str, Any]:
        assert self.file is not None
        return {"source": self.path.name, "sha256": self.file.sha256, "row": row}

    def _recorded(self, row: int, state: str, dates: RowDates) -> dict[str, Any]:
        """The first event's payload of an issue recorded from the ledger: the file, the day
        the ledger describes, and the dates the reports count it by (None: unknown)."""
        payload = {**self._source(row), "recorded": RECORDED_FROM,
                   "as_of": self.as_of.isoformat()}
        assigned = dates.assigned_on or self.feedback_on
        if assigned is not None and assigned > self.as_of:
            assigned = None  # a feedback date after the snapshot says nothing about it
        payload["assigned_on"] = assigned.isoformat() if assigned else None
        if self.compiled.states[state].completed:
            payload["cleared_on"] = dates.cleared_on.isoformat() if dates.cleared_on else None
        return payload

    def _write_issue(self, tx: IssueTx, sheet: str, row: int, new: NewIssue, state: str,
                     dates: RowDates, *, existing: dict[str, _Existing]) -> None:
        old = existing.get(str(new.number))
        if old is None:
            label = self.compiled.definition.state(state).label_zh
            issue_id = self.engine.insert_issue(
                tx, new, self.compiled, actor=self.actor, comment=f"台账导入：{label}",
                now=self.now, state=state, trigger=IMPORT_TRIGGER,
                extra=self._recorded(row, state, dates))
            self.numbers[str(new.number)] = issue_id
            self.result.created += 1
            return
        if state != old.state:
            conflict = self._conflict(sheet, row, str(new.number), state, old)
            if not self.options.facts_only:
                self.conflicts.append(conflict)
                return
            self.result.states_kept.append(conflict.as_dict())
        self._update_facts(tx, row, new, old)

    def _conflict(self, sheet: str, row: int, number: str, state: str,
                  old: _Existing) -> StateConflict:
        keys = [spec.key for spec in old.compiled.definition.states]
        ahead = state in keys and keys.index(state) > keys.index(old.state)
        return StateConflict(sheet, row, number, self.compiled.definition.state(state).label_zh,
                             old.compiled.definition.state(old.state).label_zh,
                             _advice(self.compiled.states[state],
                                     old.compiled.states[old.state], ahead))

    def _update_facts(self, tx: IssueTx, row: int, new: NewIssue, old: _Existing) -> None:
        """Write the changed facts with one ``import`` event listing them; the state stays."""
        units = new.all_responsible_units()
        facts = {"category": new.category, "title": new.title, "target": new.target,
                 "measures": new.measures, "leader": new.leader, "lead_unit": new.lead_unit,
                 "unit": units[0] if units else None, "responsible_units": units,
                 "cooperating_units": list(new.cooperating_units),
                 "acceptance_unit": new.acceptance_unit,
                 "deadline_at": deadline_instant(new.deadline) if new.deadline else None,
                 "long_term": new.long_term, "progress_note": new.progress_note}
        changed = [key for key in FACT_COLUMNS if facts[key] != (
            list(old.facts[key] or []) if key.endswith("_units") else old.facts[key])]
        if not changed:
            self.result.unchanged += 1
            return
        tx.update_facts(old.id, facts)
        previous = tx.read_issue(old.id)
        assert previous is not None
        due = Due.of(previous)
        if "deadline_at" in changed:  # the same state's timers, planned on the new deadline
            due = self.engine.enter_state(tx, old.compiled, issue_id=old.id, state=old.state,
                                          deadline_at=facts["deadline_at"], previous=previous,
                                          now=self.now)
        payload = {**self._source(row), "changed": changed}
        if changed:
            payload["facts"] = facts_payload(facts, tuple(changed))
        tx.record(issue_id=old.id, old_version=old.version, prev_hash=old.head_hash,
                  now=self.now, due=due, event=EventDraft(
                      self.actor.name, self.actor.role, IMPORT_TRIGGER, old.state, old.state,
                      "台账导入：事实变更", payload, os_user=self.actor.os_user))
        self.result.updated += 1

    def _accountability(self, tx: IssueTx, sheet: Sheet) -> None:
        header = find_header(sheet, ACCOUNTABILITY_COLUMNS, self.problems)
        if header is None or self.problems:
            return
        _number, index, _ignored = header
        known = self._known_records()
        for row, cells in data_rows(sheet, index, self.path):
            parsed = self._parse_record(sheet.name, row, cells)
            if parsed is None or self.problems:
                continue
            new = parsed.normalised()
            key = (new.subject_type, new.subject, new.decided_by, new.decided_on)
            if key in known:
                self.result.accountability_unchanged += 1
                continue
            known.add(key)
            write_record(tx, new, actor=self.actor, now=self.now)
            self.result.accountability_added += 1

    def _known_records(self) -> set[tuple[str, str, str, date]]:
        ids = set(self.numbers.values())
        if not ids:
            return set()
        with self.engine.db.session() as session:
            rows = session.execute(
                select(AccountabilityRecord.subject_type, AccountabilityRecord.subject,
                       AccountabilityRecord.decided_by, AccountabilityRecord.decided_on,
                       AccountabilityIssue.issue_id)
                .join(AccountabilityIssue,
                      AccountabilityIssue.record_id == AccountabilityRecord.id)).all()
        return {tuple(r[:4]) for r in rows if r[4] in ids}  # type: ignore[misc]

    def _parse_record(self, sheet: str, row: int, cells: dict[str, Any],
                      ) -> NewAccountability | None:
        bad = len(self.problems)
        problem = row_checker(self.problems, sheet, row, ACCOUNTABILITY_COLUMNS, cells)
        subject_type = cell_text(cells.get("subject_type"))
        type_key = _known(subject_type_key, subject_type) if subject_type else None
        if subject_type and type_key is None:
            problem("subject_type", subject_type,
                    f"is not a subject type; allowed: {'、'.join(SUBJECT_TYPES.values())}")
        rank = cell_text(cells.get("rank"))
        if rank and _known(rank_key, rank) is None:
            problem("rank", rank, f"is not a rank; allowed: {'、'.join(RANKS.values())} "
                                  "(or 厅级, 处级, 县级, 科级)")
        elif not rank and type_key == "cadre":
            problem("rank", None, f"is empty; a cadre (领导干部) needs one of "
                                  f"{'、'.join(RANKS.values())}")
        methods = cell_names(cells.get("methods"))
        unknown = [m for m in methods if _known(method_key, m) is None]
        if unknown:
            problem("methods", "、".join(unknown),
                    f"is not a method; allowed: {'、'.join(METHODS.values())}")
        issues: list[int] = []
        for number in cell_names(cells.get("issues")):
            if number not in self.numbers:
                problem("issues", number, f"is not a 序号 of plan {self.plan!r}")
            else:
                issues.append(self.numbers[number])
        decided_on = optional_date(cells.get("decided_on"),
                                   lambda value, expected: problem("decided_on", value, expected))
        disclosed = False
        try:
            disclosed = cell_boolean(cells.get("disclosed"))
        except ValueError:
            problem("disclosed", cells.get("disclosed"), "write 是 or 否")
        if len(self.problems) > bad or decided_on is None:
            return None
        return NewAccountability(
            subject_type=str(subject_type), subject=str(cell_text(cells.get("subject"))),
            methods=methods, decided_by=str(cell_text(cells.get("decided_by"))),
            decided_on=decided_on, issues=issues, rank=rank, unit=cell_text(cells.get("unit")),
            source=cell_text(cells.get("source")), disclosed=disclosed)

    def _directory(self, tx: IssueTx, *, plan_exists: bool) -> None:
        if not plan_exists:
            tx.add_plan_if_new(self.plan, list(self.categories))
            self.result.plan_created = True
        for name in self.units:
            self.result.units_added += tx.add_unit_if_new(name)
        # The importer is registered too (when new): once units and leaders exist, only
        # registered names may act, and the office must still be able to.
        people = {name: "leader" for name in self.leaders}
        people.setdefault(self.actor.name, self.actor.role)
        for name, role in people.items():
            self.result.people_added += tx.add_person_if_new(name, role)


def _known(convert: Callable[[str], str], value: str) -> str | None:
    """The key ``convert`` finds for a label, alias or key; None when it knows none."""
    try:
        return convert(value)
    except InputError:
        return None


def import_ledger(engine: Engine, path: Path, *, plan: str, actor: Actor,
                  definition: str = "rectification", sheet: str | None = None,
                  as_of: date | None = None, facts_only: bool = False,
                  on_progress: Callable[[int, int | None], None] | None = None,
                  parallel: bool | None = None) -> ImportResult:
    """Import a ledger file into ``plan`` (all or nothing).

    Args:
        engine: the engine.
        path: an .xlsx or .csv file.
        plan: the plan (整改方案) the rows belong to; created when new.
        actor: who imports (the office); the import's audit record, in its transaction.
        definition: the definition new issues start on (its latest version).
        sheet: the issues' sheet (default 整改情况清单, else the first sheet).
        as_of: the day the ledger describes (default today): new issues' states hold from
            it, and no date in the sheet may come after it.
        facts_only: rows whose 整改状态 differs from the system update their facts and keep
            their state, instead of refusing the import.
        on_progress: called now and then with (rows read, rows in the sheet or None).
        parallel: read the file in a child process while writing (default: for files of
            ``PARALLEL_FROM_BYTES`` or more).

    Raises:
        LedgerError: bad rows, or rows whose 整改状态 differs from the system, each named;
            nothing was written.
        InputError: not a workbook, too large, no such sheet, no plan name, a future day.
        ActionDeniedError: the actor's role may not import.
    """
    options = ImportOptions(sheet=sheet, as_of=as_of, facts_only=facts_only,
                            on_progress=on_progress, parallel=parallel)
    return _Importer(engine, path, plan, actor, definition, options).run()
