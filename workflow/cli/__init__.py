"""The `rectify` command line (Typer + Rich): every engine capability, `--json` on reads."""

from __future__ import annotations

import functools
import json
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from workflow.cli.demo import SAMPLE_LEDGER, run_demo
from workflow.cli.tables import history_table, ledger_table
from workflow.clock import local, to_utc
from workflow.config import Settings
from workflow.db import Database
from workflow.errors import DefinitionError, InputError, RectifyError, RequirementError
from workflow.issues import queries
from workflow.issues.engine import Engine, NewIssue
from workflow.issues.history import verify as verify_history
from workflow.issues.sweep import default_owner, sweep
from workflow.migrate import current_revision, upgrade
from workflow.models import DefinitionRecord, Issue
from workflow.notify.channels import channels_from_env
from workflow.notify.contacts import add_contact, list_contacts
from workflow.notify.delivery import deliver_due, list_notifications
from workflow.notify.delivery import retry as retry_notifications
from workflow.notify.digest import compose_digests
from workflow.org.actors import Actor
from workflow.spec.definitions import load_all, parse_duration
from workflow.spec.registry import load_definitions
from workflow.spec.workdays import load_calendar
from workflow.startup import initialize, open_engine

app = typer.Typer(help="rectify: carries rectification work from assignment to clearance.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
definitions_app = typer.Typer(help="Process definitions.", no_args_is_help=True)
issue_app = typer.Typer(help="Rectification issues.", no_args_is_help=True)
timers_app = typer.Typer(help="Durable timers (reminders, escalation).", no_args_is_help=True)
outbox_app = typer.Typer(help="Notification outbox.", no_args_is_help=True)
calendar_app = typer.Typer(help="Working-day calendar (工作日, 调休).", no_args_is_help=True)
contacts_app = typer.Typer(help="Where recipients are reached.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(definitions_app, name="definitions")
app.add_typer(issue_app, name="issue")
app.add_typer(timers_app, name="timers")
app.add_typer(outbox_app, name="outbox")
app.add_typer(calendar_app, name="calendar")
app.add_typer(contacts_app, name="contacts")

console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ActorName = Annotated[str, typer.Option("--as", help="Who acts (person or unit name).")]
ReaderOption = Annotated[str | None, typer.Option(
    "--as", help="Read as this person or unit: only what their role may read (the public: "
                 "disclosed fields only, no history).")]
RoleName = Annotated[str | None, typer.Option("--role", help="Role of the actor: office, unit, "
                                              "acceptor, leader, discipline, public (default: "
                                              "the person's only role; office while no one "
                                              "is registered).")]


def reports_errors(command: F) -> F:
    """Turn engine errors into a red message and exit code 1 (2 for bad input)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DefinitionError as exc:
            for fault in exc.faults:
                errors.print(str(fault), style="red", highlight=False, markup=False)
            errors.print(f"{len(exc.faults)} problem(s) found", style="red")
            raise typer.Exit(1) from None
        except InputError as exc:
            errors.print(f"error: {exc}", style="red", highlight=False, markup=False)
            raise typer.Exit(2) from None
        except RectifyError as exc:
            errors.print(f"error: {exc}", style="red", highlight=False, markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def _print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = Table(title=title, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)


def _engine() -> Engine:
    return open_engine(Settings.from_env())


def _actor(name: str, role: str | None) -> Actor:
    """Who ``--as NAME [--role ROLE]`` is: a registered person or unit (see
    ``workflow.org.directory``); any name while the directory is empty."""
    from workflow.org.directory import resolve_actor

    db = Database(Settings.from_env().database_url)
    try:
        return resolve_actor(db, name, role)
    finally:
        db.dispose()


def _parse_date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-31")\
            from None


def _parse_time(text: str) -> datetime:
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        raise InputError(f"{text!r} is not a time; use ISO 8601, e.g. 2026-12-31T09:00 "
                         "(Asia/Shanghai) or 2026-12-31T01:00+00:00") from None


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} {value!r} must look like KEY=VALUE")
        pairs[key.strip()] = rest
    return pairs


@app.command()
@reports_errors
def init() -> None:
    """Create or upgrade the database and load the process definitions."""
    settings = Settings.from_env()
    engine = open_engine(settings, require_schema=False)
    outcomes = initialize(engine, settings.definitions_dir)
    console.print(f"database ready: {settings.database_url}")
    for outcome in outcomes:
        console.print(f"  {outcome.ref}: {outcome.status} ({outcome.path})")


@db_app.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Apply pending schema migrations (Alembic)."""
    engine = open_engine(Settings.from_env(), require_schema=False)
    upgrade(engine.db)
    console.print(f"database at revision {current_revision(engine.db)}")


@definitions_app.command("check")
@reports_errors
def definitions_check(
    path: Annotated[Path | None, typer.Argument(help="File or directory; default: the "
                                                "definitions directory.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Validate definitions; print every problem with file, line and key (exit 1 if any)."""
    target = path or Settings.from_env().definitions_dir
    if as_json:
        try:
            loaded, faults = load_all(target), []
        except DefinitionError as exc:
            loaded, faults = [], exc.faults
        _print_json({"ok": not faults, "definitions": [
            {"ref": item.definition.ref, "path": item.path} for item in loaded],
            "faults": [fault.__dict__ for fault in faults]})
        if faults:
            raise typer.Exit(1)
        return
    loaded = load_all(target)
    for item in loaded:
        console.print(f"ok  {item.definition.ref}  {item.path}")
    console.print(f"{len(loaded)} definition(s) valid")


@definitions_app.command("load")
@reports_errors
def definitions_load(
    path: Annotated[Path | None, typer.Argument(help="File or directory.")] = None,
) -> None:
    """Load new definition versions into the database (running issues keep theirs)."""
    settings = Settings.from_env()
    engine = _engine()
    outcomes = load_definitions(engine.db, load_all(path or settings.definitions_dir),
                                now=engine.clock.now())
    for outcome in outcomes:
        console.print(f"{outcome.ref}: {outcome.status} ({outcome.path})")


@definitions_app.command("list")
@reports_errors
def definitions_list(as_json: JsonOption = False) -> None:
    """Loaded definition versions and how many issues run on each."""
    engine = _engine()
    counts = (select(Issue.definition_id, Issue.definition_version, func.count())
              .group_by(Issue.definition_id, Issue.definition_version))
    with engine.db.session() as session:
        usage = {(d, v): n for d, v, n in session.execute(counts)}
        records = session.scalars(select(DefinitionRecord)
                                  .order_by(DefinitionRecord.id, DefinitionRecord.version)).all()
    rows = [{"id": r.id, "version": r.version, "label_zh": r.label_zh, "label_en": r.label_en,
             "loaded_at": local(r.loaded_at).isoformat(), "path": r.path,
             "issues": usage.get((r.id, r.version), 0)} for r in records]
    if as_json:
        _print_json(rows)
        return
    _print_table("流程定义 / Process definitions",
                 ("id", "version", "名称", "name", "loaded (Asia/Shanghai)", "issues"),
                 [(row["id"], row["version"], row["label_zh"], row["label_en"],
                   row["loaded_at"][:16], row["issues"]) for row in rows])


@definitions_app.command("migrate")
@reports_errors
def definitions_migrate(
    source: Annotated[str, typer.Option("--from", help="Version the issues run on, "
                                        "e.g. rectification@1.")],
    target: Annotated[str, typer.Option("--to", help="Version to move them to, "
                                        "e.g. rectification@2.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would move and what "
                                          "cannot; write nothing.")] = False,
    actor: ActorName = "整改办",
    role: RoleName = None,
    as_json: JsonOption = False,
) -> None:
    """Move running issues to another definition version (office only): those whose state
    exists there move, with a `migrate` event in their history; the others are listed with
    the reason. Exit 1 when any issue could not move."""
    from workflow.issues.versions import migrate, parse_ref

    report = migrate(_engine(), parse_ref(source, "--from"), parse_ref(target, "--to"),
                     actor=_actor(actor, role), dry_run=dry_run)
    if as_json:
        _print_json(report.as_dict())
    else:
        verb = "would move" if dry_run else "moved"
        console.print(f"{report.source} → {report.target}: {verb} {len(report.moved)} "
                      f"issue(s); {len(report.refused)} cannot move; {report.kept} finished "
                      f"issue(s) stay")
        if report.refused:
            _print_table("cannot move", ("issue", "state", "why"),
                         [(r["issue_id"], r["state"], r["reason"]) for r in report.refused])
    if report.refused:
        raise typer.Exit(1)


@issue_app.command("create")
@reports_errors
def issue_create(
    title: Annotated[str, typer.Option(help="反馈问题: the problem as fed back.")],
    actor: ActorName = "整改办",
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
    engine = _engine()
    units = unit or []
    new = NewIssue(title=title, plan=plan, number=number, category=category, target=target,
                   measures=measures, leader=leader, lead_unit=lead_unit,
                   unit=units[0] if units else None, responsible_units=tuple(units[1:]),
                   cooperating_units=tuple(cooperating_unit or []),
                   acceptance_unit=acceptance_unit,
                   deadline=_parse_date(deadline, "--deadline"), long_term=long_term)
    definition_id, version = definition, None
    if "@" in definition:
        from workflow.issues.versions import parse_ref

        definition_id, version = parse_ref(definition, "--definition")
    issue_id = engine.create_issue(new, actor=_actor(actor, role), definition=definition_id,
                                   version=version)
    view = queries.issue_view(engine.db, queries.get_issue(engine.db, issue_id),
                              engine.registry,
                              engine.clock.now())
    if as_json:
        _print_json(view)
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
    engine = _engine()
    now = engine.clock.now()
    filters = queries.IssueFilter(state=state, unit=unit, leader=leader, plan=plan,
                                  overdue=overdue, light=light)
    issues = queries.list_issues(engine.db, engine.registry, filters, now=now)
    if reader is not None:
        actor = _actor(reader, role)
        allowed = queries.readable(engine.db, actor)
        issues = [issue for issue in issues if allowed(issue)]
        if actor.role == "public":
            _print_public([queries.public_view(engine.db, issue, engine.registry, now)
                           for issue in issues], as_json)
            return
    views = [queries.issue_view(engine.db, issue, engine.registry, now) for issue in issues]
    if as_json:
        _print_json(views)
    else:
        console.print(ledger_table(views))


def _print_public(views: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _print_json(views)
        return
    _print_table("整改情况（信息公开）",
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
    engine = _engine()
    issue = queries.get_issue(engine.db, issue_id)
    now = engine.clock.now()
    if reader is not None:
        actor = _actor(reader, role)
        queries.check_readable(engine.db, actor, issue)
        if actor.role == "public":
            _print_public([queries.public_view(engine.db, issue, engine.registry, now)],
                          as_json)
            return
    view = queries.issue_view(engine.db, issue, engine.registry, now)
    if as_json:
        _print_json(view)
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
    actor: ActorName,
    role: RoleName = None,
    comment: Annotated[str | None, typer.Option(help="Comment or reasons.")] = None,
    evidence: Annotated[list[Path] | None, typer.Option(help="Evidence file (repeatable).")]
    = None,
    check: Annotated[list[str] | None, typer.Option(help="Checklist item affirmed, "
                                                    "KEY=NOTE (repeatable).")] = None,
    field: Annotated[list[str] | None, typer.Option(help="Transition field, KEY=VALUE "
                                                    "(repeatable).")] = None,
    expected_version: Annotated[int | None, typer.Option(help="Refuse if the issue is no "
                                                         "longer at this version.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Fire a trigger on an issue (one transaction; nothing changes when refused)."""
    engine = _engine()
    try:
        result = engine.fire(issue_id, trigger, actor=_actor(actor, role), comment=comment,
                             evidence=evidence or [], checklist=_pairs(check or [], "--check"),
                             fields=_pairs(field or [], "--field"),
                             expected_version=expected_version)
    except RequirementError as exc:
        errors.print(f"error: issue {exc.issue_id}: '{exc.trigger}' refused:", style="red")
        for problem in exc.problems:
            errors.print(f"  - {problem}", style="red", highlight=False, markup=False)
        raise typer.Exit(1) from None
    if as_json:
        _print_json(result.__dict__)
    else:
        console.print(f"issue {issue_id}: {result.from_state} → {result.to_state} "
                      f"(version {result.version})")


@issue_app.command("history")
@reports_errors
def issue_history(issue_id: Annotated[int, typer.Argument(help="Issue id.")],
                  reader: ReaderOption = None, role: RoleName = None,
                  as_json: JsonOption = False) -> None:
    """The issue's append-only history, oldest first."""
    engine = _engine()
    issue = queries.get_issue(engine.db, issue_id)
    if reader is not None:
        queries.check_readable(engine.db, _actor(reader, role), issue, history=True)
    events = queries.history(engine.db, issue_id)
    if as_json:
        _print_json([queries.event_view(event) for event in events])
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
    actor: ActorName = "整改办",
    role: RoleName = None,
) -> None:
    """Approve an extension (申请延期): move the deadline, keep the old one in history."""
    day = _parse_date(until, "--until")
    result = _engine().fire(issue_id, "extend", actor=_actor(actor, role), comment=reason,
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
    actor: ActorName = "整改办",
    role: RoleName = None,
) -> None:
    """Report a month's progress (月度进展): the issue's unit, or the office."""
    from workflow.supervision.monthly_reports import NewProgress, report

    report(_engine(), issue_id, NewProgress(month, text, percent, not behind),
           actor=_actor(actor, role))
    console.print(f"issue {issue_id}: progress for {month} recorded")


@issue_app.command("reports")
@reports_errors
def issue_reports(issue_id: Annotated[int, typer.Argument(help="Issue id.")],
                  as_json: JsonOption = False) -> None:
    """The issue's monthly progress reports, and the months that went unreported."""
    from workflow.supervision.monthly_reports import reports

    rows = [{"month": r.month, "status": r.status, "percent": r.percent,
             "on_schedule": r.on_schedule, "text": r.text, "reported_by": r.reported_by,
             "reported_at": local(r.reported_at).isoformat() if r.reported_at else None}
            for r in reports(_engine(), issue_id)]
    if as_json:
        _print_json(rows)
        return
    _print_table(f"月度进展 issue {issue_id}", ("month", "status", "%", "序时", "text", "by"),
                 [(r["month"], r["status"], "" if r["percent"] is None else r["percent"],
                   {True: "on", False: "behind", None: ""}[r["on_schedule"]], r["text"] or "",
                   r["reported_by"] or "") for r in rows])


progress_app = typer.Typer(help="Monthly progress reports (月度进展).", no_args_is_help=True)
app.add_typer(progress_app, name="progress")


@progress_app.command("missing")
@reports_errors
def progress_missing(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    flag: Annotated[bool, typer.Option("--flag", help="Mark them missing: history event, "
                                       "reminder to the unit, yellow light (what the monthly "
                                       "job does on the 1st).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Issues that owe a progress report for a month and have none."""
    from workflow.supervision.monthly_reports import flag_missing, owing

    engine = _engine()
    rows = [{"id": i.id, "number": i.number, "title": i.title, "unit": i.unit or i.lead_unit}
            for i in owing(engine, month)]
    marked = flag_missing(engine, month) if flag else None
    if as_json:
        _print_json({"month": month, "owing": rows, "marked": marked})
        return
    _print_table(f"{month} 未报送整改进展", ("id", "序号", "问题", "责任单位"),
                 [(r["id"], r["number"] or "", r["title"], r["unit"] or "") for r in rows])
    if marked is not None:
        console.print(f"{marked} issue(s) marked missing")


@issue_app.command("split")
@reports_errors
def issue_split(
    issue_id: Annotated[int, typer.Argument(help="The lead unit's issue.")],
    unit: Annotated[list[str] | None, typer.Option(help="Unit to give a sub-task "
                                                   "(repeatable); default every cooperating "
                                                   "unit.")] = None,
    actor: ActorName = "整改办",
    role: RoleName = None,
) -> None:
    """Split a multi-unit issue into sub-tasks, one per cooperating unit (配合单位); the
    parent may apply for acceptance only when every sub-task is done."""
    created = _engine().create_subtasks(issue_id, actor=_actor(actor, role), units=unit)
    console.print(f"issue {issue_id}: sub-tasks {', '.join(map(str, created))}")


@issue_app.command("instruct")
@reports_errors
def issue_instruct(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    text: Annotated[str, typer.Option(help="The instruction (批示).")],
    actor: ActorName = "整改办",
    role: RoleName = None,
) -> None:
    """A supervising leader's instruction (批示) on an issue of their sectors; recorded in
    its history and sent to its units."""
    from workflow.supervision.instructions import instruct

    instruct(_engine(), issue_id, text, actor=_actor(actor, role))
    console.print(f"issue {issue_id}: instruction recorded and sent to its units")


@issue_app.command("milestones")
@reports_errors
def issue_milestones(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    stage: Annotated[list[str], typer.Option(help="NAME=DURATION in working order, e.g. "
                                             "'方案编制=10 working days' (repeatable).")],
    actor: ActorName = "整改办",
    role: RoleName = None,
    comment: Annotated[str | None, typer.Option(help="Where the plan comes from.")] = None,
) -> None:
    """Plan milestones backwards from the deadline (倒排工期); a missed one shows yellow."""
    try:
        stages = [(name, parse_duration(text)) for name, text in _pairs(stage, "--stage").items()]
    except ValueError as exc:
        raise InputError(f"--stage: {exc}") from None
    plan = _engine().set_milestones(issue_id, stages, actor=_actor(actor, role), comment=comment)
    for name, day in plan:
        console.print(f"  {day.isoformat()}  {name}")


@issue_app.command("reach")
@reports_errors
def issue_reach(
    issue_id: Annotated[int, typer.Argument(help="Issue id.")],
    name: Annotated[str, typer.Argument(help="Milestone name.")],
    actor: ActorName = "整改办",
    role: RoleName = None,
    comment: Annotated[str | None, typer.Option(help="What was done.")] = None,
) -> None:
    """Record that a milestone was reached."""
    _engine().reach_milestone(issue_id, name, actor=_actor(actor, role), comment=comment)
    console.print(f"issue {issue_id}: milestone {name!r} reached")


@timers_app.command("list")
@reports_errors
def timers_list(
    due: Annotated[bool, typer.Option("--due", help="Only timers due now.")] = False,
    issue: Annotated[int | None, typer.Option(help="Only this issue.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Include settled and cancelled "
                                        "timers.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pending timers (reminders and escalation levels) with their due times."""
    engine = _engine()
    rows = queries.list_timers(engine.db, now=engine.clock.now(), due=due, issue_id=issue,
                               pending_only=not every)
    if as_json:
        _print_json(rows)
        return
    _print_table("定时任务 / Timers", ("id", "issue", "state", "kind", "level",
                                      "due (Asia/Shanghai)", "status", "attempts"),
                 [(row["id"], row["issue_id"], row["state"], row["kind"], row["level"],
                   row["due_at"][:16], row["status"], row["attempts"]) for row in rows])


@app.command("sweep")
@reports_errors
def sweep_command(
    now: Annotated[str | None, typer.Option(help="Sweep as of this time (ISO 8601; without "
                                            "an offset it is Asia/Shanghai).")] = None,
    limit: Annotated[int, typer.Option(help="Timers to claim at most.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """Run one timer sweep: claim what is due, notify once per issue, record skips."""
    engine = _engine()
    at = _parse_time(now) if now else engine.clock.now()
    report = sweep(engine, now=at, limit=limit)
    if as_json:
        _print_json(report.__dict__)
    else:
        console.print(f"claimed {report.claimed}, notified {report.sent} level(s) with "
                      f"{report.notifications} message(s), skipped {report.skipped}, "
                      f"conflicts {report.conflicts}, failed {report.failed}")


def _outbox_rows(engine: Engine, status: str | None, limit: int) -> list[dict[str, Any]]:
    return [{"id": n.id, "issue_id": n.issue_id, "kind": n.kind, "level": n.level,
             "recipient": n.recipient, "channel": n.channel, "address": n.address,
             "subject": n.subject, "status": n.status, "attempts": n.attempts,
             "next_attempt_at": local(n.next_attempt_at).isoformat(),
             "sent_at": local(n.sent_at).isoformat() if n.sent_at else None,
             "last_error": n.last_error}
            for n in list_notifications(engine.db, status=status, limit=limit)]


def _print_outbox(rows: list[dict[str, Any]], title: str, as_json: bool) -> None:
    if as_json:
        _print_json(rows)
        return
    _print_table(title, ("id", "issue", "level", "recipient", "channel", "status", "attempts",
                         "next attempt (Asia/Shanghai)", "last error"),
                 [(row["id"], row["issue_id"] or "—", row["level"], row["recipient"],
                   row["channel"], row["status"], row["attempts"], row["next_attempt_at"][:16],
                   row["last_error"] or "") for row in rows])


@outbox_app.command("list")
@reports_errors
def outbox_list(
    status: Annotated[str | None, typer.Option(help="pending, sending, sent, dead, digest, "
                                               "digested.")] = None,
    limit: Annotated[int, typer.Option(help="Rows at most, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The notification outbox, newest first."""
    _print_outbox(_outbox_rows(_engine(), status, limit), "通知发件箱 / Outbox", as_json)


@outbox_app.command("dead")
@reports_errors
def outbox_dead(limit: Annotated[int, typer.Option(help="Rows at most.")] = 50,
                as_json: JsonOption = False) -> None:
    """Dead letters: messages that failed every attempt (exit 1 when there are any)."""
    rows = _outbox_rows(_engine(), "dead", limit)
    _print_outbox(rows, "死信 / Dead letters", as_json)
    if rows:
        raise typer.Exit(1)


@outbox_app.command("retry")
@reports_errors
def outbox_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Notification ids.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead letter.")] = False,
) -> None:
    """Put dead letters back in the queue, due now."""
    engine = _engine()
    revived = retry_notifications(engine.db, ids or None, now=engine.clock.now(),
                                  all_dead=all_dead)
    console.print(f"{revived} notification(s) queued again")


@outbox_app.command("deliver")
@reports_errors
def outbox_deliver(limit: Annotated[int, typer.Option(help="Messages at most.")] = 100,
                   as_json: JsonOption = False) -> None:
    """Send what is due now through the configured channels (RECTIFY_SMTP_*, webhooks)."""
    engine = _engine()
    report = deliver_due(engine.db, channels_from_env(), now=engine.clock.now(),
                         owner=default_owner(), limit=limit)
    if as_json:
        _print_json(report.__dict__)
    else:
        console.print(f"sent {report.sent}, failed {report.failed} (will retry), "
                      f"dead {report.dead}")


@outbox_app.command("digest")
@reports_errors
def outbox_digest() -> None:
    """Compose today's digest (每日汇总): one message per recipient for held reminders."""
    engine = _engine()
    queued = compose_digests(engine.db, now=engine.clock.now(), settings=engine.settings)
    console.print(f"{queued} digest(s) queued")


@contacts_app.command("add")
@reports_errors
def contacts_add(
    name: Annotated[str, typer.Argument(help="Unit, leader or office name, as on issues.")],
    channel: Annotated[str, typer.Option(help="log, email or webhook.")],
    address: Annotated[str, typer.Option(help="E-mail address or webhook URL.")],
    option: Annotated[list[str] | None, typer.Option(help="Webhook option KEY=VALUE: "
                                                     "preset=dingtalk|wecom|json, secret=…")]
    = None,
) -> None:
    """Say where a recipient is reached (without a contact, notices go to the log)."""
    contact_id = add_contact(_engine().db, name, channel, address, _pairs(option or [],
                                                                        "--option"))
    console.print(f"contact {contact_id}: {name} via {channel}")


@contacts_app.command("list")
@reports_errors
def contacts_list(as_json: JsonOption = False) -> None:
    """Recipients and their channels (webhook secrets are not shown)."""
    rows = [{"id": c.id, "name": c.name, "channel": c.channel, "address": c.address,
             "preset": (c.options or {}).get("preset")} for c in list_contacts(_engine().db)]
    if as_json:
        _print_json(rows)
        return
    _print_table("联系人 / Contacts", ("id", "name", "channel", "address", "preset"),
                 [(row["id"], row["name"], row["channel"], row["address"], row["preset"] or "")
                  for row in rows])


@calendar_app.command("check")
@reports_errors
def calendar_check(path: Annotated[Path | None, typer.Argument(
        help="Override file; default RECTIFY_CALENDAR or definitions/calendar.yaml.")] = None,
) -> None:
    """Validate the working-day override file and list the years it enters."""
    calendar = load_calendar(path)
    years = calendar.notice_years
    console.print(f"calendar ok; years entered: "
                  f"{', '.join(f'{y} ({calendar.notice(y)})' for y in years) or 'none'}")


@calendar_app.command("recompute")
@reports_errors
def calendar_recompute() -> None:
    """After entering a new year's notice: recompute every provisional deadline."""
    changed = _engine().recompute_provisional_deadlines()
    console.print(f"{len(changed)} provisional deadline(s) recomputed"
                  + (f": issues {', '.join(map(str, changed))}" if changed else ""))


@app.command()
@reports_errors
def verify(issue: Annotated[int | None, typer.Option(help="Only this issue.")] = None,
           as_json: JsonOption = False) -> None:
    """Walk every history hash chain; report the first altered or missing event (exit 1)."""
    report = verify_history(_engine().db, issue)
    if as_json:
        _print_json({"ok": report.ok, "issues": report.issues, "events": report.events,
                     "problem": str(report.problem) if report.problem else None})
    elif report.ok:
        console.print(f"history intact: {report.issues} issue(s), {report.events} event(s)")
    else:
        errors.print(f"history check FAILED: {report.problem}", style="red", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@reports_errors
def demo(keep: Annotated[Path | None, typer.Option(help="Keep the demo database in this "
                                                   "directory instead of a temporary one.")]
         = None) -> None:
    """Play a small sample plan on a throw-away SQLite file and print ledger and histories."""
    with tempfile.TemporaryDirectory(prefix="rectify-demo-") as scratch:
        workdir = keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        console.rule("rectify demo")
        engine, plan = run_demo(workdir, on_step=lambda line: console.print(f"  {line}"))
        now = engine.clock.now()
        issues = queries.list_issues(engine.db, engine.registry,
                                     queries.IssueFilter(plan=plan.plan), now=now)
        views = [queries.issue_view(engine.db, issue, engine.registry, now) for issue in issues]
        console.print(ledger_table(
            views, title=f"整改情况清单 · {plan.plan} · 截至 {local(now):%Y-%m-%d}"))
        for issue in issues:
            console.print(history_table(queries.history(engine.db, issue.id), engine.registry,
                                        issue.definition_id, issue.definition_version,
                                        title=f"#{issue.number} {issue.title}"))
        pending = next(v for v in views if v["state"] == "acceptance")
        try:
            engine.fire(pending["id"], "clear", actor=Actor("市整改办", "office"),
                        comment="申请销号")
        except RequirementError as exc:
            console.print("A clearance without the 五个决不放过 checklist is refused:",
                          style="bold")
            for problem in exc.problems:
                console.print(f"  - {problem}", highlight=False, markup=False)
        report = verify_history(engine.db)
        console.print(f"history verified: {report.issues} issues, {report.events} events, "
                      f"{'intact' if report.ok else report.problem}")
        _demo_sample_ledger(engine)
        if keep:
            console.print(f"demo database kept in {workdir / 'demo.db'}")
        engine.db.dispose()


def _demo_sample_ledger(engine: Engine) -> None:
    """The demo's second part: the sample ledger of examples/huaibei-2019 imported, and the
    progress report officials write from it."""
    from workflow.documents.figures import progress_report
    from workflow.documents.ledger import import_ledger

    sample = SAMPLE_LEDGER
    plan = "淮北市整改方案（示例台账）"
    console.rule(f"rectify ledger import {sample.parent.name}/{sample.name} (示例数据)")
    result = import_ledger(engine, sample, plan=plan, actor=Actor("市整改办", "office"))
    console.print(f"  {result.created} issues and {result.accountability_added} "
                  "accountability records imported")
    report = progress_report(engine, plan=plan)
    console.print(f"  {report.summary_zh()}", highlight=False)
    console.print(f"  {report.accountability_zh()}", highlight=False)


if __name__ == "__main__":
    app()


# --- background processes --------------------------------------------------------------------

def _configure_logging() -> None:
    import logging
    import os

    level = os.environ.get("RECTIFY_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every 15 s "job executed" is noise; the scheduler logs what its jobs did instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _runtime() -> Any:
    from workflow.jobs import Runtime

    return Runtime.from_env()


@app.command()
@reports_errors
def serve() -> None:
    """Embedded all-in-one: the scheduler and an in-process pool of workers (no broker).

    Sweeps timers, relays the outbox, sends the daily digest and the monthly report until
    SIGTERM or Ctrl-C; a second `rectify serve` on the same database stands by. Tune with
    RECTIFY_SWEEP_INTERVAL, RECTIFY_RELAY_INTERVAL and RECTIFY_THREADS (docs/deploy.md).
    """
    from scheduler import serve as run_scheduler

    _configure_logging()
    run_scheduler(_runtime(), distributed=False)


@app.command("scheduler")
@reports_errors
def scheduler_command() -> None:
    """The scheduler of the distributed mode: hands work to Celery workers via BROKER_URL.

    Run one on each of two or more machines: the leader runs the jobs, the others stand by
    and take over within RECTIFY_LOCK_PERIOD seconds (docs/deploy.md).
    """
    from scheduler import serve as run_scheduler
    from workflow.config import RunSettings
    from workflow.errors import ConfigurationError

    if RunSettings.from_env().broker_url is None:
        raise ConfigurationError("rectify scheduler hands work to Celery workers and needs "
                                 "BROKER_URL (e.g. redis://127.0.0.1:6379/0); without a "
                                 "broker run `rectify serve` (embedded mode)")
    _configure_logging()
    run_scheduler(_runtime(), distributed=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@reports_errors
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(help="Tasks run at once in this worker.")] = 4,
    pool: Annotated[str, typer.Option(help="Celery pool: threads (one process) or "
                                      "prefork (a process per task slot).")] = "threads",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """A Celery worker on BROKER_URL running rectify's tasks; further options go to
    `celery worker` (e.g. --hostname, --max-tasks-per-child)."""
    from workers.app import app as celery_app
    from workers.app import broker_url

    celery_app.conf.broker_url = broker_url()
    runtime = _runtime()  # fail now, with the reason, if the database is not ready
    celery_app.worker_main(["worker", f"--loglevel={loglevel}", f"--pool={pool}",
                            f"--concurrency={concurrency}",
                            f"--queues={runtime.engine.settings.queue}", *ctx.args])


@app.command()
@reports_errors
def doctor(as_json: JsonOption = False) -> None:
    """Check the database, the broker, the scheduler leader, stuck leases, dead letters and
    the lag between due and sent; exits 1 when any check fails."""
    from workflow.clock import SystemClock
    from workflow.config import RunSettings
    from workflow.doctor import as_json as checks_json
    from workflow.doctor import diagnose, healthy

    checks = diagnose(Settings.from_env(), RunSettings.from_env(), SystemClock().now())
    if as_json:
        _print_json(checks_json(checks))
    else:
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        table = Table(title="rectify doctor", header_style="bold")
        for header in ("check", "status", "detail"):
            table.add_column(header, overflow="fold")
        for check in checks:
            table.add_row(check.name, f"[{colours[check.status]}]{check.status}[/]",
                          check.detail)
        console.print(table)
    if not healthy(checks):
        raise typer.Exit(1)


# --- accountability (问责) -------------------------------------------------------------------

accountability_app = typer.Typer(help="Accountability (问责): records and proposals.",
                                 no_args_is_help=True)
app.add_typer(accountability_app, name="accountability")


def _new_accountability(subject: str, subject_type: str, methods: list[str], decided_by: str,
                        decided_on: str, issues: list[int], rank: str | None,
                        unit: str | None, source: str | None, disclosed: bool,
                        note: str | None) -> Any:
    from workflow.supervision.accountability import NewAccountability

    day = _parse_date(decided_on, "--date")
    assert day is not None
    return NewAccountability(subject_type=subject_type, subject=subject, methods=methods,
                             decided_by=decided_by, decided_on=day, issues=issues, rank=rank,
                             unit=unit, source=source, disclosed=disclosed, note=note)


SubjectOption = Annotated[str, typer.Option("--subject", help="问责对象: the organisation or "
                                            "the cadre's name.")]
TypeOption = Annotated[str, typer.Option("--type", help="对象类型: 党组织 (organization) or "
                                         "领导干部 (cadre).")]
MethodOption = Annotated[list[str], typer.Option("--method", help="问责方式, repeatable: 检查 "
                                                 "通报 改组 诫勉 组织调整 纪律处分 移送司法.")]
DecidedByOption = Annotated[str, typer.Option("--decided-by", help="决定机关.")]
DateOption = Annotated[str, typer.Option("--date", help="决定日期, YYYY-MM-DD.")]
RankOption = Annotated[str | None, typer.Option(help="职级: 省部级 厅局级 县处级 乡科级 其他 "
                                                "(aliases 厅级 处级 县级 科级).")]
UnitOption = Annotated[str | None, typer.Option(help="The subject's unit.")]
SourceOption = Annotated[str | None, typer.Option(help="移交问题清单 number.")]
DisclosedOption = Annotated[bool, typer.Option("--disclosed", help="是否公开: published.")]
NoteOption = Annotated[str | None, typer.Option(help="Note kept with the record.")]


@accountability_app.command("add")
@reports_errors
def accountability_add(
    subject: SubjectOption, subject_type: TypeOption, methods: MethodOption,
    decided_by: DecidedByOption, decided_on: DateOption,
    issues: Annotated[list[int], typer.Option("--issue", help="关联问题: issue id, "
                                              "repeatable.")],
    rank: RankOption = None, unit: UnitOption = None, source: SourceOption = None,
    disclosed: DisclosedOption = False, note: NoteOption = None,
    actor: ActorName = "整改办", role: RoleName = None,
) -> None:
    """Record an accountability decision (office or discipline); each linked issue's
    history notes it."""
    from workflow.supervision.accountability import record

    new = _new_accountability(subject, subject_type, methods, decided_by, decided_on, issues,
                              rank, unit, source, disclosed, note)
    record_id = record(_engine(), new, actor=_actor(actor, role))
    console.print(f"accountability record {record_id} added")


@accountability_app.command("adopt")
@reports_errors
def accountability_adopt(
    proposal: Annotated[int, typer.Argument(help="Proposal id.")],
    subject: SubjectOption, subject_type: TypeOption, methods: MethodOption,
    decided_by: DecidedByOption, decided_on: DateOption,
    issues: Annotated[list[int] | None, typer.Option("--issue", help="Further linked "
                                                     "issues.")] = None,
    rank: RankOption = None, unit: UnitOption = None, source: SourceOption = None,
    disclosed: DisclosedOption = False, note: NoteOption = None,
    actor: ActorName = "整改办", role: RoleName = None,
) -> None:
    """Adopt an escalation proposal (问责建议) as an accountability record (office only)."""
    from workflow.supervision.accountability import record

    new = _new_accountability(subject, subject_type, methods, decided_by, decided_on,
                              issues or [], rank, unit, source, disclosed, note)
    record_id = record(_engine(), new, actor=_actor(actor, role), proposal_id=proposal)
    console.print(f"proposal {proposal} adopted as accountability record {record_id}")


@accountability_app.command("dismiss")
@reports_errors
def accountability_dismiss(
    proposal: Annotated[int, typer.Argument(help="Proposal id.")],
    reason: Annotated[str, typer.Option(help="Why no accountability follows.")],
    actor: ActorName = "整改办", role: RoleName = None,
) -> None:
    """Close an escalation proposal without accountability, with a reason (office only)."""
    from workflow.supervision.accountability import dismiss

    dismiss(_engine(), proposal, actor=_actor(actor, role), reason=reason)
    console.print(f"proposal {proposal} dismissed")


@accountability_app.command("proposals")
@reports_errors
def accountability_proposals(
    status: Annotated[str | None, typer.Option(help="open, adopted, dismissed; all when "
                                               "omitted with --all.")] = "open",
    show_all: Annotated[bool, typer.Option("--all", help="Every proposal.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Escalation proposals (问责建议) waiting for the office's decision."""
    from workflow.supervision.accountability import proposals

    rows = [{"id": p.id, "issue_id": p.issue_id, "reason": p.reason, "status": p.status,
             "opened_at": local(p.opened_at).isoformat(timespec="minutes"),
             "decided_by": p.decided_by}
            for p in proposals(_engine(), status=None if show_all else status)]
    if as_json:
        _print_json(rows)
        return
    _print_table("问责建议 accountability proposals",
                 ("id", "issue", "reason", "status", "opened (Asia/Shanghai)", "decided by"),
                 [(r["id"], r["issue_id"], r["reason"], r["status"], r["opened_at"][:16],
                   r["decided_by"] or "") for r in rows])


@accountability_app.command("list")
@reports_errors
def accountability_list(
    issue: Annotated[int | None, typer.Option(help="Only records linked to this issue.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Accountability records (问责情况), with the summary sentence."""
    from workflow.supervision.accountability import records, summary

    engine = _engine()
    rows = records(engine, issue=issue)
    if as_json:
        _print_json(rows)
        return
    _print_table("问责情况 accountability records",
                 ("id", "对象类型", "问责对象", "单位", "职级", "问责方式", "决定机关", "决定日期",
                  "关联问题", "公开"),
                 [(r["id"], r["subject_type_label"], r["subject"], r["unit"] or "",
                   r["rank_label"] or "", "、".join(r["method_labels"]), r["decided_by"],
                   r["decided_on"], ", ".join(map(str, r["issues"])),
                   "是" if r["disclosed"] else "否") for r in rows])
    if issue is None:
        console.print(summary(engine).sentence_zh())


@accountability_app.command("summary")
@reports_errors
def accountability_summary(as_json: JsonOption = False) -> None:
    """Organisations and cadres held accountable, cadres by rank."""
    from workflow.supervision.accountability import summary

    result = summary(_engine())
    if as_json:
        _print_json(result.as_dict())
    else:
        console.print(result.sentence_zh())


# --- look-back (回头看) --------------------------------------------------------------------

lookback_app = typer.Typer(help="Look-back reviews (回头看).", no_args_is_help=True)
app.add_typer(lookback_app, name="lookback")


@lookback_app.command("start")
@reports_errors
def lookback_start(
    plan: Annotated[str, typer.Option(help="整改方案 whose issues are drawn.")],
    sample: Annotated[str, typer.Option(help="Share of the eligible issues, e.g. 30%.")] = "100%",
    seed: Annotated[int | None, typer.Option(help="Seed of the draw (repeat a campaign's "
                                             "draw); random when omitted.")] = None,
    trigger: Annotated[str, typer.Option(help="Trigger that starts a look-back.")] =
    "start_follow_up",
    actor: ActorName = "整改办",
    role: RoleName = None,
    as_json: JsonOption = False,
) -> None:
    """A look-back campaign (回头看专项): start the look-back on a random sample of the
    plan's cleared issues; the draw's seed is printed so it can be repeated."""
    from workflow.supervision.lookback import parse_sample, start_campaign

    campaign = start_campaign(_engine(), plan, actor=_actor(actor, role),
                              percent=parse_sample(sample), seed=seed, trigger=trigger)
    if as_json:
        _print_json(campaign.as_dict())
    else:
        console.print(f"{campaign.id}: drew {len(campaign.started) + len(campaign.failed)} of "
                      f"{campaign.eligible} eligible issue(s) of {plan} ({sample}, seed "
                      f"{campaign.seed}); started {len(campaign.started)}: "
                      f"{', '.join(map(str, campaign.started)) or 'none'}")
        for failure in campaign.failed:
            errors.print(f"issue {failure['issue_id']}: {failure['error']}", style="red",
                         markup=False, highlight=False)
    if campaign.failed:
        raise typer.Exit(1)


# --- units and people --------------------------------------------------------------------------

units_app = typer.Typer(help="Units (单位): who works and accepts issues.", no_args_is_help=True)
people_app = typer.Typer(help="People and the roles they act in.", no_args_is_help=True)
app.add_typer(units_app, name="units")
app.add_typer(people_app, name="people")


@units_app.command("add")
@reports_errors
def units_add(name: Annotated[str, typer.Argument(help="Unit name, e.g. 相山区人民政府.")],
              parent: Annotated[str | None, typer.Option(help="The unit above it.")] = None,
              ) -> None:
    """Register a unit (a county, a department, an office)."""
    from workflow.org.directory import add_unit

    add_unit(Database(Settings.from_env().database_url), name, parent=parent)
    console.print(f"unit {name} registered")


@units_app.command("list")
@reports_errors
def units_list(as_json: JsonOption = False) -> None:
    """Registered units."""
    from workflow.org.directory import units

    rows = [{"name": u.name, "parent": u.parent}
            for u in units(Database(Settings.from_env().database_url))]
    if as_json:
        _print_json(rows)
        return
    _print_table("单位 units", ("name", "parent"), [(r["name"], r["parent"] or "") for r in rows])


@people_app.command("add")
@reports_errors
def people_add(
    name: Annotated[str, typer.Argument(help="The person's name.")],
    roles: Annotated[list[str], typer.Option("--role", help="Role they act in (repeatable): "
                                             "office, unit, acceptor, leader, discipline, "
                                             "public.")],
    unit: Annotated[str | None, typer.Option(help="Their unit (registered).")] = None,
    title: Annotated[str | None, typer.Option(help="职务, e.g. 副市长.")] = None,
    rank: RankOption = None,
    sector: Annotated[list[str] | None, typer.Option(help="包保领域 (问题类别) of a leader "
                                                     "(repeatable).")] = None,
) -> None:
    """Register a person with the roles they act in (`--as NAME` then acts as them)."""
    from workflow.org.directory import add_person

    add_person(Database(Settings.from_env().database_url), name, roles=roles, unit=unit,
               title=title, rank=rank, sectors=sector or [])
    console.print(f"{name} registered ({', '.join(roles)})")


@people_app.command("list")
@reports_errors
def people_list(as_json: JsonOption = False) -> None:
    """Registered people."""
    from workflow.org.directory import people
    from workflow.org.ranks import rank_label

    rows = [{"name": p.name, "title": p.title, "rank": p.rank, "rank_label": rank_label(p.rank),
             "unit": p.unit, "roles": p.roles, "sectors": p.sectors}
            for p in people(Database(Settings.from_env().database_url))]
    if as_json:
        _print_json(rows)
        return
    _print_table("人员 people", ("name", "title", "rank", "unit", "roles", "sectors"),
                 [(r["name"], r["title"] or "", r["rank_label"], r["unit"] or "",
                   ", ".join(r["roles"]), ", ".join(r["sectors"])) for r in rows])


# --- plans and inspections ----------------------------------------------------------------------

plan_app = typer.Typer(help="Rectification plans (整改方案) and inspections (督察).",
                       no_args_is_help=True)
app.add_typer(plan_app, name="plan")


def _period(text: str | None) -> tuple[date, date] | None:
    if text is None:
        return None
    start, sep, end = text.partition("..")
    if not sep or not start.strip() or not end.strip():
        raise InputError(f"--period {text!r} must look like 2019-09-23..2019-10-30")
    first, last = _parse_date(start.strip(), "--period"), _parse_date(end.strip(), "--period")
    assert first is not None and last is not None
    return first, last


@plan_app.command("inspection")
@reports_errors
def plan_inspection(
    name: Annotated[str, typer.Argument(help="e.g. 安徽省第二生态环境保护督察组.")],
    level: Annotated[str, typer.Option(help="中央 (central) or 省级 (provincial).")],
    round_: Annotated[str | None, typer.Option("--round", help="轮次, e.g. 第二轮.")] = None,
    team: Annotated[str | None, typer.Option(help="督察组.")] = None,
    period: Annotated[str | None, typer.Option(help="督察时间, START..END.")] = None,
    feedback: Annotated[str | None, typer.Option(help="反馈日期, YYYY-MM-DD.")] = None,
) -> None:
    """Register the inspection a plan answers."""
    from workflow.org.plans import add_inspection

    add_inspection(Database(Settings.from_env().database_url), name, level=level,
                   round=round_, team=team, period=_period(period),
                   feedback_on=_parse_date(feedback, "--feedback"))
    console.print(f"inspection {name} registered")


@plan_app.command("add")
@reports_errors
def plan_add(
    name: Annotated[str, typer.Argument(help="整改方案 name.")],
    inspection: Annotated[str | None, typer.Option(help="The inspection it answers.")] = None,
    issued: Annotated[str | None, typer.Option(help="印发日期, YYYY-MM-DD.")] = None,
    category: Annotated[list[str] | None, typer.Option(help="问题类别 (repeatable); issues of "
                                                       "the plan must name one.")] = None,
) -> None:
    """Register a plan and its categories."""
    from workflow.org.plans import add_plan

    add_plan(Database(Settings.from_env().database_url), name, inspection=inspection,
             issued_on=_parse_date(issued, "--issued"), categories=category or [])
    console.print(f"plan {name} registered")


@plan_app.command("list")
@reports_errors
def plan_list(as_json: JsonOption = False) -> None:
    """Registered plans with their inspections and categories."""
    from workflow.org.plans import LEVELS, inspections, plans

    db = Database(Settings.from_env().database_url)
    found = {i.name: i for i in inspections(db)}
    rows = []
    for p in plans(db):
        i = found.get(p.inspection or "")
        rows.append({"name": p.name, "inspection": p.inspection,
                     "level": LEVELS.get(i.level) if i else None,
                     "round": i.round if i else None,
                     "feedback_on": i.feedback_on.isoformat() if i and i.feedback_on else None,
                     "issued_on": p.issued_on.isoformat() if p.issued_on else None,
                     "categories": p.categories})
    if as_json:
        _print_json(rows)
        return
    _print_table("整改方案 plans", ("name", "inspection", "level", "feedback", "categories"),
                 [(r["name"], r["inspection"] or "", r["level"] or "", r["feedback_on"] or "",
                   "、".join(r["categories"])) for r in rows])


# The ledger and report commands live in their own module; it uses the helpers above.
from workflow.cli.documents import ledger_app, report_app  # noqa: E402

app.add_typer(ledger_app, name="ledger")
app.add_typer(report_app, name="report")
