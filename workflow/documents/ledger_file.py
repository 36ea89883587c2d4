"""A ledger file before it is read: its sha256, the limits a file must keep, and the merged
cell ranges of its sheets.

``inspect_file`` looks at the file once, streamed, before openpyxl opens it: the size of the
file and of every part the zip declares (a zip cannot give more than it declares), no run of
text longer than a cell may hold (a "cell bomb": a small xlsx holding one huge cell), and the
``mergeCells`` of each worksheet, which openpyxl's read-only mode does not expose. XML is
parsed with defusedxml (no entities, no external references); openpyxl uses it too once it
is installed. Like ``ledger_read`` this module imports nothing of the engine.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.errors import InputError

MAX_FILE_BYTES = 50 * 2**20  # the file as uploaded
MAX_SHEET_BYTES = 2 * 2**30  # one worksheet's XML, unpacked (streamed, never held)
MAX_SHARED_STRINGS_BYTES = 64 * 2**20  # openpyxl holds the shared strings in memory
MAX_PART_BYTES = 20 * 2**20  # any other XML part (styles, workbook, relations)
MAX_PARTS = 10_000
MAX_ROWS = 1_000_000
MAX_COLUMNS = 100
MAX_CELL_CHARS = 32_767  # what an Excel cell holds
MAX_MERGED_RANGES = 100_000
# Bytes of XML one cell's text can take: a character is at most 4 bytes of UTF-8, or an
# entity such as &amp; or &#x10FFFF; (10 bytes).
MAX_TEXT_RUN = MAX_CELL_CHARS * 10
CHUNK = 1 << 20
SIZES = "at most 50 MB, 1,000,000 rows, 100 columns and 32,767 characters a cell"

_MERGE_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?mergeCells[\s>/]")
_MERGE_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?mergeCells>|<(?:[A-Za-z_][\w.-]*:)?mergeCells"
                        rb"[^>]*/>")
_PREFIX = re.compile(rb"(</?)[A-Za-z_][\w.-]*:")
_PREFIXED_ATTRIBUTE = re.compile(rb"\s[A-Za-z_][\w.-]*:[\w.-]+=\"[^\"]*\"")
_CELL = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")
REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

# A merged range: first column, first row, last column, last row (1-based).
CellRange = tuple[int, int, int, int]


@dataclass(frozen=True)
class LedgerFile:
    """What the inspection found: the file's sha256 and each sheet's merged ranges."""

    path: Path
    sha256: str
    merged: dict[str, list[CellRange]] = field(default_factory=dict)


def refuse(path: Path, what: str) -> InputError:
    return InputError(f"{path.name}: {what}; nothing imported. A ledger is an .xlsx workbook or "
                      f"a .csv file of {SIZES}")


def inspect_file(path: Path) -> LedgerFile:
    """Check ``path`` against the limits and read its sha256 and merged ranges.

    Raises:
        InputError: no such file, too large, or a part too large or holding a run of text
            longer than a cell may hold.
    """
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise refuse(path, f"the file has {size / 2**20:.0f} MB")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    merged: dict[str, list[CellRange]] = {}
    if zipfile.is_zipfile(path) and path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            with zipfile.ZipFile(path) as book:
                merged = _inspect_parts(path, book)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputError(f"{path.name}: cannot be read as an xlsx workbook ({exc}); give an "
                             ".xlsx workbook or a .csv file") from None
    return LedgerFile(path, digest.hexdigest(), merged)


def _inspect_parts(path: Path, book: zipfile.ZipFile) -> dict[str, list[CellRange]]:
    parts = book.infolist()
    if len(parts) > MAX_PARTS:
        raise refuse(path, f"the workbook has {len(parts):,} parts (at most {MAX_PARTS:,})")
    sheets = _sheet_parts(path, book)
    merged: dict[str, list[CellRange]] = {}
    for part in parts:
        name = part.filename
        if name in sheets:
            limit = MAX_SHEET_BYTES
        elif name == "xl/sharedStrings.xml":
            limit = MAX_SHARED_STRINGS_BYTES
        elif name.endswith((".xml", ".rels")):
            limit = MAX_PART_BYTES
        else:
            continue  # pictures and the like: the read-only import never opens them
        if part.file_size > limit:
            where = f"sheet {sheets[name]!r}" if name in sheets else name
            raise refuse(path, f"{where} unpacks to {part.file_size / 2**20:,.0f} MB (at most "
                               f"{limit / 2**20:,.0f} MB)")
        if name in sheets or name == "xl/sharedStrings.xml":
            ranges = _scan(path, book, name, sheets.get(name, "shared strings"))
            if name in sheets and ranges:
                merged[sheets[name]] = ranges
    return merged


def _sheet_parts(path: Path, book: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part → sheet name, from xl/workbook.xml and its relations."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    names = set(book.namelist())
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return {}
    for name in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
        if book.getinfo(name).file_size > MAX_PART_BYTES:
            raise refuse(path, f"{name} unpacks to more than {MAX_PART_BYTES // 2**20} MB")
    try:
        workbook = fromstring(book.read("xl/workbook.xml"))
        relations = fromstring(book.read("xl/_rels/workbook.xml.rels"))
    except (DefusedXmlException, SyntaxError) as exc:  # ParseError is a SyntaxError
        raise refuse(path, f"its workbook part is not well-formed or not allowed XML ({exc})") \
            from None
    targets = {}
    for relation in relations:
        target = relation.get("Target", "")
        target = target.lstrip("/") if target.startswith("/") else \
            posixpath.normpath(posixpath.join("xl", target))
        targets[relation.get("Id")] = target
    parts = {}
    for sheet in workbook.iter():
        if sheet.tag.rsplit("}", 1)[-1] == "sheet" and sheet.get(REL_NS) in targets:
            parts[targets[sheet.get(REL_NS)]] = sheet.get("name", "")
    return parts


def _scan(path: Path, book: zipfile.ZipFile, part: str, where: str) -> list[CellRange]:
    """Stream a part: refuse a run of text longer than a cell may hold; return the merged
    ranges of a worksheet."""
    run = 0  # bytes since the last '<', carried over chunk boundaries
    fragment: bytearray | None = None
    tail = b""
    with book.open(part) as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            pieces = chunk.split(b"<")  # in C: a regex would be quadratic on long runs
            run += len(pieces[0])
            if run > MAX_TEXT_RUN or (len(pieces) > 2 and max(map(len, pieces[1:-1])) >
                                      MAX_TEXT_RUN):
                raise refuse(path, f"{where} holds a text of more than {MAX_CELL_CHARS:,} "
                                   "characters (a cell holds at most that)")
            if len(pieces) > 1:
                run = len(pieces[-1])
            del pieces
            if fragment is None:
                window = tail + chunk
                found = _MERGE_START.search(window)
                if found is not None:
                    fragment = bytearray(window[found.start():])
                tail = window[-64:]
            else:
                fragment += chunk
            if fragment is not None:
                if len(fragment) > MAX_MERGED_RANGES * 40:
                    raise refuse(path, f"sheet {where!r} has more than "
                                       f"{MAX_MERGED_RANGES:,} merged ranges")
                end = _MERGE_END.search(fragment)
                if end is not None:
                    return _merged_ranges(path, where, bytes(fragment[:end.end()]))
    return []


def _merged_ranges(path: Path, where: str, fragment: bytes) -> list[CellRange]:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    plain = _PREFIX.sub(rb"\1", _PREFIXED_ATTRIBUTE.sub(b"", fragment))
    try:
        element = fromstring(plain)
    except (DefusedXmlException, SyntaxError) as exc:
        raise refuse(path, f"the merged cells of sheet {where!r} are not well-formed XML "
                           f"({exc})") from None
    ranges = []
    for item in element:
        ref = item.get("ref", "")
        cells = [_cell(c) for c in ref.split(":")]
        if len(cells) == 2 and None not in cells:
            (col1, row1), (col2, row2) = cells  # type: ignore[misc]
            ranges.append((min(col1, col2), min(row1, row2), max(col1, col2), max(row1, row2)))
    if len(ranges) > MAX_MERGED_RANGES:
        raise refuse(path, f"sheet {where!r} has {len(ranges):,} merged ranges (at most "
                           f"{MAX_MERGED_RANGES:,})")
    return ranges


def _cell(ref: str) -> tuple[int, int] | None:
    match = _CELL.match(ref.replace("$", ""))
    if match is None:
        return None
    column = 0
    for letter in match[1]:
        column = column * 26 + ord(letter) - 64
    return column, int(match[2])


def fill_merged(rows: Iterator[tuple[int, tuple[Any, ...]]], ranges: list[CellRange],
                ) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """The rows with the value of each merged range in every row of the range (in the
    range's first column; a range over several columns leaves the others empty, as Excel
    shows them)."""
    pending = sorted((r for r in ranges if r[3] > r[1]), key=lambda r: r[1])
    active: list[tuple[int, int, Any]] = []  # column index, last row, value
    next_range = 0
    for number, values in rows:
        if active:
            active = [a for a in active if a[1] >= number]
            filled = list(values)
            for column, _last, value in active:
                if column >= len(filled):
                    filled += [None] * (column + 1 - len(filled))
                if filled[column] is None:
                    filled[column] = value
            values = tuple(filled)
        while next_range < len(pending) and pending[next_range][1] <= number:
            first_column, first_row, _last_column, last_row = pending[next_range]
            next_range += 1
            if first_row == number and first_column - 1 < len(values):
                value = values[first_column - 1]
                if value is not None:
                    active.append((first_column - 1, last_row, value))
        yield number, values
