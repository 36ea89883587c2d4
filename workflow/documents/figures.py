"""Progress figures (整改进展): the progress report, the documents built from it, and the
monthly notice sent to the office.

``progress_report`` counts the issues by state, category, unit and leader, completed and
overdue, now or as recorded at the end of a day; ``queue_monthly`` puts the monthly notice
for the office into the outbox once per month (its dedupe key names the month, so a repeated
run queues nothing). ``markdown_document`` and ``html_document`` lay out the reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from jinja2 import Environment
from sqlalchemy import func, select

from workflow.clock import local
from workflow.documents.safe_text import markdown_text
from workflow.issues.checkpoints import Checkpoint
from workflow.issues.engine import Engine
from workflow.issues.rows import LEDGER_RECORDED, LEDGER_TRIGGER
from workflow.models import Issue, IssueEvent
from workflow.notify.contacts import Contacts
from workflow.notify.enqueue import ConnectionOutbox, Notice, enqueue
from workflow.notify.render import zh_date
from workflow.spec.durations import previous_month
from workflow.supervision.accountability import Summary

# A report section: heading, column headers, rows.
Section = tuple[str, Sequence[str], list[list[Any]]]


@dataclass
class Tally:
    """Issues of one category, unit or leader: total, cleared, overdue."""

    total: int = 0
    cleared: int = 0
    overdue: int = 0

    @property
    def completion(self) -> float:
        return self.cleared / self.total if self.total else 0.0

    @property
    def overdue_rate(self) -> float:
        return self.overdue / self.total if self.total else 0.0


@dataclass
class Progress:
    """Counts as of ``as_of``: ``by_state`` maps state keys to counts, ``labels`` state keys
    to their Chinese labels; ``completed`` counts issues in a completed state. The breakdowns
    by category, responsible unit (an issue counts for each of its units) and leader, the
    overdue items and the accountability figures complete ``rectify report progress``."""

    as_of: datetime
    plan: str | None = None
    total: int = 0
    completed: int = 0
    cleared_recorded: int = 0  # of ``completed``: cleared before the system, as a ledger says
    overdue: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    by_category: dict[str, Tally] = field(default_factory=dict)
    by_unit: dict[str, Tally] = field(default_factory=dict)
    by_leader: dict[str, Tally] = field(default_factory=dict)
    overdue_items: list[dict[str, Any]] = field(default_factory=list)
    accountability: Summary = field(default_factory=Summary)
    checkpoint: Checkpoint | None = None  # the latest signed checkpoint of the history

    @property
    def in_progress(self) -> int:
        return self.total - self.completed

    def summary_zh(self) -> str:
        """The sentence officials write, e.g. 截至2021年3月28日,68个整改任务,已完成整改66个,
        其余2个正在推进整改, kept exactly; the overdue count follows as a sentence of its own."""
        text = (f"截至{zh_date(self.as_of)}，{self.total}个整改任务，已完成整改{self.completed}个，"
                f"其余{self.in_progress}个正在推进整改。")
        if self.overdue:
            text += f"其中{self.overdue}个已超过整改时限。"
        return text

    def clearance_zh(self) -> str:
        """Where the clearances come from: cleared through acceptance in the system, or
        before it (recorded from a ledger)."""
        return (f"已完成整改的{self.completed}个中，系统内验收销号"
                f"{self.completed - self.cleared_recorded}个，录入系统前已销号（台账记录）"
                f"{self.cleared_recorded}个。")

    def accountability_zh(self) -> str:
        return self.accountability.sentence_zh() + "。"

    def checkpoint_zh(self) -> str:
        return checkpoint_zh(self.checkpoint)

    def as_dict(self) -> dict[str, Any]:
        def tallies(groups: dict[str, Tally]) -> dict[str, dict[str, int]]:
            return {name: dict(t.__dict__) for name, t in groups.items()}

        return {"as_of": local(self.as_of).isoformat(), "total": self.total,
                "by_state": dict(self.by_state), "cleared": self.completed,
                "cleared_in_system": self.completed - self.cleared_recorded,
                "cleared_recorded": self.cleared_recorded,
                "in_progress": self.in_progress, "overdue": self.overdue, "plan": self.plan,
                "state_labels": dict(self.labels),
                "by_category": tallies(self.by_category), "by_unit": tallies(self.by_unit),
                "by_leader": tallies(self.by_leader), "overdue_items": self.overdue_items,
                "accountability": self.accountability.as_dict(),
                "summary_zh": self.summary_zh(), "clearance_zh": self.clearance_zh(),
                "accountability_zh": self.accountability_zh(),
                "checkpoint": None if self.checkpoint is None else {
                    "seq": self.checkpoint.seq, "at": local(self.checkpoint.at).isoformat(),
                    "root": self.checkpoint.root}}

    def overdue_section(self) -> Section:
        return ("超期未完成 overdue", ["序号", "问题", "责任单位", "整改时限", "超期天数"],
                [[i["number"] or i["id"], i["title"], i["unit"] or "", i["deadline"],
                  i["days_overdue"]] for i in self.overdue_items])

    def sections(self) -> list[Section]:
        def rows(groups: dict[str, Tally]) -> list[list[Any]]:
            return [[name, t.total, t.cleared, t.overdue] for name, t in groups.items()]

        return [
            ("按状态 by state", ["状态", "个数"],
             [[self.labels.get(k, k), n] for k, n in self.by_state.items()]),
            ("按问题类别 by category", ["问题类别", "总数", "已完成", "超期"],
             rows(self.by_category)),
            ("按责任单位 by unit", ["责任单位", "总数", "已完成", "超期"], rows(self.by_unit)),
            ("按责任领导 by leader", ["责任领导", "总数", "已完成", "超期"],
             rows(self.by_leader)),
            self.overdue_section(),
        ]

    def title(self) -> str:
        return f"整改进展{'（' + self.plan + '）' if self.plan else ''}"

    def paragraphs(self) -> list[str]:
        return [self.summary_zh(), self.clearance_zh(), self.accountability_zh(),
                self.checkpoint_zh()]

    def text(self) -> str:
        lines = [self.title(), *self.paragraphs()]
        for heading, headers, rows in self.sections():
            lines += ["", heading, "  " + " · ".join(headers)]
            lines += ["  " + " · ".join(str(c) for c in row) for row in rows] or ["  —"]
        return "\n".join(lines) + "\n"

    def markdown(self) -> str:
        return markdown_document(self.title(), self.paragraphs(), self.sections())

    def html(self) -> str:
        return html_document(self.title(), self.paragraphs(), self.sections())


def markdown_document(title: str, paragraphs: Sequence[str], sections: Sequence[Section], *,
                      image: tuple[str, str] | None = None) -> str:
    """A report as Markdown: title, paragraphs, an optional (file, alt) image, then each
    section as a table (— when it has no rows); every text escaped (``markdown_text``)."""
    lines = [f"# {markdown_text(title)}"]
    for paragraph in paragraphs:
        lines += ["", markdown_text(paragraph, one_line=False)]
    if image:
        lines += ["", f"![{image[1]}]({image[0]})"]
    for heading, headers, rows in sections:
        lines += ["", f"## {markdown_text(heading)}", ""]
        if not rows:
            lines.append("—")
            continue
        lines += ["| " + " | ".join(markdown_text(h) for h in headers) + " |",
                  "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(markdown_text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_HTML = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #999;padding:4px 8px;vertical-align:top}th{background:#d9e1f2}</style>
</head><body><h1>{{ title }}</h1>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}{% if image %}<img src="{{ image[0] }}" alt="{{ image[1] }}">
{% endif %}{% for heading, headers, rows in sections %}{% if heading %}<h2>{{ heading }}</h2>
{% endif %}{% if rows %}<table><thead>
<tr>{% for h in headers %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% else %}<p>—</p>
{% endif %}{% endfor %}</body></html>
""")


def checkpoint_zh(checkpoint: Checkpoint | None) -> str:
    """The line every progress report, ledger export and public disclosure prints, so a
    reader can check the history it comes from: the latest signed checkpoint's number, time
    (Asia/Shanghai), digest and counts, or that there is none yet."""
    if checkpoint is None:
        return "历史存证：尚无签名存证 (no signed history checkpoint yet)。"
    return (f"历史存证 #{checkpoint.seq}：{local(checkpoint.at):%Y-%m-%d %H:%M} "
            f"签名，摘要 {checkpoint.digest}（{checkpoint.issues}个问题，"
            f"{checkpoint.events}条记录）。")


def html_document(title: str, paragraphs: Sequence[str], sections: Sequence[Section], *,
                  image: tuple[str, str] | None = None) -> str:
    """The same report as an HTML page (every value escaped)."""
    return _HTML.render(title=title, paragraphs=paragraphs, sections=sections, image=image)


# What a report reads of each issue (rows, not ORM objects: a report reads every issue).
REPORT_COLUMNS = (Issue.id, Issue.number, Issue.title, Issue.category, Issue.leader,
                  Issue.unit, Issue.lead_unit, Issue.responsible_units, Issue.deadline_at,
                  Issue.definition_id, Issue.definition_version, Issue.key_supervision)


def _as_of(query: Any, at: datetime | None, plan: str | None) -> Any:
    """``query`` joined to each top-level issue's last event at or before ``at`` (``at``
    None: the issues as they are, their ``state`` labelled ``to_state``)."""
    if at is None:
        query = query.select_from(Issue).where(Issue.parent_id.is_(None))
        return query.where(Issue.plan == plan) if plan is not None else query
    last = (select(IssueEvent.issue_id, func.max(IssueEvent.seq).label("seq"))
            .where(IssueEvent.at <= at).group_by(IssueEvent.issue_id).subquery())
    query = (query.select_from(Issue).join(last, last.c.issue_id == Issue.id)
             .join(IssueEvent, (IssueEvent.issue_id == Issue.id)
                   & (IssueEvent.seq == last.c.seq))
             .where(Issue.parent_id.is_(None)))
    return query.where(Issue.plan == plan) if plan is not None else query


class Standing(NamedTuple):
    """A top-level issue (its ``REPORT_COLUMNS``) at a moment: its state then, and whether
    that state is the one a ledger recorded (no transition in the system since)."""

    issue: Any
    state: str
    recorded: bool


def recorded_state(payload: dict[str, Any], state: str, initial: str, completed: bool,
                   day: date) -> str | None:
    """The state on ``day`` of an issue recorded from a ledger, before its import: none
    before it was assigned (交办日期, else the plan's feedback date, else the day the ledger
    describes); the ledger's ``state`` from the day the ledger describes (a cleared one from
    its 销号日期 when given); the definition's ``initial`` state in between."""
    as_of = date.fromisoformat(payload["as_of"])
    assigned = payload.get("assigned_on")
    if day < (date.fromisoformat(assigned) if assigned else as_of):
        return None
    cleared = payload.get("cleared_on") if completed else None
    return state if day >= (date.fromisoformat(cleared) if cleared else as_of) else initial


def _ledger_firsts(engine: Engine, plan: str | None) -> list[tuple[Any, datetime, dict[str, Any]]]:
    """The top-level issues recorded from a ledger: (REPORT_COLUMNS + the state recorded,
    when the import was written, its payload)."""
    query = (select(*REPORT_COLUMNS, IssueEvent.to_state, IssueEvent.at, IssueEvent.payload)
             .join(IssueEvent, IssueEvent.issue_id == Issue.id)
             .where(IssueEvent.seq == 1, IssueEvent.trigger == LEDGER_TRIGGER,
                    Issue.parent_id.is_(None)))
    if plan is not None:
        query = query.where(Issue.plan == plan)
    with engine.db.session() as session:
        return [(row, row.at, row.payload) for row in session.execute(query)
                if (row.payload or {}).get("recorded") == LEDGER_RECORDED]


def _moved(engine: Engine, ids: list[int], at: datetime | None) -> set[int]:
    """Those of ``ids`` that changed state after their first event (up to ``at``)."""
    moved: set[int] = set()
    with engine.db.session() as session:
        for start in range(0, len(ids), 500):
            query = select(IssueEvent.issue_id).where(
                IssueEvent.issue_id.in_(ids[start:start + 500]), IssueEvent.seq > 1,
                IssueEvent.from_state != IssueEvent.to_state).distinct()
            if at is not None:
                query = query.where(IssueEvent.at <= at)
            moved.update(session.scalars(query))
    return moved


def standing_at(engine: Engine, at: datetime | None, *,
                plan: str | None = None) -> list[Standing]:
    """Each top-level issue (not a sub-task) that existed at ``at``, with the state its
    history had reached then (``at`` None: its current state). An issue recorded from a
    ledger counts before its import by the ledger's dates (``recorded_state``)."""
    state = Issue.state.label("to_state") if at is None else IssueEvent.to_state
    query = _as_of(select(*REPORT_COLUMNS, state), at, plan).order_by(Issue.id)
    with engine.db.session() as session:
        rows = list(session.execute(query))
    firsts = _ledger_firsts(engine, plan)
    if not firsts:
        return [Standing(row, row.to_state, False) for row in rows]
    seen = {row.id for row in rows}
    moved = _moved(engine, [row.id for row, _at, _payload in firsts if row.id in seen], at)
    recorded = {row.id for row, _at, _payload in firsts} - moved
    found = [Standing(row, row.to_state, row.id in recorded) for row in rows]
    day = local(at).date() if at is not None else None
    for row, imported_at, payload in firsts:
        if day is None or imported_at <= at:
            continue
        compiled = engine.registry.get(row.definition_id, row.definition_version)
        then = recorded_state(payload, row.to_state, compiled.definition.initial,
                              compiled.states[row.to_state].completed, day)
        if then is not None:
            found.append(Standing(row, then, True))
    return sorted(found, key=lambda s: s.issue.id)


def states_at(engine: Engine, at: datetime | None, *,
              plan: str | None = None) -> list[tuple[Any, str]]:
    """``standing_at`` as (issue, state) pairs."""
    return [(s.issue, s.state) for s in standing_at(engine, at, plan=plan)]


def state_counts_at(engine: Engine, at: datetime, *,
                    plan: str | None = None) -> Counter[tuple[str, int, str]]:
    """How many top-level issues were in each (definition, version, state) at ``at``."""
    query = _as_of(select(Issue.definition_id, Issue.definition_version,
                          IssueEvent.to_state, func.count()), at, plan).group_by(
        Issue.definition_id, Issue.definition_version, IssueEvent.to_state)
    with engine.db.session() as session:
        counts = Counter({(d, v, state): n for d, v, state, n in session.execute(query)})
    day = local(at).date()
    for row, imported_at, payload in _ledger_firsts(engine, plan):
        if imported_at > at:
            compiled = engine.registry.get(row.definition_id, row.definition_version)
            then = recorded_state(payload, row.to_state, compiled.definition.initial,
                                  compiled.states[row.to_state].completed, day)
            if then is not None:
                counts[(row.definition_id, row.definition_version, then)] += 1
    return counts


def progress_report(engine: Engine, *, plan: str | None = None, as_of: date | None = None,
                    now: datetime | None = None,
                    checkpoint: Checkpoint | None = None) -> Progress:
    """The progress report of ``plan`` (or all plans) as recorded at the end of ``as_of``
    (Asia/Shanghai), or at ``now`` (default: the engine's clock), naming ``checkpoint`` (the
    latest signed one; see ``workflow.issues.checkpoints.latest_checkpoint``). Sub-tasks are
    not counted (their parent is); issues recorded from a ledger count by the ledger's dates
    before their import (``standing_at``)."""
    from workflow.issues.engine import deadline_instant
    from workflow.supervision.accountability import summary

    now = now or engine.clock.now()
    at = min(deadline_instant(as_of), now) if as_of else now
    report = Progress(as_of=at, plan=plan, checkpoint=checkpoint)
    by_state: Counter[str] = Counter()
    ids: set[int] = set()
    for issue, state, recorded in standing_at(engine, at if as_of else None, plan=plan):
        compiled = engine.registry.get(issue.definition_id, issue.definition_version)
        spec = compiled.states[state]
        ids.add(issue.id)
        report.total += 1
        by_state[state] += 1
        report.labels.setdefault(state, spec.label_zh)
        cleared = spec.completed
        late = not cleared and not spec.terminal and issue.deadline_at is not None \
            and issue.deadline_at < at
        report.completed += cleared
        report.cleared_recorded += cleared and recorded
        report.overdue += late
        groups = [(report.by_category, issue.category or "（未分类）"),
                  (report.by_leader, issue.leader or "（未定）")]
        groups += [(report.by_unit, unit) for unit in
                   (issue.responsible_units or [issue.unit or issue.lead_unit or "（未定）"])]
        for target, name in groups:
            tally = target.setdefault(name, Tally())
            tally.total += 1
            tally.cleared += cleared
            tally.overdue += late
        if late:
            report.overdue_items.append({
                "id": issue.id, "number": issue.number, "title": issue.title,
                "unit": "、".join(issue.responsible_units or []) or issue.unit,
                "deadline": local(issue.deadline_at).date().isoformat(),
                "days_overdue": (at - issue.deadline_at).days + 1})
    report.by_state = dict(sorted(by_state.items()))
    report.accountability = summary(engine, issues=ids if plan else None,
                                    until=local(at).date())
    return report


def queue_monthly(engine: Engine, *, now: datetime) -> int:
    """Queue the monthly progress report of the month before ``now`` (Asia/Shanghai) for the
    office on each of its channels; returns how many messages were queued (0 when this
    month's report is queued already)."""
    office = engine.settings.office_name
    month = previous_month(now)
    report = progress_report(engine, now=now)
    notice = Notice(
        template="monthly", kind="report", level="monthly", issue_id=None, timer_id=None,
        context={"month": month, "summary": report.summary_zh(),
                 "states": [(report.labels.get(key, key), count)
                            for key, count in report.by_state.items()]},
        recipients=(office,), key=f"report:monthly:{month}")
    db = engine.db
    with db.transaction() as conn:
        return enqueue(ConnectionOutbox(db, conn), Contacts(db), notice, now=now,
                       settings=engine.settings)
