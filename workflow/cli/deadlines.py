"""Deadline commands: `rectify timers list`, `rectify sweep` and `rectify calendar check|recompute`
(the working-day calendar)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workflow.cli.common import (
    ActorName,
    JsonOption,
    Moment,
    RoleName,
    console,
    make_actor,
    make_engine,
    moved_clock,
    print_json,
    print_table,
    reports_errors,
)
from workflow.issues import queries
from workflow.issues.sweep import sweep
from workflow.spec.workdays import load_calendar

timers_app = typer.Typer(help="Durable timers (reminders, escalation).", no_args_is_help=True)
calendar_app = typer.Typer(help="Working-day calendar (工作日, 调休).", no_args_is_help=True)


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
    engine = make_engine()
    rows = queries.list_timers(engine.db, now=engine.clock.now(), due=due, issue_id=issue,
                               pending_only=not every)
    if as_json:
        print_json(rows)
        return
    print_table("定时任务 / Timers", ("id", "issue", "state", "kind", "level",
                                     "due (Asia/Shanghai)", "status", "attempts"),
                [(row["id"], row["issue_id"], row["state"], row["kind"], row["level"],
                  row["due_at"][:16], row["status"], row["attempts"]) for row in rows])


@reports_errors
def sweep_command(
    now: Moment = None,
    limit: Annotated[int, typer.Option(help="Timers to claim at most.")] = 1000,
    actor: ActorName = None, role: RoleName = None,
    as_json: JsonOption = False,
) -> None:
    """Run one timer sweep: claim what is due, notify once per issue, record skips. With
    --now (a training database only) it also needs --as: who moved the clock."""
    engine = make_engine()
    at, mover = moved_clock(engine, now, actor, role, "sweep")
    report = sweep(engine, now=at, limit=limit, moved_by=mover)
    if as_json:
        print_json(report.__dict__)
    else:
        console.print(f"claimed {report.claimed}, notified {report.sent} level(s) with "
                      f"{report.notifications} message(s), skipped {report.skipped}, "
                      f"conflicts {report.conflicts}, failed {report.failed}")


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
def calendar_recompute(actor: ActorName = None, role: RoleName = None) -> None:
    """After entering a new year's notice: recompute every provisional deadline (an office
    person does)."""
    who = make_actor(actor, role)
    changed = make_engine().recompute_provisional_deadlines(actor=who)
    console.print(f"{len(changed)} provisional deadline(s) recomputed"
                  + (f": issues {', '.join(map(str, changed))}" if changed else ""))
