"""The ledger (台账): import an office's Excel or CSV ledger, export the ledger as xlsx.

Import reads the sheet 整改情况清单 (or the first sheet; ``sheet`` names another) row by row
with openpyxl's read-only mode, so a large file is never held in memory, and the optional
sheet 问责情况 with accountability records. Headers are the official Chinese column names or
their English aliases (see ``ISSUE_COLUMNS``); rows above the header (a title) are skipped.

Everything is written in one transaction: issues enter the state the 整改状态 column names
(with an ``import`` event saying so), units and leaders are created when new, the plan is
created with the categories found when it does not exist. Any bad row means nothing is
written, and the error lists every bad row with row number, column, value and what is
expected. Importing the same plan again updates issues by 序号 (an ``import`` event lists the
changed fields) and leaves unchanged rows alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from workflow.documents.ledger_read import (
    ACCOUNTABILITY_COLUMNS,
    ACCOUNTABILITY_SHEET,
    EXPORT_COLUMNS,
    ISSUE_COLUMNS,
    ISSUE_SHEET,
    LONG_TERM,
    PARALLEL_FROM_BYTES,
    IssueReader,
    RowProblem,
    Sheet,
    Workbook,
    batches_from_child,
    cell_boolean,
    cell_names,
    cell_text,
    column_letter,
    data_rows,
    find_header,
    header_key,
    optional_date,
    row_checker,
)
from workflow.errors import ActionDeniedError, InputError
from workflow.issues.engine import Engine, NewIssue, deadline_instant
from workflow.issues.rows import FACT_COLUMNS, Due, EventDraft, facts_payload
from workflow.issues.transaction import IssueTx
from workflow.models import (
    AccountabilityIssue,
    AccountabilityRecord,
    Issue,
    Plan,
    ProgressReport,
)
from workflow.org.actors import Actor
from workflow.org.ranks import RANKS, rank_key
from workflow.supervision.accountability import (
    METHODS,
    SUBJECT_TYPES,
    NewAccountability,
    method_key,
    subject_type_key,
    write_record,
)

IMPORT_TRIGGER = "import"
IMPORT_ROLES = ("office",)


class LedgerError(InputError):
    """The ledger cannot be imported; ``problems`` lists every bad row. Nothing was written."""

    def __init__(self, path: Path, problems: list[RowProblem]):
        self.path = path
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{path.name}: {len(problems)} {noun}, nothing imported\n"
                         + "\n".join(str(p) for p in problems))


@dataclass
class ImportResult:
    """What an import did."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accountability_added: int = 0
    accountability_unchanged: int = 0
    units_added: int = 0
    people_added: int = 0
    plan_created: bool = False
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
    facts: dict[str, Any]


class _Importer:
    def __init__(self, engine: Engine, path: Path, plan: str, actor: Actor,
                 definition: str, sheet: str | None,
                 on_progress: Callable[[int, int | None], None] | None,
                 parallel: bool | None):
        self.engine = engine
        self.parallel = parallel
        self.path = path
        self.plan = plan
        self.actor = actor
        self.sheet_name = sheet
        self.on_progress = on_progress
        self.now = engine.clock.now()
        version = engine.registry.latest_version(definition)
        self.compiled = engine.registry.get(definition, version)
        states = self.compiled.definition.states
        self.states: dict[str, str] = {}
        for spec in states:
            for name in (spec.key, spec.label_zh, spec.label_en):
                self.states[header_key(name)] = spec.key
        self.state_labels = "、".join(spec.label_zh for spec in states)
        self.problems: list[RowProblem] = []
        self.result = ImportResult()
        self.numbers: dict[str, int] = {}  # 序号 → issue id, this plan
        self.units: dict[str, None] = {}
        self.leaders: dict[str, None] = {}
        self.categories: dict[str, None] = {}

    # The whole import: one transaction, rolled back when any problem was found.
    def run(self) -> ImportResult:
        if self.actor.role not in IMPORT_ROLES:
            raise ActionDeniedError(action="import a ledger", role=self.actor.role,
                                    roles=IMPORT_ROLES)
        if not self.plan.strip():
            raise InputError("--plan: give the plan's name (整改方案) the ledger belongs to")
        book = Workbook(self.path)
        try:
            with self.engine.db.session() as session:
                plan = session.scalar(select(Plan).where(Plan.name == self.plan))
                self.plan_categories = list(plan.categories) if plan else None
                existing = self._existing(session)
            with self.engine.transaction() as tx:  # rolled back by the LedgerError
                self._issues(tx, existing)
                if not self.problems and book.is_xlsx \
                        and ACCOUNTABILITY_SHEET in book.sheet_names:
                    self._accountability(tx, book.sheet(ACCOUNTABILITY_SHEET))
                if not self.problems:
                    self._directory(tx, plan_exists=plan is not None)
                if self.problems:
                    raise LedgerError(self.path, self.problems)
        finally:
            book.close()
        return self.result

    def _existing(self, session: Any) -> dict[str, _Existing]:
        found: dict[str, _Existing] = {}
        for issue in session.scalars(select(Issue).where(Issue.plan == self.plan)):
            found[str(issue.number)] = _Existing(
                issue.id, issue.version, issue.head_hash, issue.state,
                {c: getattr(issue, c) for c in FACT_COLUMNS})
            self.numbers[str(issue.number)] = issue.id
        return found

    def _issues(self, tx: IssueTx, existing: dict[str, _Existing]) -> None:
        definition = self.compiled.definition
        reader = IssueReader(self.path, self.sheet_name, self.plan, self.plan_categories,
                              self.states, self.state_labels, definition.initial,
                              definition.ref)
        parallel = self.parallel
        if parallel is None:
            parallel = self.path.stat().st_size >= PARALLEL_FROM_BYTES
        batches = batches_from_child(reader) if parallel else reader.batches()
        for batch in batches:
            self.problems += batch.problems
            if not self.problems:
                for row, fields, state, cleared_on in batch.items:
                    self._write_issue(tx, row, NewIssue(**fields), state, cleared_on,
                                      existing=existing)
            if self.on_progress:
                self.on_progress(batch.read, batch.total)
            if batch.done:
                self.result.rows = batch.rows
                self.result.ignored_columns = batch.ignored
                self.categories = dict.fromkeys(batch.categories)
                self.units = dict.fromkeys(batch.units)
                self.leaders = dict.fromkeys(batch.leaders)

    def _payload(self, row: int, state: str, cleared_on: date | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"source": self.path.name, "row": row}
        if cleared_on is not None and self.compiled.states[state].completed:
            payload["cleared_on"] = cleared_on.isoformat()
        return payload

    def _write_issue(self, tx: IssueTx, row: int, new: NewIssue, state: str,
                     cleared_on: date | None, *, existing: dict[str, _Existing]) -> None:
        label = self.compiled.definition.state(state).label_zh
        comment = f"台账导入：{label}"
        old = existing.get(str(new.number))
        if old is None:
            issue_id = self.engine.insert_issue(
                tx, new, self.compiled, actor=self.actor, comment=comment, now=self.now,
                state=state, trigger=IMPORT_TRIGGER, extra=self._payload(row, state, cleared_on))
            self.numbers[str(new.number)] = issue_id
            self.result.created += 1
            return
        self._update_issue(tx, row, new, state, cleared_on, old, comment)

    def _update_issue(self, tx: IssueTx, row: int, new: NewIssue, state: str,
                      cleared_on: date | None, old: _Existing, comment: str) -> None:
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
        if not changed and state == old.state:
            self.result.unchanged += 1
            return
        if changed:
            tx.update_facts(old.id, facts)
        previous = tx.read_issue(old.id)
        due = Due.of(previous)
        if state != old.state or "deadline_at" in changed:
            due = self.engine.enter_state(tx, self.compiled, issue_id=old.id, state=state,
                                     deadline_at=facts["deadline_at"], previous=previous,
                                     now=self.now)
        payload = self._payload(row, state, cleared_on)
        payload["changed"] = changed
        if changed:
            payload["facts"] = facts_payload(facts, tuple(changed))
        if state != old.state:
            stages = self.compiled.states[state].stages
            first = stages[0] if stages else None
            tx.set_stage(old.id, first.key if first else None,
                          self.now + first.period if first and first.period else None)
            payload["stage"] = first.key if first else None
        tx.record(issue_id=old.id, old_version=old.version, prev_hash=old.head_hash,
                   now=self.now, due=due, event=EventDraft(
                       self.actor.name, self.actor.role, IMPORT_TRIGGER, old.state, state,
                       comment, payload))
        self.result.updated += 1

    def _accountability(self, tx: IssueTx, sheet: Sheet) -> None:
        header = find_header(sheet, ACCOUNTABILITY_COLUMNS, self.problems)
        if header is None or self.problems:
            return
        _number, index, _ignored = header
        known = self._known_records()
        for row, cells in data_rows(sheet, index):
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
                  on_progress: Callable[[int, int | None], None] | None = None,
                  parallel: bool | None = None) -> ImportResult:
    """Import a ledger file into ``plan`` (all or nothing).

    Args:
        engine: the engine.
        path: an .xlsx or .csv file.
        plan: the plan (整改方案) the rows belong to; created when new.
        actor: who imports (the office).
        definition: the definition new issues start on (its latest version).
        sheet: the issues' sheet (default 整改情况清单, else the first sheet).
        on_progress: called now and then with (rows read, rows in the sheet or None).
        parallel: read the file in a child process while writing (default: for files of
            ``PARALLEL_FROM_BYTES`` or more).

    Raises:
        LedgerError: bad rows, each named; nothing was written.
        InputError: not a workbook, no such sheet, no plan name.
        ActionDeniedError: the actor's role may not import.
    """
    return _Importer(engine, path, plan, actor, definition, sheet, on_progress,
                     parallel).run()


# ---- export -------------------------------------------------------------------------------

LIGHT_FILLS = {"red": "FFC7CE", "yellow": "FFEB9C", "blue": "BDD7EE", "green": "C6EFCE"}


def export_ledger(engine: Engine, path: Path, *, plan: str | None = None,
                  state: str | None = None, unit: str | None = None) -> int:
    """Write the ledger as xlsx: the official columns plus light, days overdue, last monthly
    report and clearance date (sheet 整改情况清单), and the accountability records (sheet
    问责情况). Returns the number of issues written."""
    from openpyxl import Workbook as XlsxWorkbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    from workflow.issues.queries import (
        IssueFilter,
        cleared_dates,
        issue_views,
        list_issues,
        number_order,
    )
    from workflow.supervision.accountability import records

    now = engine.clock.now()
    issues = [i for i in list_issues(engine.db, engine.registry,
                                     IssueFilter(state=state, unit=unit, plan=plan), now=now)
              if i.parent_id is None]
    issues.sort(key=lambda i: (i.plan or "", number_order(i.number), i.id))
    cleared = cleared_dates(engine.db, engine.registry, issues)
    reports = _last_reports(engine, [i.id for i in issues])
    book = XlsxWorkbook(write_only=True)
    sheet = book.create_sheet(ISSUE_SHEET)
    header_font, header_fill = Font(bold=True), PatternFill("solid", fgColor="D9E1F2")
    wrap = Alignment(wrap_text=True, vertical="top")

    def header(target: Any, labels: Sequence[str]) -> None:
        cells = []
        for label in labels:
            cell = WriteOnlyCell(target, value=label)
            cell.font, cell.fill = header_font, header_fill
            cells.append(cell)
        target.append(cells)

    labels = [c.label for c in ISSUE_COLUMNS] + [c.label for c in EXPORT_COLUMNS]
    widths = [6, 14, 40, 30, 40, 10, 16, 20, 16, 16, 12, 30, 10, 12, 8, 8, 30]
    for position, width in enumerate(widths):
        sheet.column_dimensions[column_letter(position)].width = width
    sheet.freeze_panes = "A2"
    header(sheet, labels)
    for issue, view in zip(issues, issue_views(engine.db, issues, engine.registry, now),
                           strict=True):
        values = [
            _number_cell(issue.number), issue.category, issue.title, issue.target,
            issue.measures, issue.leader, issue.lead_unit,
            "、".join(issue.responsible_units or []), "、".join(issue.cooperating_units or []),
            issue.acceptance_unit, LONG_TERM if issue.long_term else view["deadline"],
            issue.progress_note, view["state_label_zh"], cleared.get(issue.id),
            view["light_label_zh"], view["days_overdue"] or None, reports.get(issue.id)]
        row = []
        for position, value in enumerate(values):
            cell = WriteOnlyCell(sheet, value=value)
            if position == len(ISSUE_COLUMNS):  # the light
                cell.fill = PatternFill("solid", fgColor=LIGHT_FILLS[view["light"]])
            elif isinstance(value, str) and len(value) > 20:
                cell.alignment = wrap
            row.append(cell)
        sheet.append(row)
    sheet.auto_filter.ref = f"A1:{column_letter(len(labels) - 1)}{len(issues) + 1}"

    numbers = {i.id: i.number for i in issues}
    second = book.create_sheet(ACCOUNTABILITY_SHEET)
    second.freeze_panes = "A2"
    header(second, [c.label for c in ACCOUNTABILITY_COLUMNS])
    written = 0
    for item in records(engine):
        linked = [numbers[i] for i in item["issues"] if i in numbers]
        if not linked:
            continue
        second.append([item["subject"], item["subject_type_label"], item["unit"],
                       item["rank_label"], "、".join(item["method_labels"]),
                       "、".join(str(n) for n in linked), item["decided_by"],
                       item["decided_on"], "是" if item["disclosed"] else "否", item["source"]])
        written += 1
    second.auto_filter.ref = f"A1:{column_letter(len(ACCOUNTABILITY_COLUMNS) - 1)}" \
                             f"{written + 1}"
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return len(issues)


def _last_reports(engine: Engine, ids: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    with engine.db.session() as session:
        for start in range(0, len(ids), 500):
            for report in session.scalars(
                    select(ProgressReport)
                    .where(ProgressReport.issue_id.in_(ids[start:start + 500]),
                           ProgressReport.status == "submitted")
                    .order_by(ProgressReport.issue_id, ProgressReport.month)):
                percent = f"（{report.percent}%）" if report.percent is not None else ""
                found[report.issue_id] = f"{report.month}：{report.text or ''}{percent}"
    return found


def _number_cell(number: str | None) -> Any:
    return int(number) if number and number.isdigit() else number
