"""User text made safe in the files the office hands out: a spreadsheet cell never becomes a
formula, a Markdown report carries no HTML and no link or image it did not write itself.

Titles, measures, unit names and progress notes come from people and from imported ledgers.
In an xlsx a text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
what spreadsheet programs take for a formula (``=HYPERLINK(…)`` leaks data, ``=cmd|…`` runs
a program), so such a cell is written as a string (``data_type`` ``s``) with the
``quotePrefix`` style, which keeps it text even when someone edits it; reading it back gives
the same text. HTML pages are escaped by Jinja2's autoescape (``figures.html_document``);
Markdown is escaped here. A control character (U+0000–U+001F but tab and line breaks),
which the xlsx format cannot hold, is written as U+FFFD (�), so the file is still written and
shows where the text had one.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Markdown's own markup that would turn a title into a link or an image.
_MARKDOWN_LINK_MARKS = str.maketrans({"[": "\\[", "]": "\\]"})


def text_cell(sheet: Any, value: Any) -> Any:
    """An openpyxl cell of ``sheet`` holding ``value``; text that a spreadsheet would take for
    a formula stays text. Numbers, dates and None are kept as they are. The cell goes to
    ``sheet.append`` (a write-only sheet's or an ordinary one's)."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def text_cells(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """``text_cell`` for each of ``values``: one row for ``sheet.append``."""
    return [text_cell(sheet, value) for value in values]


def markdown_text(value: Any, *, one_line: bool = True) -> str:
    """``value`` as text for a Markdown report: HTML escaped (a ``<img onerror=…>`` title
    shows as text) and link and image brackets escaped; ``one_line`` (a title, a table cell)
    also joins its lines and writes ``|`` as a full-width ｜, so a table row stays one row
    of the same cells."""
    text = html.escape(str(value), quote=False).replace("\\", "\\\\")
    text = text.translate(_MARKDOWN_LINK_MARKS)
    if not one_line:
        return text
    return " ".join(text.replace("|", "｜").splitlines())
