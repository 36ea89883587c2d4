"""Reading a ledger file: the columns, the cell values officials type, and the reader that
checks the issues' sheet row by row.

This module imports nothing of the engine (no database, no SQLAlchemy), so that the child
process reading a large file starts quickly and stays small; ``ledger_import`` writes.
"""

from __future__ import annotations

import calendar
import codecs
import csv
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from workflow.documents.ledger_file import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_ROWS,
    CellRange,
    fill_merged,
    refuse,
)
from workflow.errors import InputError

ISSUE_SHEET = "整改情况清单"
ACCOUNTABILITY_SHEET = "问责情况"
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
        return {header_key(name) for name in (self.label, self.key, *self.aliases)}


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
    Column("cleared_on", "销号日期", ("cleared on", "clearance date", "完成时间", "完成日期")),
    Column("assigned_on", "交办日期", ("assigned on", "assignment date")),
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


def header_key(text: str) -> str:
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
        return f"{where}:{shown} {self.expected}"

    def as_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "row": self.row, "column": self.column,
                "value": None if self.value is None else str(self.value),
                "expected": self.expected}


# ---- reading ------------------------------------------------------------------------------

@dataclass
class Sheet:
    """A sheet's rows as (row number, cell values), streamed; ``total`` when known."""

    name: str
    rows: Iterator[tuple[int, tuple[Any, ...]]]
    total: int | None


class Workbook:
    """An xlsx workbook (read-only, streamed) or a CSV file (one sheet). ``merged`` holds
    each sheet's merged ranges (``ledger_file.inspect_file``): the value of a range is read
    into every row of it."""

    def __init__(self, path: Path, *, merged: dict[str, list[CellRange]] | None = None):
        self.path = path
        self.merged = merged or {}
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
        if total is not None and total > MAX_ROWS + HEADER_SEARCH_ROWS:
            raise refuse(self.path, f"sheet {name!r} has {total:,} rows")
        rows: Iterator[tuple[int, tuple[Any, ...]]] = enumerate(
            sheet.iter_rows(values_only=True), start=1)
        if self.merged.get(name):
            rows = fill_merged(rows, self.merged[name])
        return Sheet(name, rows, total)

    def _csv_rows(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        csv.field_size_limit(MAX_CELL_CHARS * 4)  # a longer cell is refused, not read whole
        with self.path.open(encoding=self._csv_encoding(), newline="") as handle:
            try:
                for number, row in enumerate(csv.reader(handle), start=1):
                    yield number, tuple(row)
            except csv.Error as exc:
                raise refuse(self.path, f"the CSV cannot be read ({exc})") from None

    def _csv_encoding(self) -> str:
        """UTF-8 (with or without BOM) when the whole file decodes as such, else GB18030
        (what Excel writes for a Chinese CSV); checked a megabyte at a time, never loaded."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        with self.path.open("rb") as handle:
            try:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return "gb18030"
        return "utf-8-sig"

    def close(self) -> None:
        if self._book is not None:
            self._book.close()


def row_checker(problems: list[RowProblem], sheet: str, row: int, columns: Sequence[Column],
                cells: dict[str, Any]) -> Callable[[str, Any, str], None]:
    """Record every required cell of the row left empty; return ``problem(key, value,
    expected)``, which records a bad cell of that row under its column's label."""
    labels = {column.key: column.label for column in columns}

    def problem(key: str, value: Any, expected: str) -> None:
        problems.append(RowProblem(sheet, row, labels[key], value, expected))

    for column in columns:
        if column.required and cell_text(cells.get(column.key)) is None:
            problem(column.key, None, "is empty; it is required")
    return problem


def within_limits(path: Path, sheet: Sheet, row: int, values: Sequence[Any]) -> None:
    """Refuse a row past ``MAX_ROWS``, a value past column ``MAX_COLUMNS`` or a cell longer
    than ``MAX_CELL_CHARS``.

    Raises:
        InputError: naming the sheet, row and cell, and what is allowed.
    """
    if row > MAX_ROWS + HEADER_SEARCH_ROWS:
        raise refuse(path, f"sheet {sheet.name!r} has more than {MAX_ROWS:,} rows")
    for position in range(len(values) - 1, MAX_COLUMNS - 1, -1):
        if values[position] is not None and str(values[position]).strip():
            raise refuse(path, f"sheet {sheet.name!r} row {row}: a value in column "
                               f"{column_letter(position)}, past column "
                               f"{column_letter(MAX_COLUMNS - 1)}")
    for position, value in enumerate(values[:MAX_COLUMNS]):
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            raise refuse(path, f"sheet {sheet.name!r} row {row}, column "
                               f"{column_letter(position)}: a cell of {len(value):,} "
                               "characters")


def data_rows(sheet: Sheet, index: dict[int, str], path: Path,
              ) -> Iterator[tuple[int, dict[str, Any]]]:
    """The rows under the header as (row number, column key → value), blank lines skipped;
    every row kept within the limits (``within_limits``)."""
    for row, values in sheet.rows:
        within_limits(path, sheet, row, values)
        if any(v is not None and str(v).strip() for v in values):
            yield row, {key: values[i] if i < len(values) else None
                        for i, key in index.items()}


def find_header(sheet: Sheet, columns: Sequence[Column], problems: list[RowProblem],
                 ) -> tuple[int, dict[int, str], list[str]] | None:
    """The header row: its number, column index → key, and headers not understood."""
    first = columns[0]
    first_names = first.names()
    known = {name: column.key for column in (*columns, *EXPORT_COLUMNS)
             for name in column.names()}
    for number, values in sheet.rows:
        cells = ["" if v is None else str(v).strip() for v in values[:MAX_COLUMNS]]
        if not any(header_key(c) in first_names for c in cells):
            if number >= HEADER_SEARCH_ROWS:
                break
            continue
        last = max(i for i, c in enumerate(cells) if c)
        index: dict[int, str] = {}
        ignored: list[str] = []
        for position, cell in enumerate(cells[:last + 1]):
            letter = column_letter(position)
            if not cell:
                problems.append(RowProblem(
                    sheet.name, number, f"column {letter}", None,
                    "empty header cell between named columns (merged header cells?); the "
                    "header must be one row with one column name per cell"))
                continue
            key = known.get(header_key(cell))
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


def column_letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(position + 1)


# ---- cell values --------------------------------------------------------------------------

def cell_text(value: Any) -> str | None:
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


def cell_names(value: Any) -> list[str]:
    text = cell_text(value)
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


def optional_date(value: Any, bad: Callable[[Any, str], None]) -> date | None:
    """A cell holding a whole date, or None when it is empty; a bad one is reported through
    ``bad(value, what is expected)`` and gives None."""
    if cell_text(value) is None:
        return None
    try:
        return parse_date(value, whole=True)
    except ValueError:
        bad(value, "is not a date; write 2020-12-31, 2020/12/31 or 2020年12月31日")
        return None


def parse_deadline(value: Any) -> tuple[date | None, bool]:
    """整改时限: (date, False), or (None, True) for 长期坚持."""
    if isinstance(value, str) and value.strip() in (LONG_TERM, "长期", "long-term", "long term"):
        return None, True
    return parse_date(value), False


def cell_boolean(value: Any) -> bool:
    text = (cell_text(value) or "").lower()
    if text in YES:
        return True
    if text in NO:
        return False
    raise ValueError(text)


# ---- import -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowDates:
    """The dates a row gives: 销号日期 (of a cleared item) and 交办日期, when filled in."""

    cleared_on: date | None = None
    assigned_on: date | None = None


# One parsed row: (row number, the fields of a NewIssue, state key, its dates).
ParsedRow = tuple[int, dict[str, Any], str, RowDates]


@dataclass
class Batch:
    """Rows parsed by the reader and the problems found."""

    sheet: str = ""
    items: list[ParsedRow] = field(default_factory=list)
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
class IssueReader:
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
    as_of: date  # the day the ledger describes; no date of the sheet may come after it
    merged: dict[str, list[CellRange]] = field(default_factory=dict)  # by sheet name
    batch_size: int = 500

    def batches(self) -> Iterator[Batch]:
        book = Workbook(self.path, merged=self.merged)
        try:
            name = self.sheet
            if name is None and ISSUE_SHEET in book.sheet_names:
                name = ISSUE_SHEET
            sheet = book.sheet(name)
            batch = Batch(sheet=sheet.name, total=sheet.total)
            header = find_header(sheet, ISSUE_COLUMNS, batch.problems)
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
            for row, cells in data_rows(sheet, index, self.path):
                rows += 1
                parsed = self._parse(sheet.name, row, cells, batch.problems, seen)
                if parsed is not None:
                    batch.items.append(parsed)
                    new = parsed[1]
                    if new["category"]:
                        categories.setdefault(new["category"])
                    for unit in (new["lead_unit"], new["unit"], *new["responsible_units"],
                                 *new["cooperating_units"], new["acceptance_unit"]):
                        if unit:
                            units.setdefault(unit)
                    if new["leader"]:
                        leaders.setdefault(new["leader"])
                if len(batch.items) >= self.batch_size or len(batch.problems) >= \
                        self.batch_size:
                    batch.read = row
                    yield batch
                    batch = Batch(sheet=sheet.name, total=sheet.total)
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
               seen: dict[str, int]) -> ParsedRow | None:
        bad = len(problems)
        problem = row_checker(problems, sheet, row, ISSUE_COLUMNS, cells)
        number = cell_text(cells.get("number"))
        if number is not None:
            if number in seen:
                problem("number", number, f"repeats the 序号 of row {seen[number]}; each "
                                          "row needs its own 序号")
            else:
                seen[number] = row
        deadline, long_term = None, False
        raw_deadline = cells.get("deadline")
        if cell_text(raw_deadline) is not None:
            try:
                deadline, long_term = parse_deadline(raw_deadline)
            except ValueError:
                problem("deadline", raw_deadline, f"is not a date; write {DATE_FORMS} or "
                                                  f"{LONG_TERM}")
        state = self.initial
        raw_state = cell_text(cells.get("state"))
        if raw_state is not None:
            found = self.states.get(header_key(raw_state))
            if found is None:
                problem("state", raw_state, f"is not a state of {self.ref}; allowed: "
                                            f"{self.state_labels}")
            else:
                state = found
        dates = {key: optional_date(cells.get(key), lambda value, expected, key=key:
                                    problem(key, value, expected))
                 for key in ("cleared_on", "assigned_on")}
        for key, day in dates.items():
            if day is not None and day > self.as_of:
                problem(key, cells.get(key), f"is after {self.as_of.isoformat()}, the day the "
                                             "ledger describes (ledger import --as-of)")
        if dates["assigned_on"] and dates["cleared_on"] and \
                dates["assigned_on"] > dates["cleared_on"]:
            problem("assigned_on", cells.get("assigned_on"), "is after the 销号日期 "
                                                            f"{dates['cleared_on'].isoformat()}")
        category = cell_text(cells.get("category"))
        if category is not None and self.plan_categories \
                and category not in self.plan_categories:
            problem("category", category, f"is not a category of plan {self.plan!r}; "
                                          f"allowed: {'、'.join(self.plan_categories)}")
        if len(problems) > bad:
            return None
        units = cell_names(cells.get("responsible_units"))
        return row, {  # the fields of a NewIssue (built by the writer)
            "title": str(cell_text(cells.get("title"))), "plan": self.plan, "number": number,
            "category": category, "target": cell_text(cells.get("target")),
            "measures": cell_text(cells.get("measures")), "leader": cell_text(cells.get("leader")),
            "lead_unit": cell_text(cells.get("lead_unit")), "unit": units[0] if units else None,
            "responsible_units": tuple(units[1:]), "deadline": deadline,
            "long_term": long_term,
            "cooperating_units": tuple(cell_names(cells.get("cooperating_units"))),
            "acceptance_unit": cell_text(cells.get("acceptance_unit")),
            "progress_note": cell_text(cells.get("progress"))}, state, RowDates(**dates)


def batches_from_child(reader: IssueReader) -> Iterator[Batch]:
    """The reader's batches, read by a child process (``python -m
    workflow.documents.ledger_read``, on a core of its own) while the caller writes. The
    pipe's buffer keeps the child a few batches ahead at most, so memory stays flat however
    long the file."""
    import pickle
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-m", "workflow.documents.ledger_read"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    try:
        pickle.dump(reader, child.stdin)
        child.stdin.close()
        while True:
            try:
                item = pickle.load(child.stdout)
            except EOFError:
                child.wait()
                detail = (child.stderr.read().decode(errors="replace").strip().splitlines()
                          if child.stderr else [])
                raise InputError(f"{reader.path.name}: the reader stopped (exit code "
                                 f"{child.returncode}): {detail[-1] if detail else ''}") \
                    from None
            if isinstance(item, InputError):
                raise item
            yield item
            if item.done:
                return
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


def _serve_batches() -> None:
    """The child: read an IssueReader from stdin, write its batches (or the file-level error
    that stopped it) to stdout, pickled."""
    import pickle
    import sys

    reader = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        for batch in reader.batches():
            pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
    except InputError as exc:
        pickle.dump(InputError(str(exc)), out)
        out.flush()


if __name__ == "__main__":
    _serve_batches()
