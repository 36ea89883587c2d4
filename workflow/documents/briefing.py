"""The monthly briefing (月度调度): progress at the month's end, a burn-down chart of open
issues per week, the red and black lists of units (红黑榜), the items under 重点督办 and the
accountability decided that month; written as Markdown and HTML with the chart as PNG.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from workflow.clock import local
from workflow.documents.figures import (
    Progress,
    Section,
    html_document,
    markdown_document,
    progress_report,
    state_counts_at,
    states_at,
)
from workflow.errors import InputError
from workflow.issues.engine import Engine, deadline_instant
from workflow.spec.durations import MONTH_PATTERN, month_days
from workflow.supervision.accountability import records

BURN_DOWN_WEEKS = 26
RANKED = 5  # units on each list


def _month(text: str) -> tuple[date, date]:
    if not MONTH_PATTERN.match(text):
        raise InputError(f"--month {text!r}: write the month as YYYY-MM, e.g. 2021-03")
    return month_days(text)


def burn_down(engine: Engine, end: date, *, plan: str | None = None,
              weeks: int = BURN_DOWN_WEEKS) -> list[tuple[date, int]]:
    """(week's last day, open issues at its end) for the weeks up to ``end``, oldest first."""
    points = []
    for back in range(weeks - 1, -1, -1):
        day = end - timedelta(days=7 * back)
        at = min(deadline_instant(day), engine.clock.now())
        counts = state_counts_at(engine, at, plan=plan)
        points.append((day, sum(n for (d, v, state), n in counts.items()
                                if not engine.registry.get(d, v).states[state].completed)))
    while len(points) > 1 and points[0][1] == 0:  # before the plan began
        points.pop(0)
    return points


def ranking(report: Progress) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """红榜 (best completion, nothing overdue) and 黑榜 (highest overdue rate) of units."""
    rows = [{"unit": unit, "total": t.total, "cleared": t.cleared, "overdue": t.overdue,
             "completion": round(100 * t.completion, 1),
             "overdue_rate": round(100 * t.overdue_rate, 1)}
            for unit, t in report.by_unit.items()]
    red = sorted((r for r in rows if r["overdue"] == 0),
                 key=lambda r: (-r["completion"], -r["total"], r["unit"]))[:RANKED]
    black = sorted((r for r in rows if r["overdue"] > 0),
                   key=lambda r: (-r["overdue_rate"], -r["overdue"], r["unit"]))[:RANKED]
    return red, black


def _chart(points: list[tuple[date, int]], path: Path, month: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(8, 3.5), dpi=100)
    axes.plot([p[0] for p in points], [p[1] for p in points], marker="o")
    axes.set_title(f"Open issues per week, up to {month}")
    axes.set_ylabel("open issues")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def write_monthly(engine: Engine, *, month: str, out: Path,
                  plan: str | None = None) -> list[Path]:
    """Write 月度调度-YYYY-MM.md, .html and burndown-YYYY-MM.png into ``out``."""
    first, last = _month(month)
    report = progress_report(engine, plan=plan, as_of=last)
    points = burn_down(engine, last, plan=plan)
    red, black = ranking(report)
    at = report.as_of
    key_items = [(issue, state) for issue, state in states_at(engine, at, plan=plan)
                 if issue.key_supervision and not engine.registry.get(
                     issue.definition_id, issue.definition_version).states[state].completed]
    new_records = [r for r in records(engine)
                   if first.isoformat() <= r["decided_on"] <= last.isoformat()]
    out.mkdir(parents=True, exist_ok=True)
    chart = out / f"burndown-{month}.png"
    _chart(points, chart, month)
    sections: list[Section] = [
        ("红榜 (completion, nothing overdue)", ["责任单位", "总数", "已完成", "完成率%"],
         [[r["unit"], r["total"], r["cleared"], r["completion"]] for r in red]),
        ("黑榜 (overdue rate)", ["责任单位", "总数", "超期", "超期率%"],
         [[r["unit"], r["total"], r["overdue"], r["overdue_rate"]] for r in black]),
        ("重点督办", ["序号", "问题", "责任单位", "整改时限"],
         [[i.number or i.id, i.title, "、".join(i.responsible_units or []) or i.unit or "",
           local(i.deadline_at).date().isoformat() if i.deadline_at else "长期坚持"]
          for i, _ in key_items]),
        ("本月问责", ["问责对象", "类型", "职级", "问责方式", "决定机关", "决定日期"],
         [[r["subject"], r["subject_type_label"], r["rank_label"] or "",
           "、".join(r["method_labels"]), r["decided_by"], r["decided_on"]]
          for r in new_records]),
        report.overdue_section(),
    ]
    title = f"{plan or ''}整改工作月度调度（{first.year}年{first.month}月）"
    paragraphs = [report.summary_zh(), report.accountability_zh()]
    image = (chart.name, "open issues per week")
    markdown = out / f"月度调度-{month}.md"
    markdown.write_text(markdown_document(title, paragraphs, sections, image=image),
                        encoding="utf-8")
    page = out / f"月度调度-{month}.html"
    page.write_text(html_document(title, paragraphs, sections, image=image), encoding="utf-8")
    return [markdown, page, chart]
