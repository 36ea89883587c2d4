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

import calendar
import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from workflow.accountability import (
    METHODS,
    RANKS,
    SUBJECT_TYPES,
    NewAccountability,
    write_record,
)
from workflow.engine import Actor, Engine, NewIssue, deadline_instant
from workflow.errors import ActionDeniedError, InputError
from workflow.models import (
    AccountabilityIssue,
    AccountabilityRecord,
    Issue,
    Plan,
    ProgressReport,
)
from workflow.statements import FACT_COLUMNS, Due, EventDraft

ISSUE_SHEET = "整改情况清单"
ACCOUNTABILITY_SHEET = "问责情况"
IMPORT_TRIGGER = "import"
IMPORT_ROLES = ("office",)
LONG_TERM = "长期坚持"
HEADER_SEARCH_ROWS = 10  # a title may stand above the header row
UNIT_SEPARATORS = re.compile(r"[、，,;；/\n]+")
PARALLEL_FROM_BYTES = 2_000_000  # larger files are read in a child process
DATE_FORMS = "2020-12-31, 2020/12/31, 2020年12月31日, 2020年12月, 2020年6月底, 2020年底"


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the official Chinese header
    aliases: tuple[str, ...] = ()
    required: bool = False

    def names(self) -> set[str]:
        return {_header_key(name) for name in (self.label, self.key, *self.aliases)}


ISSUE_COLUMNS = (
    Column("number", "序号", ("no", "no.", "number"), required=True),
    Column("category", "问题类别", ("category",)),
    Column("title", "反馈问题", ("problem", "title", "issue", "问题"), required=True),
    Column("target", "整改目标", ("target", "goal")),
    Column("measures", "整改措施", ("measures", "tasks", "整改任务")),
    Column("leader", "责任领导", ("leader", "supervising leader", "包保领导")),
    Column("lead_unit", "牵头单位", ("lead unit",)),
    Column("responsible_units", "责任单位", ("responsible units", "responsible unit"),
           required=True),
    Column("cooperating_units", "配合单位", ("cooperating units",)),
    Column("acceptance_unit", "验收单位", ("acceptance unit", "牵头验收单位")),
    Column("deadline", "整改时限", ("deadline",), required=True),
    Column("progress", "整改进展", ("progress",)),
    Column("state", "整改状态", ("state", "status")),
    Column("cleared_on", "销号日期", ("cleared on", "clearance date")),
)
# Columns the export adds for reading; an import of an exported file passes over them.
EXPORT_COLUMNS = (
    Column("light", "警示灯", ("light",)),
    Column("days_overdue", "超期天数", ("days overdue",)),
    Column("last_report", "最近月报", ("last progress", "last report")),
)
ACCOUNTABILITY_COLUMNS = (
    Column("subject", "问责对象", ("subject",), required=True),
    Column("subject_type", "对象类型", ("subject type", "type"), required=True),
    Column("unit", "所在单位", ("unit", "单位")),
    Column("rank", "职级", ("rank",)),
    Column("methods", "问责方式", ("methods", "method"), required=True),
    Column("issues", "关联问题序号", ("issues", "linked issues", "关联问题"), required=True),
    Column("decided_by", "决定机关", ("decided by",), required=True),
    Column("decided_on", "决定日期", ("decided on", "date"), required=True),
    Column("disclosed", "是否公开", ("disclosed",)),
    Column("source", "移交问题清单", ("source", "来源")),
)
YES = {"是", "公开", "yes", "y", "true", "1"}
NO = {"否", "不公开", "no", "n", "false", "0", ""}


def _header_key(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


@dataclass(frozen=True)
class RowProblem:
    """One bad cell (or a bad sheet, when ``row`` is None)."""

    sheet: str
    row: int | None
    column: str | None
    value: Any
    expected: str

    def __str__(self) -> str:
        where = self.sheet + (f" row {self.row}" if self.row is not None else "")
        if self.column:
            where += f", {self.column}"
        shown = "" if self.value is None else f" {str(self.value)[:60]!r}"
        return f"{where}:{shown} {self.expected}".replace(": ", ": ", 1)

    def as_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column,
                "value": None if self.value is None else str(self.value),
                "expected": self.expected}


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


# ---- reading ------------------------------------------------------------------------------

@dataclass
class Sheet:
    """A sheet's rows as (row number, cell values), streamed; ``total`` when known."""

    name: str
    rows: Iterator[tuple[int, tuple[Any, ...]]]
    total: int | None


class Workbook:
    """An xlsx workbook (read-only, streamed) or a CSV file (one sheet)."""

    def __init__(self, path: Path):
        self.path = path
        self._book: Any = None
        suffix = path.suffix.lower()
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        if suffix == ".csv":
            return
        if suffix not in (".xlsx", ".xlsm") or not zipfile.is_zipfile(path):
            kind = "an old .xls workbook" if suffix == ".xls" else f"not an xlsx file ({suffix})"
            raise InputError(f"{path.name}: {kind}; give an .xlsx workbook (Excel 2007 or "
                             "later: 另存为 .xlsx) or a UTF-8 / GB18030 .csv file")
        from openpyxl import load_workbook

        try:
            self._book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # a broken or non-workbook zip
            raise InputError(f"{path.name}: cannot be read as an xlsx workbook ({exc}); "
                             "give an .xlsx workbook or a .csv file") from None

    @property
    def is_xlsx(self) -> bool:
        return self._book is not None

    @property
    def sheet_names(self) -> list[str]:
        return list(self._book.sheetnames) if self._book is not None else [self.path.stem]

    def sheet(self, name: str | None) -> Sheet:
        """The named sheet, or the first one when ``name`` is None."""
        if self._book is None:
            return Sheet(self.path.stem, self._csv_rows(), None)
        if name is None:
            name = self.sheet_names[0]
        elif name not in self._book.sheetnames:
            raise InputError(f"{self.path.name} has no sheet {name!r}; its sheets: "
                             f"{', '.join(self._book.sheetnames)}")
        sheet = self._book[name]
        total = sheet.max_row if isinstance(sheet.max_row, int) else None
        rows = enumerate(sheet.iter_rows(values_only=True), start=1)
        return Sheet(name, rows, total)

    def _csv_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        raw = self.path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:  # pragma: no cover - gb18030 decodes any byte string
            raise InputError(f"{self.path.name}: not UTF-8 or GB18030 text")
        for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
            yield number, tuple(row)

    def close(self) -> None:
        if self._book is not None:
            self._book.close()


def _find_header(sheet: Sheet, columns: Sequence[Column], problems: list[RowProblem],
                 ) -> tuple[int, dict[int, str], list[str]] | None:
    """The header row: its number, column index → key, and headers not understood."""
    first = columns[0]
    known = {name: column.key for column in (*columns, *EXPORT_COLUMNS)
             for name in column.names()}
    for number, values in sheet.rows:
        cells = ["" if v is None else str(v).strip() for v in values]
        if not any(_header_key(c) in first.names() for c in cells):
            if number >= HEADER_SEARCH_ROWS:
                break
            continue
        last = max(i for i, c in enumerate(cells) if c)
        index: dict[int, str] = {}
        ignored: list[str] = []
        for position, cell in enumerate(cells[:last + 1]):
            letter = _column_letter(position)
            if not cell:
                problems.append(RowProblem(
                    sheet.name, number, f"column {letter}", None,
                    "empty header cell between named columns (merged header cells?); the "
                    "header must be one row with one column name per cell"))
                continue
            key = known.get(_header_key(cell))
            if key is None:
                ignored.append(cell)
            elif key in index.values():
                problems.append(RowProblem(sheet.name, number, f"column {letter}", cell,
                                           "repeats a column named before it"))
            else:
                index[position] = key
        missing = [c.label for c in columns if c.required and c.key not in index.values()]
        if missing:
            problems.append(RowProblem(
                sheet.name, number, None, None,
                f"missing required column(s) {', '.join(missing)}; the header has "
                f"{', '.join(c for c in cells if c)}; expected: " + _expected(columns)))
        return number, index, ignored
    problems.append(RowProblem(
        sheet.name, None, None, None,
        f"no header row with {first.label} in its first {HEADER_SEARCH_ROWS} rows; expected a "
        f"{sheet.name if sheet.name in (ISSUE_SHEET, ACCOUNTABILITY_SHEET) else ISSUE_SHEET} "
        f"sheet with the columns " + _expected(columns)))
    return None


def _expected(columns: Sequence[Column]) -> str:
    return " · ".join(c.label + ("*" if c.required else "") for c in columns) + \
        " (* required)"


def _column_letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(position + 1)


# ---- cell values --------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _names(value: Any) -> list[str]:
    text = _text(value)
    if not text:
        return []
    return list(dict.fromkeys(n.strip() for n in UNIT_SEPARATORS.split(text) if n.strip()))


def _day(year: int, month: int, day: int | None) -> date:
    return date(year, month, day or calendar.monthrange(year, month)[1])


_FULL_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_MONTH = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?\s*(底|末|份)?$")
_YEAR_END = re.compile(r"^(\d{4})\s*年\s*(底|末|内|年底)$")
_HALF = re.compile(r"^(\d{4})\s*年\s*(上半年|下半年)(底|末)?$")


def parse_date(value: Any, *, whole: bool = False) -> date:
    """A date as officials type it: 2020-12-31, 2020/12/31, 2020.12.31, 2020年12月31日, or
    (unless ``whole``) the end of a month or year: 2020年12月, 2020年6月底, 2020年底.

    Raises:
        ValueError: not one of these forms.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if match := _FULL_DATE.match(text):
        year, month, day = (int(g) for g in match.groups())
        return date(year, month, day)
    if not whole:
        if match := _MONTH.match(text):
            return _day(int(match[1]), int(match[2]), None)
        if match := _YEAR_END.match(text):
            return date(int(match[1]), 12, 31)
        if match := _HALF.match(text):
            return _day(int(match[1]), 6 if match[2] == "上半年" else 12, None)
    raise ValueError(text)


def parse_deadline(value: Any) -> tuple[date | None, bool]:
    """整改时限: (date, False), or (None, True) for 长期坚持."""
    if isinstance(value, str) and value.strip() in (LONG_TERM, "长期", "long-term", "long term"):
        return None, True
    return parse_date(value), False


def _boolean(value: Any) -> bool:
    text = (_text(value) or "").lower()
    if text in YES:
        return True
    if text in NO:
        return False
    raise ValueError(text)


# ---- import -------------------------------------------------------------------------------

@dataclass
class _Batch:
    """Rows parsed by the reader: (row, issue, state, 销号日期) and the problems found."""

    items: list[tuple[int, NewIssue, str, date | None]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    read: int = 0  # rows read so far
    total: int | None = None  # rows in the sheet, when known
    # In the last batch: what the whole sheet named.
    done: bool = False
    rows: int = 0
    ignored: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    leaders: list[str] = field(default_factory=list)


@dataclass
class _IssueReader:
    """Reads and checks the issues' sheet; sends batches of parsed rows. It needs no database,
    so a large file is read in a child process while the parent writes."""

    path: Path
    sheet: str | None
    plan: str
    plan_categories: list[str] | None
    states: dict[str, str]  # header key of a state's key or label → state key
    state_labels: str
    initial: str
    ref: str
    batch_size: int = 500

    def batches(self) -> Iterator[_Batch]:
        book = Workbook(self.path)
        try:
            name = self.sheet
            if name is None and ISSUE_SHEET in book.sheet_names:
                name = ISSUE_SHEET
            sheet = book.sheet(name)
            batch = _Batch(total=sheet.total)
            header = _find_header(sheet, ISSUE_COLUMNS, batch.problems)
            if header is None or batch.problems:
                batch.done = True
                yield batch
                return
            number, index, batch.ignored = header
            seen: dict[str, int] = {}
            categories: dict[str, None] = {}
            units: dict[str, None] = {}
            leaders: dict[str, None] = {}
            rows = 0
            for row, values in sheet.rows:
                if not any(v is not None and str(v).strip() for v in values):
                    continue  # a blank line
                rows += 1
                cells = {key: values[i] if i < len(values) else None
                         for i, key in index.items()}
                parsed = self._parse(sheet.name, row, cells, batch.problems, seen)
                if parsed is not None:
                    batch.items.append(parsed)
                    new = parsed[1]
                    if new.category:
                        categories.setdefault(new.category)
                    for unit in (new.lead_unit, *new.all_responsible_units(),
                                 *new.cooperating_units, new.acceptance_unit):
                        if unit:
                            units.setdefault(unit)
                    if new.leader:
                        leaders.setdefault(new.leader)
                if len(batch.items) >= self.batch_size or len(batch.problems) >= \
                        self.batch_size:
                    batch.read = row
                    yield batch
                    batch = _Batch(total=sheet.total)
            if rows == 0:
                batch.problems.append(RowProblem(sheet.name, None, None, None,
                                                 f"no rows under the header (row {number})"))
            batch.read, batch.done, batch.rows = sheet.total or rows, True, rows
            batch.categories, batch.units = list(categories), list(units)
            batch.leaders = list(leaders)
            yield batch
        finally:
            book.close()

    def _parse(self, sheet: str, row: int, cells: dict[str, Any], problems: list[RowProblem],
               seen: dict[str, int]) -> tuple[int, NewIssue, str, date | None] | None:
        bad = len(problems)

        def problem(key: str, value: Any, expected: str) -> None:
            label = next(c.label for c in ISSUE_COLUMNS if c.key == key)
            problems.append(RowProblem(sheet, row, label, value, expected))

        for column in ISSUE_COLUMNS:
            if column.required and _text(cells.get(column.key)) is None:
                problem(column.key, None, "is empty; it is required")
        number = _text(cells.get("number"))
        if number is not None:
            if number in seen:
                problem("number", number, f"repeats the 序号 of row {seen[number]}; each "
                                          "row needs its own 序号")
            else:
                seen[number] = row
        deadline, long_term = None, False
        raw_deadline = cells.get("deadline")
        if _text(raw_deadline) is not None:
            try:
                deadline, long_term = parse_deadline(raw_deadline)
            except ValueError:
                problem("deadline", raw_deadline, f"is not a date; write {DATE_FORMS} or "
                                                  f"{LONG_TERM}")
        state = self.initial
        raw_state = _text(cells.get("state"))
        if raw_state is not None:
            found = self.states.get(_header_key(raw_state))
            if found is None:
                problem("state", raw_state, f"is not a state of {self.ref}; allowed: "
                                            f"{self.state_labels}")
            else:
                state = found
        cleared_on = None
        raw_cleared = cells.get("cleared_on")
        if _text(raw_cleared) is not None:
            try:
                cleared_on = parse_date(raw_cleared, whole=True)
            except ValueError:
                problem("cleared_on", raw_cleared, "is not a date; write 2020-12-31, "
                                                   "2020/12/31 or 2020年12月31日")
        category = _text(cells.get("category"))
        if category is not None and self.plan_categories \
                and category not in self.plan_categories:
            problem("category", category, f"is not a category of plan {self.plan!r}; "
                                          f"allowed: {'、'.join(self.plan_categories)}")
        if len(problems) > bad:
            return None
        units = _names(cells.get("responsible_units"))
        return row, NewIssue(
            title=str(_text(cells.get("title"))), plan=self.plan, number=number,
            category=category, target=_text(cells.get("target")),
            measures=_text(cells.get("measures")), leader=_text(cells.get("leader")),
            lead_unit=_text(cells.get("lead_unit")), unit=units[0] if units else None,
            responsible_units=tuple(units[1:]), deadline=deadline, long_term=long_term,
            cooperating_units=tuple(_names(cells.get("cooperating_units"))),
            acceptance_unit=_text(cells.get("acceptance_unit")),
            progress_note=_text(cells.get("progress"))), state, cleared_on


def _read_in_child(reader: _IssueReader, queue: Any) -> None:
    """The child process: send each batch, or the file-level error that stopped it."""
    try:
        for batch in reader.batches():
            queue.put(batch)
    except InputError as exc:
        queue.put(InputError(str(exc)))
    except BaseException as exc:  # anything else: say what, so the parent can report it
        queue.put(InputError(f"{reader.path.name}: reading failed: {exc!r}"))


def _batches_from_child(reader: _IssueReader) -> Iterator[_Batch]:
    """The reader's batches, read in a child process (a core of its own) so that the parent
    writes while the next rows are parsed."""
    import multiprocessing
    import queue as queues

    context = multiprocessing.get_context("spawn")
    channel = context.Queue(maxsize=8)
    child = context.Process(target=_read_in_child, args=(reader, channel), daemon=True)
    child.start()
    try:
        while True:
            try:
                item = channel.get(timeout=1.0)
            except queues.Empty:
                if not child.is_alive():
                    raise InputError(f"{reader.path.name}: the reader stopped (exit code "
                                     f"{child.exitcode})") from None
                continue
            if isinstance(item, InputError):
                raise item
            yield item
            if item.done:
                return
    finally:
        child.kill() if child.is_alive() else None
        child.join()


@dataclass
class _Existing:
    id: int
    version: int
    head_hash: str
    state: str
    stage: str | None
    due_at: datetime | None
    due_provisional: bool
    escalation_level: str | None
    key_supervision: bool
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
        self.sql = engine.statements
        self.now = engine.clock.now()
        version = engine.registry.latest_version(definition)
        self.compiled = engine.registry.get(definition, version)
        states = self.compiled.definition.states
        self.states: dict[str, str] = {}
        for spec in states:
            for name in (spec.key, spec.label_zh, spec.label_en):
                self.states[_header_key(name)] = spec.key
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
            with self.sql.transaction() as cursor:  # rolled back by the LedgerError
                self._issues(cursor, existing)
                if not self.problems and book.is_xlsx \
                        and ACCOUNTABILITY_SHEET in book.sheet_names:
                    self._accountability(cursor, book.sheet(ACCOUNTABILITY_SHEET))
                if not self.problems:
                    self._directory(cursor, plan_exists=plan is not None)
                if self.problems:
                    raise LedgerError(self.path, self.problems)
        finally:
            book.close()
        return self.result

    def _existing(self, session: Any) -> dict[str, _Existing]:
        found: dict[str, _Existing] = {}
        for issue in session.scalars(select(Issue).where(Issue.plan == self.plan)):
            found[str(issue.number)] = _Existing(
                issue.id, issue.version, issue.head_hash, issue.state, issue.stage,
                issue.due_at, issue.due_provisional, issue.escalation_level,
                issue.key_supervision, {c: getattr(issue, c) for c in FACT_COLUMNS})
            self.numbers[str(issue.number)] = issue.id
        return found

    def _issues(self, cursor: Any, existing: dict[str, _Existing]) -> None:
        definition = self.compiled.definition
        reader = _IssueReader(self.path, self.sheet_name, self.plan, self.plan_categories,
                              self.states, self.state_labels, definition.initial,
                              definition.ref)
        parallel = self.parallel
        if parallel is None:
            parallel = self.path.stat().st_size >= PARALLEL_FROM_BYTES
        batches = _batches_from_child(reader) if parallel else reader.batches()
        for batch in batches:
            self.problems += batch.problems
            if not self.problems:
                for row, new, state, cleared_on in batch.items:
                    self._write_issue(cursor, row, new, state, cleared_on, existing=existing)
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

    def _write_issue(self, cursor: Any, row: int, new: NewIssue, state: str,
                     cleared_on: date | None, *, existing: dict[str, _Existing]) -> None:
        label = self.compiled.definition.state(state).label_zh
        comment = f"台账导入：{label}"
        old = existing.get(str(new.number))
        if old is None:
            issue_id = self.engine._insert_issue(
                cursor, new, self.compiled, actor=self.actor, comment=comment, now=self.now,
                state=state, trigger=IMPORT_TRIGGER, extra=self._payload(row, state, cleared_on))
            self.numbers[str(new.number)] = issue_id
            self.result.created += 1
            return
        self._update_issue(cursor, row, new, state, cleared_on, old, comment)

    def _update_issue(self, cursor: Any, row: int, new: NewIssue, state: str,
                      cleared_on: date | None, old: _Existing, comment: str) -> None:
        sql = self.sql
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
            values = {f"new_{key}": value for key, value in facts.items()}
            for key in ("responsible_units", "cooperating_units"):
                values[f"new_{key}"] = sql.json(values[f"new_{key}"])
            if values["new_deadline_at"] is not None:
                values["new_deadline_at"] = sql.time(values["new_deadline_at"])
            cursor.execute(sql.update_facts, {"issue_id": old.id, **values})
        previous = sql.read_issue(cursor, old.id)
        due = Due.of(previous)
        if state != old.state or "deadline_at" in changed:
            due = self.engine._enter(cursor, self.compiled, issue_id=old.id, state=state,
                                     deadline_at=facts["deadline_at"], previous=previous,
                                     now=self.now)
        if state != old.state:
            stages = self.compiled.states[state].stages
            first = stages[0] if stages else None
            sql.set_stage(cursor, old.id, first.key if first else None,
                          self.now + first.period if first and first.period else None)
        payload = self._payload(row, state, cleared_on)
        payload["changed"] = changed
        sql.record(cursor, issue_id=old.id, old_version=old.version, prev_hash=old.head_hash,
                   now=self.now, due=due, event=EventDraft(
                       self.actor.name, self.actor.role, IMPORT_TRIGGER, old.state, state,
                       comment, payload))
        self.result.updated += 1

    def _accountability(self, cursor: Any, sheet: Sheet) -> None:
        header = _find_header(sheet, ACCOUNTABILITY_COLUMNS, self.problems)
        if header is None or self.problems:
            return
        _number, index, _ignored = header
        known = self._known_records(cursor)
        for row, values in sheet.rows:
            if not any(v is not None and str(v).strip() for v in values):
                continue
            cells = {key: values[i] if i < len(values) else None for i, key in index.items()}
            parsed = self._parse_record(sheet.name, row, cells)
            if parsed is None or self.problems:
                continue
            new = parsed.normalised()
            key = (new.subject_type, new.subject, new.decided_by, new.decided_on)
            if key in known:
                self.result.accountability_unchanged += 1
                continue
            known.add(key)
            write_record(self.sql, cursor, new, actor=self.actor, now=self.now)
            self.result.accountability_added += 1

    def _known_records(self, cursor: Any) -> set[tuple[str, str, str, date]]:
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

        def problem(key: str, value: Any, expected: str) -> None:
            label = next(c.label for c in ACCOUNTABILITY_COLUMNS if c.key == key)
            self.problems.append(RowProblem(sheet, row, label, value, expected))

        for column in ACCOUNTABILITY_COLUMNS:
            if column.required and _text(cells.get(column.key)) is None:
                problem(column.key, None, "is empty; it is required")
        subject_type = _text(cells.get("subject_type"))
        if subject_type and subject_type not in SUBJECT_TYPES.values() \
                and subject_type not in SUBJECT_TYPES:
            problem("subject_type", subject_type,
                    f"is not a subject type; allowed: {'、'.join(SUBJECT_TYPES.values())}")
        rank = _text(cells.get("rank"))
        if rank:
            from workflow.accountability import rank_key

            try:
                rank_key(rank)
            except InputError:
                problem("rank", rank, f"is not a rank; allowed: {'、'.join(RANKS.values())} "
                                      "(or 厅级, 处级, 县级, 科级)")
        elif subject_type in ("领导干部", "cadre"):
            problem("rank", None, f"is empty; a cadre (领导干部) needs one of "
                                  f"{'、'.join(RANKS.values())}")
        methods = _names(cells.get("methods"))
        unknown = [m for m in methods if m not in METHODS.values() and m not in METHODS]
        if unknown:
            problem("methods", "、".join(unknown),
                    f"is not a method; allowed: {'、'.join(METHODS.values())}")
        issues: list[int] = []
        for number in _names(cells.get("issues")):
            if number not in self.numbers:
                problem("issues", number, f"is not a 序号 of plan {self.plan!r}")
            else:
                issues.append(self.numbers[number])
        decided_on = None
        raw_date = cells.get("decided_on")
        if _text(raw_date) is not None:
            try:
                decided_on = parse_date(raw_date, whole=True)
            except ValueError:
                problem("decided_on", raw_date, "is not a date; write 2020-12-31, 2020/12/31 "
                                                "or 2020年12月31日")
        disclosed = False
        try:
            disclosed = _boolean(cells.get("disclosed"))
        except ValueError:
            problem("disclosed", cells.get("disclosed"), "write 是 or 否")
        if len(self.problems) > bad or decided_on is None:
            return None
        return NewAccountability(
            subject_type=str(subject_type), subject=str(_text(cells.get("subject"))),
            methods=methods, decided_by=str(_text(cells.get("decided_by"))),
            decided_on=decided_on, issues=issues, rank=rank, unit=_text(cells.get("unit")),
            source=_text(cells.get("source")), disclosed=disclosed)

    def _directory(self, cursor: Any, *, plan_exists: bool) -> None:
        sql = self.sql
        if not plan_exists:
            cursor.execute(sql.insert_plan_if_new, {
                "name": self.plan, "inspection": None, "issued_on": None,
                "categories": sql.json(list(self.categories))})
            self.result.plan_created = True
        for name in self.units:
            cursor.execute(sql.insert_unit_if_new, {"name": name, "parent": None})
            self.result.units_added += max(cursor.rowcount, 0)
        # The importer is registered too (when new): once units and leaders exist, only
        # registered names may act, and the office must still be able to.
        people = {name: "leader" for name in self.leaders}
        people.setdefault(self.actor.name, self.actor.role)
        for name, role in people.items():
            cursor.execute(sql.insert_person_if_new, {
                "name": name, "title": None, "rank": None, "unit": None,
                "roles": sql.json([role]), "sectors": sql.json([])})
            self.result.people_added += max(cursor.rowcount, 0)


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

    from workflow.accountability import records
    from workflow.service import IssueFilter, cleared_dates, issue_view, list_issues

    now = engine.clock.now()
    issues = [i for i in list_issues(engine.db, engine.registry,
                                     IssueFilter(state=state, unit=unit, plan=plan), now=now)
              if i.parent_id is None]
    issues.sort(key=lambda i: (i.plan or "", _sort_number(i.number), i.id))
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
        sheet.column_dimensions[_column_letter(position)].width = width
    sheet.freeze_panes = "A2"
    header(sheet, labels)
    for issue in issues:
        view = issue_view(engine.db, issue, engine.registry, now)
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
    sheet.auto_filter.ref = f"A1:{_column_letter(len(labels) - 1)}{len(issues) + 1}"

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
    second.auto_filter.ref = f"A1:{_column_letter(len(ACCOUNTABILITY_COLUMNS) - 1)}" \
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


def _sort_number(number: str | None) -> tuple[int, str]:
    text = number or ""
    return (int(text), "") if text.isdigit() else (10**9, text)


def _number_cell(number: str | None) -> Any:
    return int(number) if number and number.isdigit() else number
