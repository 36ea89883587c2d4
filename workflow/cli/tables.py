"""Rich renderings shared by CLI commands: the ledger table (台账) and an issue's history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.table import Table

from workflow.clock import local
from workflow.issues.views import event_labels
from workflow.models import IssueEvent
from workflow.spec.registry import Registry

LONG_TERM_LABEL = "长期坚持"
LIGHT_STYLES = {"green": "green", "blue": "blue", "yellow": "yellow", "red": "bold red"}


def ledger_table(views: Iterable[dict[str, Any]], *, title: str = "整改情况清单 / Ledger") -> Table:
    """The ledger columns officials use, from ``service.issue_view`` dicts."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for header in ("ID", "序号", "问题类别", "反馈问题", "责任领导", "牵头单位", "责任单位",
                   "整改时限", "整改状态", "逾期天数", "预警"):
        table.add_column(header, overflow="fold")
    for view in views:
        deadline = LONG_TERM_LABEL if view["long_term"] else (view["deadline"] or "—")
        overdue = view["days_overdue"]
        table.add_row(
            str(view["id"]), view["number"] or "—", view["category"] or "—", view["title"],
            view["leader"] or "—", view["lead_unit"] or "—", view["unit"] or "—", deadline,
            f"{view['state_label_zh']} {view['state_label_en']}" + (
                f" · {view['stage_label_zh']}" if view.get("stage_label_zh") else ""),
            f"[red]{overdue}[/red]" if overdue else "0",
            f"[{LIGHT_STYLES[view['light']]}]●[/] {view['light_label_zh']}",
        )
    return table


def history_table(events: Iterable[IssueEvent], registry: Registry, definition_id: str,
                  version: int, *, title: str) -> Table:
    """One issue's events with state labels, times in Asia/Shanghai and short hashes."""
    labels, triggers = event_labels(registry, definition_id, version)
    table = Table(title=title, header_style="bold")
    for header in ("#", "时间 (Asia/Shanghai)", "操作", "人员/单位", "角色", "状态变化", "说明",
                   "佐证/清单", "hash"):
        table.add_column(header, overflow="fold")
    for event in events:
        change = labels.get(event.to_state, event.to_state)
        if event.from_state:
            change = f"{labels.get(event.from_state, event.from_state)} → {change}"
        extras = [f"📎 {item['name']}" for item in event.payload.get("evidence", [])]
        if "checklist" in event.payload:
            extras.append(f"✔ {len(event.payload['checklist'])} 项")
        extras += [f"{key}={value}" for key, value in event.payload.get("fields", {}).items()]
        table.add_row(str(event.seq), f"{local(event.at):%Y-%m-%d %H:%M}",
                      triggers.get(event.trigger, event.trigger), event.actor, event.role, change,
                      event.comment or "", "\n".join(extras), event.hash[:10])
    return table
