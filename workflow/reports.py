"""Progress figures (整改进展) and the monthly progress report sent to the office.

``progress`` counts issues by state, completed and overdue as of a moment; ``queue_monthly``
puts the monthly briefing for the office into the outbox once per month (its dedupe key
names the month, so a repeated run queues nothing).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from workflow.clock import local
from workflow.engine import Engine
from workflow.models import Issue
from workflow.notify.outbox import queue_message, recipients
from workflow.notify.render import DEFAULT_OFFICE, OFFICE_ENV, zh_date


@dataclass
class Progress:
    """Counts as of ``as_of``: ``by_state`` maps state keys to counts, ``labels`` state keys
    to their Chinese labels; ``completed`` counts issues in a completed state."""

    as_of: datetime
    total: int = 0
    completed: int = 0
    overdue: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def in_progress(self) -> int:
        return self.total - self.completed

    def summary_zh(self) -> str:
        """The sentence officials write, e.g. 截至2021年3月28日,68个整改任务,已完成整改66个,
        其余2个正在推进整改."""
        text = (f"截至{zh_date(self.as_of)}，{self.total}个整改任务，已完成整改{self.completed}个，"
                f"其余{self.in_progress}个正在推进整改")
        if self.overdue:
            text += f"，其中{self.overdue}个已超过整改时限"
        return text + "。"

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "total": self.total,
                "by_state": dict(self.by_state), "cleared": self.completed,
                "in_progress": self.in_progress, "overdue": self.overdue}


def progress(engine: Engine, *, now: datetime, plan: str | None = None) -> Progress:
    """Count the issues (optionally of one plan) by state, completed, and overdue (not
    completed and past their 整改时限) at ``now``."""
    overdue = func.sum(case((Issue.deadline_at < now, 1), else_=0))  # past 整改时限
    query = (select(Issue.definition_id, Issue.definition_version, Issue.state, func.count(),
                    overdue)
             .group_by(Issue.definition_id, Issue.definition_version, Issue.state))
    if plan is not None:
        query = query.where(Issue.plan == plan)
    report = Progress(as_of=now)
    by_state: Counter[str] = Counter()
    with engine.db.session() as session:
        rows = session.execute(query).all()
    for definition_id, version, state, count, late in rows:
        spec = next(s for s in engine.registry.get(definition_id, version).definition.states
                    if s.key == state)
        by_state[state] += count
        report.labels.setdefault(state, spec.label_zh)
        report.total += count
        if spec.completed:
            report.completed += count
        else:
            report.overdue += int(late or 0)
    report.by_state = dict(sorted(by_state.items()))
    return report


def monthly_text(report: Progress, month: str) -> tuple[str, str]:
    """Subject and body of the monthly progress report for ``month`` (``YYYY-MM``)."""
    year, number = month.split("-")
    subject = f"【月度调度】{year}年{int(number)}月整改进展"
    lines = [report.summary_zh(), "", "按状态："]
    lines += [f"  {report.labels.get(key, key)}：{count}个" for key, count
              in report.by_state.items()]
    return subject, "\n".join(lines) + "\n"


def queue_monthly(engine: Engine, *, now: datetime, office: str | None = None) -> int:
    """Queue the monthly progress report of the month before ``now`` (Asia/Shanghai) for the
    office on each of its channels; returns how many messages were queued (0 when this
    month's report is queued already)."""
    office = office or os.environ.get(OFFICE_ENV) or DEFAULT_OFFICE
    today = local(now).date()
    month = f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"
    subject, body = monthly_text(progress(engine, now=now), month)
    db = engine.db
    queued = 0
    with db.transaction() as conn:
        for channel, address, _options in recipients(db, office):
            queued += queue_message(
                db, conn, dedupe_key=f"report:monthly:{month}:{office}:{channel}:{address}",
                kind="report", level="monthly", recipient=office, channel=channel,
                address=address, subject=subject, body=body, now=now)
    return queued
