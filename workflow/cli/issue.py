"""`rectify issue …` (create, list, show, fire, history, extend, monthly progress and reports,
split, instruct, milestones)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from workflow.cli.common import (
    ActorName,
    JsonOption,
    Moment,
    ReaderOption,
    RoleName,
    console,
    errors,
    make_actor,
    make_engine,
    moved_clock,
    parse_date,
    parse_pairs,
    print_json,
    print_table,
    reports_errors,
)
from workflow.cli.tables import history_table, ledger_table
from workflow.clock import FrozenClock
from workflow.errors import InputError, RequirementError
from workflow.issues import policy, queries
from workflow.issues.engine import NewIssue
from workflow.issues.views import event_view, issue_view, public_view
from workflow.spec.durations import parse_duration

issue_app = typer.Typer(help="Rectification issues.", no_args_is_help=True)


@issue_app.command("create")
@reports_errors
def issue_create(
    title: Annotated[str, typer.Option(help="反馈问题: the problem as fed back.")],
    actor: ActorName = None,
    role: RoleName = None,
    plan: Annotated[str | None, typer.Option(help="整改方案 name.")] = None,
    number: Annotated[str | None, typer.Option(help="序号 within the plan.")] = None,
    category: Annotated[str | None, typer.Option(help="问题类别.")] = None,
    target: Annotated[str | None, typer.Option(help="整改目标.")] = None,
    measures: Annotated[str | None, typer.Option(help="整改措施.")] = None,
    leader: Annotated[str | None, typer.Option(help="责任领导 (包保领导).")] = None,
    lead_unit: Annotated[str | None, typer.Option(help="牵头单位.")] = None,
    unit: Annotated[list[str] | None, typer.Option(help="责任单位 (repeatable; the first is "
                                                   "the main one).")] = None,
    cooperating_unit: Annotated[list[str] | None, typer.Option(help="配合单位 "
                                                               "(repeatable).")] = None,
    acceptance_unit: Annotated[str | None, typer.Option(help="牵头验收单位.")] = None,
    deadline: Annotated[str | None, typer.Option(help="整改时限, YYYY-MM-DD.")] = None,
    long_term: Annotated[bool, typer.Option("--long-term", help="长期坚持 (no deadline).")] = False,
    definition: Annotated[str, typer.Option(help="Process definition: ID (its latest "
                                            "version) or ID@VERSION.")] = "rectification",
    as_json: JsonOption = False,
) -> None:
    """Create an issue in the definition's initial state (已交办)."""
    engine = make_engine()
    units = unit or []
    new = NewIssue(title=title, plan=plan, number=number, category=category, target=target,
                   measures=measures, leader=leader, lead_unit=lead_unit,
                   unit=units[0] if units else None, responsible_units=tuple(units[1:]),
                   cooperating_units=tuple(cooperating_unit or []),
                   acceptance_unit=acceptance_unit,
                   deadline=parse_date(deadline, "--deadline"), long_term=long_term)
    definition_id, version = definition, None
    if "@" in definition:
        from workflow.issues.versions import parse_ref

        definition_id, version = parse_ref(definition, "--definition")
    issue_id = engine.create_issue(new, actor=make_actor(actor, role), definition=definition_id,
                                   version=version)
    view = issue_view(engine.db, queries.get_issue(engine.db, issue_id), engine.registry,
                      engine.clock.now())
    if as_json:
        print_json(view)
    else:
        console.print(f"created issue {issue_id} ({view['state_label_zh']}, {view['definition']})")


@issue_app.command("list")
@reports_errors
def issue_list(
    state: Annotated[str | None, typer.Option(help="State key, e.g. in_progress.")] = None,
    unit: Annotated[str | None, typer.Option(help="Responsible or lead unit.")] = None,
    leader: Annotated[str | None, typer.Option(help="Supervising leader.")] = None,
    plan: Annotated[str | None, typer.Option(help="Plan name.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only issues past their "
                                          "deadline and not yet completed.")] = False,
    light: Annotated[str | None, typer.Option(help="Warning light: green, blue, yellow, "
                                              "red.")] = None,
    reader: ReaderOption = None,
    role: RoleName = None,
    as_json: JsonOption = False,
) -> None:
    """The ledger, filtered."""
    engine = make_engine()
    now = engine.clock.now()
    filters = queries.IssueFilter(state=state, unit=unit, leader=leader, plan=plan,
                                  overdue=overdue, light=light)
    issues = queries.list_issues(engine.db, engine.registry, filters, now=now)
    if reader is not None:
        actor = make_actor(reader, role)
        allowed = queries.readable(engine.db, actor)
        issues = [issue for issue in issues if allowed(issue)]
        if policy.reads_disclosed_only(actor):
            _print_public([public_view(engine.db, issue, engine.registry, now)
                           for issue in issues], as_json)
            return
    views = [issue_view(engine.db, issue, engine.registry, now) for issue in issues]
    if as_json:
        print_json(views)
    else:
        console.print(ledger_table(views))


def _print_public(views: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(views)
        return
    print_table("整改情况（信息公开）",
                ("序号", "问题", "整改措施", "责任单位", "整改时限", "整改状态", "销号日期"),
                [(v["number"] or "", v["title"], v["measures"] or "", v["unit"] or "",
                  v["deadline"] or ("长期坚持" if v["long_term"] else ""), v["state_label_zh"],
                  v["cleared_on"] or "") for v in views])


@issue_app.command("show")
@reports_errors
def issue_show(issue_id: Annotated[int, typer.Argument(help="Issue id.")],
               reader: ReaderOption = None, role: RoleName = None,
               as_json: JsonOption = False) -> None:
    """One issue with its state, deadline and the triggers allowed now."""
    engine = make_engine()
    issue = queries.get_issue(engine.db, issue_id)
    now = engine.clock.now()
    if reader is not None:
        actor = make_actor(reader, role)
        queries.check_readable(engine.db, actor, issue)
        if policy.reads_disclosed_only(actor):
            _print_public([public_view(engine.db, issue, engine.registry, now)],
                          as_json)
            return
    view = issue_view(engine.db, issue, engine.registry, now)
    if as_json:
        print_json(view)
        return
    table = Table(show_header=False, title=f"issue {issue_id}")
    for key, value in view.items():
        if key == "milestones":
            value = [f"{m['due']} {m['name']}" + (" ✔" if m["reached_at"] else
                                                    " ✗ 未按期完成" if m["missed"] else "")
                     for m in value]
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    console.print(table)


@issue_app.command("fire")
@reports_errors
def issue_fire(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    trigger: Annotated[str, typer.Argument(help="Trigger, e.g. start, apply_acceptance.")],
    actor: ActorName = None,
    role: RoleName = None,
    comment: Annotated[str | None, typer.Option(help="Comment or reasons.")] = None,
    evidence: Annotated[list[Path] | None, typer.Option(help="Evidence file (repeatable).")]
    = None,
    check: Annotated[list[str] | None, typer.Option(help="Checklist item answered, "
                                                    "KEY=是:NOTE or KEY=否:NOTE (yes/no too; "
                                                    "clearance needs every item 是; "
                                                    "repeatable).")] = None,
    field: Annotated[list[str] | None, typer.Option(help="Transition field, KEY=VALUE "
                                                    "(repeatable).")] = None,
    expected_version: Annotated[int | None, typer.Option(help="Refuse if the issue is no "
                                                         "longer at this version.")] = None,
    now: Moment = None,
    as_json: JsonOption = False,
) -> None:
    """Fire a trigger on an issue (one transaction; nothing changes when refused). With
    --now (a training database only) the trigger fires at that time, so an office can
    rehearse a clearance through the 7-day 公示."""
    engine = make_engine()
    if now is not None:
        at, mover = moved_clock(engine, now, actor, role, "issue fire")
        if mover is not None:
            engine.record_clock_move(mover, "issue fire", at)
        engine.clock = FrozenClock(at)
    try:
        result = engine.fire(issue_id, trigger, actor=make_actor(actor, role), comment=comment,
                             evidence=evidence or [], checklist=parse_pairs(check or [], "--check"),
                             fields=parse_pairs(field or [], "--field"),
                             expected_version=expected_version)
    except RequirementError as exc:
        errors.print(f"error: issue {exc.issue_id}: '{exc.trigger}' refused:", style="red")
        for problem in exc.problems:
            errors.print(f"  - {problem}", style="red", highlight=False, markup=False)
        raise typer.Exit(1) from None
    if as_json:
        print_json(result.__dict__)
    else:
        console.print(f"issue {issue_id}: {result.from_state} → {result.to_state} "
                      f"(version {result.version})")


@issue_app.command("history")
@reports_errors
def issue_history(issue_id: Annotated[int, typer.Argument(help="Issue id.")],
                  reader: ReaderOption = None, role: RoleName = None,
                  as_json: JsonOption = False) -> None:
    """The issue's append-only history, oldest first."""
    engine = make_engine()
    issue = queries.get_issue(engine.db, issue_id)
    if reader is not None:
        queries.check_readable(engine.db, make_actor(reader, role), issue, history=True)
    events = queries.history(engine.db, issue_id)
    if as_json:
        print_json([event_view(event) for event in events])
    else:
        console.print(history_table(events, engine.registry, issue.definition_id,
                                    issue.definition_version,
                                    title=f"issue {issue_id} · {issue.title}"))


@issue_app.command("extend")
@reports_errors
def issue_extend(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    until: Annotated[str, typer.Option(help="New deadline, YYYY-MM-DD.")],
    reason: Annotated[str, typer.Option(help="Why the extension is justified (正当理由).")],
    actor: ActorName = None,
    role: RoleName = None,
) -> None:
    """Approve an extension (申请延期): move the deadline, keep the old one in history."""
    day = parse_date(until, "--until")
    result = make_engine().fire(issue_id, "extend", actor=make_actor(actor, role), comment=reason,
                                fields={"new_deadline": day.isoformat() if day else until})
    console.print(f"issue {issue_id}: deadline moved to {until} (version {result.version})")


@issue_app.command("progress")
@reports_errors
def issue_progress(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    month: Annotated[str, typer.Option(help="The month reported, YYYY-MM.")],
    text: Annotated[str, typer.Option(help="整改进展: what was done.")],
    percent: Annotated[int, typer.Option(help="Percentage done, 0-100.")],
    behind: Annotated[bool, typer.Option("--behind", help="Behind schedule (未达序时进度); "
                                         "the light turns yellow.")] = False,
    actor: ActorName = None,
    role: RoleName = None,
) -> None:
    """Report a month's progress (月度进展): the issue's unit, or the office."""
    from workflow.supervision.monthly_reports import NewProgress, report

    report(make_engine(), issue_id, NewProgress(month, text, percent, not behind),
           actor=make_actor(actor, role))
    console.print(f"issue {issue_id}: progress for {month} recorded")


@issue_app.command("reports")
@reports_errors
def issue_reports(issue_id: Annotated[int, typer.Argument(help="Issue id.")],
                  as_json: JsonOption = False) -> None:
    """The issue's monthly progress reports, and the months that went unreported."""
    from workflow.supervision.monthly_reports import report_view, reports

    engine = make_engine()
    queries.get_issue(engine.db, issue_id)  # an unknown issue is an error, not an empty list
    rows = [report_view(r) for r in reports(engine, issue_id)]
    if as_json:
        print_json(rows)
        return
    print_table(f"月度进展 issue {issue_id}", ("month", "status", "%", "序时", "text", "by"),
                [(r["month"], r["status"], "" if r["percent"] is None else r["percent"],
                  {True: "on", False: "behind", None: ""}[r["on_schedule"]], r["text"] or "",
                  r["reported_by"] or "") for r in rows])

@issue_app.command("split")
@reports_errors
def issue_split(
    issue_id: Annotated[int, typer.Argument(help="The lead unit's issue.")],
    unit: Annotated[list[str] | None, typer.Option(help="Unit to give a sub-task "
                                                   "(repeatable); default every cooperating "
                                                   "unit.")] = None,
    actor: ActorName = None,
    role: RoleName = None,
) -> None:
    """Split a multi-unit issue into sub-tasks, one per cooperating unit (配合单位); the
    parent may apply for acceptance only when every sub-task is done."""
    created = make_engine().create_subtasks(issue_id, actor=make_actor(actor, role), units=unit)
    console.print(f"issue {issue_id}: sub-tasks {', '.join(map(str, created))}")


@issue_app.command("instruct")
@reports_errors
def issue_instruct(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    text: Annotated[str, typer.Option(help="The instruction (批示).")],
    actor: ActorName = None,
    role: RoleName = None,
) -> None:
    """A supervising leader's instruction (批示) on an issue of their sectors; recorded in
    its history and sent to its units."""
    from workflow.supervision.instructions import instruct

    instruct(make_engine(), issue_id, text, actor=make_actor(actor, role))
    console.print(f"issue {issue_id}: instruction recorded and sent to its units")


@issue_app.command("milestones")
@reports_errors
def issue_milestones(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    stage: Annotated[list[str], typer.Option(help="NAME=DURATION in working order, e.g. "
                                             "'方案编制=10 working days' (repeatable).")],
    actor: ActorName = None,
    role: RoleName = None,
    comment: Annotated[str | None, typer.Option(help="Where the plan comes from.")] = None,
) -> None:
    """Plan milestones backwards from the deadline (倒排工期); a missed one shows yellow."""
    try:
        stages = [(name, parse_duration(text))
                  for name, text in parse_pairs(stage, "--stage").items()]
    except ValueError as exc:
        raise InputError(f"--stage: {exc}") from None
    plan = make_engine().set_milestones(issue_id, stages, actor=make_actor(actor, role),
                                        comment=comment)
    for name, day in plan:
        console.print(f"  {day.isoformat()}  {name}")


@issue_app.command("reach")
@reports_errors
def issue_reach(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    name: Annotated[str, typer.Argument(help="Milestone name.")],
    actor: ActorName = None,
    role: RoleName = None,
    comment: Annotated[str | None, typer.Option(help="What was done.")] = None,
) -> None:
    """Record that a milestone was reached."""
    make_engine().reach_milestone(issue_id, name, actor=make_actor(actor, role), comment=comment)
    console.print(f"issue {issue_id}: milestone {name!r} reached")
