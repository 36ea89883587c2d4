"""The public disclosure list (信息公开): only the fields an office publishes.

序号, 问题, 整改措施, 责任单位, 整改时限, 整改状态 and 销号日期, nothing else: no leaders, no
contacts, no internal notes or progress text, no evidence, no history. The rows come from
``service.public_views``, the same projection the public role reads. The page escapes
every value and the workbook writes text that looks like a formula as text
(``safe_text``). Both files end with the latest history checkpoint's line
(``figures.checkpoint_zh``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workflow.documents.figures import checkpoint_zh, html_document
from workflow.documents.safe_text import text_cells
from workflow.issues import policy
from workflow.issues.checkpoints import Checkpoint
from workflow.issues.engine import Engine
from workflow.issues.queries import IssueFilter, list_issues, number_order
from workflow.issues.views import public_views

# (view key, column header) in the order published.
PUBLIC_COLUMNS = (("number", "序号"), ("title", "问题"), ("measures", "整改措施"),
                  ("units", "责任单位"), ("deadline", "整改时限"),
                  ("state_label_zh", "整改状态"), ("cleared_on", "销号日期"))

def public_rows(engine: Engine, *, plan: str | None = None) -> list[list[Any]]:
    """The published rows, one per top-level issue, in 序号 order."""
    now = engine.clock.now()
    issues = sorted((i for i in list_issues(engine.db, engine.registry,
                                            IssueFilter(plan=plan), now=now)
                     if policy.is_disclosed(i)), key=lambda i: (number_order(i.number), i.id))
    rows = []
    for view in public_views(engine.db, issues, engine.registry, now):
        view["units"] = "、".join(view["responsible_units"]) or view["unit"] or ""
        view["deadline"] = "长期坚持" if view["long_term"] else view["deadline"]
        rows.append([view[key] if view[key] is not None else "" for key, _ in PUBLIC_COLUMNS])
    return rows


def write_public(engine: Engine, *, out: Path, checkpoint: Checkpoint | None,
                 plan: str | None = None) -> list[Path]:
    """Write 信息公开.html and 信息公开.xlsx into ``out``, each naming ``checkpoint`` (the
    latest signed one, ``checkpoints.latest_checkpoint``; None: there is none yet); returns
    their paths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    rows = public_rows(engine, plan=plan)
    headers = [label for _, label in PUBLIC_COLUMNS]
    title = f"{plan or ''}整改落实情况公开清单"
    out.mkdir(parents=True, exist_ok=True)
    html = out / "信息公开.html"
    line = checkpoint_zh(checkpoint)
    html.write_text(html_document(title, [line], [("", headers, rows)]), encoding="utf-8")
    book = Workbook()
    sheet = book.active
    sheet.title = "信息公开"
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(text_cells(sheet, row))
    sheet.append([line])
    sheet.freeze_panes = "A2"
    xlsx = out / "信息公开.xlsx"
    book.save(xlsx)
    return [html, xlsx]
