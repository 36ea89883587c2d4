"""The ledger (台账) export: the issues as the office's xlsx ledger, with the light, days
overdue, last monthly report and clearance date, the accountability records, and a sheet
历史存证 naming the latest history checkpoint (``figures.checkpoint_zh``). Every cell goes
through ``safe_text.text_cell``: text that looks like a formula stays text. The import reads
only 整改情况清单 and 问责情况, so an exported ledger imports again as it is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from workflow.clock import local
from workflow.documents.figures import checkpoint_zh
from workflow.documents.ledger_read import (
    ACCOUNTABILITY_COLUMNS,
    ACCOUNTABILITY_SHEET,
    EXPORT_COLUMNS,
    ISSUE_COLUMNS,
    ISSUE_SHEET,
    LONG_TERM,
    column_letter,
)
from workflow.documents.safe_text import text_cell, text_cells
from workflow.issues.checkpoints import Checkpoint
from workflow.issues.engine import Engine
from workflow.models import Issue, ProgressReport

CHECKPOINT_SHEET = "历史存证"
LIGHT_FILLS = {"red": "FFC7CE", "yellow": "FFEB9C", "blue": "BDD7EE", "green": "C6EFCE"}


def export_ledger(engine: Engine, path: Path, *, checkpoint: Checkpoint | None,
                  plan: str | None = None, state: str | None = None,
                  unit: str | None = None, issues: Sequence[Issue] | None = None) -> int:
    """Write the ledger as xlsx: the official columns plus light, days overdue, last monthly
    report and clearance date (sheet 整改情况清单), the accountability records (sheet
    问责情况), and ``checkpoint`` (the latest signed one; None: there is none yet) on sheet
    历史存证. ``issues`` given (the ledger page's filtered view), exactly those are written,
    in their order; else every issue but subtasks matching ``plan``, ``state`` and ``unit``,
    by plan and 序号. Returns the number of issues written."""
    from openpyxl import Workbook as XlsxWorkbook
    from openpyxl.styles import Alignment, Font, PatternFill

    from workflow.issues.queries import (
        IssueFilter,
        assigned_dates,
        cleared_dates,
        list_issues,
        number_order,
    )
    from workflow.issues.views import issue_views
    from workflow.supervision.accountability import records

    now = engine.clock.now()
    if issues is None:
        chosen = [i for i in list_issues(engine.db, engine.registry,
                                         IssueFilter(state=state, unit=unit, plan=plan),
                                         now=now) if i.parent_id is None]
        chosen.sort(key=lambda i: (i.plan or "", number_order(i.number), i.id))
    else:
        chosen = list(issues)
    issues = chosen
    cleared = cleared_dates(engine.db, engine.registry, issues)
    assigned = assigned_dates(engine.db, issues)
    reports = _last_reports(engine, [i.id for i in issues])
    book = XlsxWorkbook(write_only=True)
    sheet = book.create_sheet(ISSUE_SHEET)
    header_font, header_fill = Font(bold=True), PatternFill("solid", fgColor="D9E1F2")
    wrap = Alignment(wrap_text=True, vertical="top")

    def header(target: Any, labels: Sequence[str]) -> None:
        cells = []
        for label in labels:
            cell = text_cell(target, label)
            cell.font, cell.fill = header_font, header_fill
            cells.append(cell)
        target.append(cells)

    labels = [c.label for c in ISSUE_COLUMNS] + [c.label for c in EXPORT_COLUMNS]
    widths = [6, 14, 40, 30, 40, 10, 16, 20, 16, 16, 12, 30, 10, 12, 12, 8, 8, 30]
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
            assigned.get(issue.id), view["light_label_zh"], view["days_overdue"] or None,
            reports.get(issue.id)]
        row = []
        for position, value in enumerate(values):
            cell = text_cell(sheet, value)
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
        second.append(text_cells(second, [
            item["subject"], item["subject_type_label"], item["unit"], item["rank_label"],
            "、".join(item["method_labels"]), "、".join(str(n) for n in linked),
            item["decided_by"], item["decided_on"], "是" if item["disclosed"] else "否",
            item["source"]]))
        written += 1
    second.auto_filter.ref = f"A1:{column_letter(len(ACCOUNTABILITY_COLUMNS) - 1)}" \
                             f"{written + 1}"
    third = book.create_sheet(CHECKPOINT_SHEET)
    third.column_dimensions["A"].width = 100
    third.append([checkpoint_zh(checkpoint)])
    if checkpoint is not None:
        header(third, ["存证序号", "签名时间", "摘要", "默克尔根", "问题数", "记录数"])
        third.append([checkpoint.seq, f"{local(checkpoint.at):%Y-%m-%d %H:%M}",
                      checkpoint.digest, checkpoint.root, checkpoint.issues, checkpoint.events])
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
