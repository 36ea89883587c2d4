"""`rectify ledger import|export` and `rectify report progress|monthly|public`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from workflow.cli.common import (
    ActorName,
    RoleName,
    console,
    errors,
    make_actor,
    make_engine,
    parse_date,
    print_json,
    reports_errors,
)
from workflow.errors import InputError

if TYPE_CHECKING:
    from workflow.issues.checkpoints import Checkpoint

ledger_app = typer.Typer(help="The ledger (台账): Excel import and export.", no_args_is_help=True)
report_app = typer.Typer(help="Reports: progress (整改进展), monthly briefing (月度调度), public "
                              "disclosure (信息公开).", no_args_is_help=True)

PlanOption = Annotated[str | None, typer.Option(help="Only this plan (整改方案).")]


@ledger_app.command("import")
@reports_errors
def ledger_import(
    file: Annotated[Path, typer.Argument(help="The ledger: .xlsx (sheet 整改情况清单, or the "
                                               "first sheet; optional sheet 问责情况) or .csv.")],
    plan: Annotated[str, typer.Option(help="The plan (整改方案) the rows belong to; created "
                                           "when new. Re-importing a plan updates by 序号.")],
    sheet: Annotated[str | None, typer.Option(help="Read this sheet instead.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="The day the ledger describes (YYYY-MM-DD, default today): new "
                        "issues' states hold from it.")] = None,
    facts_only: Annotated[bool, typer.Option(
        "--facts-only", help="Rows whose 整改状态 differs from the system: import their other "
                             "columns and keep the system's state (without it such rows refuse "
                             "the import).")] = False,
    actor: ActorName = None, role: RoleName = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result (or the problems) "
                                                         "as JSON.")] = False,
) -> None:
    """Import an Excel or CSV ledger, all or nothing: any bad row means nothing is imported,
    and every bad row is listed with its row, column and what is expected. An import never
    changes the state of an issue already in the system."""
    from workflow.documents.ledger_import import LedgerError, import_ledger

    day = parse_date(as_of, "--as-of")
    engine = make_engine()
    who = make_actor(actor, role)
    with Progress(TextColumn("importing {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=errors,
                  disable=as_json, transient=True) as bar:
        task = bar.add_task(file.name, total=None)

        def step(rows: int, total: int | None) -> None:
            bar.update(task, completed=rows, total=total)

        try:
            result = import_ledger(engine, file, plan=plan, actor=who, sheet=sheet,
                                   as_of=day, facts_only=facts_only, on_progress=step)
        except LedgerError as exc:
            if as_json:
                print_json({"imported": False,
                            "problems": [p.as_dict() for p in exc.problems],
                            "conflicts": [c.as_dict() for c in exc.conflicts]})
                raise typer.Exit(2) from None
            raise
    if as_json:
        print_json({"imported": True, **result.as_dict()})
        return
    console.print(f"{file.name} (sha256 {result.sha256[:12]}…, as of {result.as_of}) → "
                  f"{plan}: {result.rows} rows; {result.created} created, "
                  f"{result.updated} updated, {result.unchanged} unchanged; accountability "
                  f"{result.accountability_added} added, {result.accountability_unchanged} "
                  f"already recorded; {result.units_added} new units, {result.people_added} "
                  f"new people" + ("; plan created" if result.plan_created else ""))
    if result.ignored_columns:
        console.print(f"columns not imported: {', '.join(result.ignored_columns)}")
    for kept in result.states_kept:
        console.print(f"序号 {kept['number']}: state kept as {kept['system_state']} (the "
                      f"ledger says {kept['ledger_state']})", highlight=False, markup=False)


@ledger_app.command("export")
@reports_errors
def ledger_export(
    file: Annotated[Path, typer.Argument(help="The .xlsx file to write.")],
    plan: PlanOption = None,
    state: Annotated[str | None, typer.Option(help="Only issues in this state (key).")] = None,
    unit: Annotated[str | None, typer.Option(help="Only issues of this unit.")] = None,
) -> None:
    """Write the ledger as xlsx: the official columns plus light, days overdue, last monthly
    report and clearance date; a second sheet with the accountability records."""
    from workflow.documents.ledger_export import export_ledger

    if file.suffix.lower() != ".xlsx":
        raise InputError(f"{file.name}: the ledger is written as .xlsx; name the file *.xlsx")
    count = export_ledger(make_engine(), file, checkpoint=_latest_checkpoint(), plan=plan,
                          state=state, unit=unit)
    console.print(f"{count} issue(s) written to {file}")


def _as_of(text: str | None) -> date | None:
    return parse_date(text, "--as-of")


def _latest_checkpoint() -> Checkpoint | None:
    """The latest signed checkpoint of the log beside the database, which every report,
    ledger export and disclosure names."""
    from workflow.config import Settings
    from workflow.issues.checkpoints import latest_checkpoint
    from workflow.startup import trust_files

    return latest_checkpoint(trust_files(Settings.from_env()))


@report_app.command("progress")
@reports_errors
def report_progress(
    plan: PlanOption = None,
    as_of: Annotated[str | None, typer.Option(help="As recorded at the end of this day "
                                                   "(YYYY-MM-DD, Asia/Shanghai); default "
                                                   "now.")] = None,
    output: Annotated[str, typer.Option("--format", help="text, json, md or html.")] = "text",
) -> None:
    """Progress (整改进展): totals by state, category, unit and leader, the overdue list, the
    accountability figures and the summary sentences officials write."""
    from workflow.documents.figures import progress_report

    if output not in ("text", "json", "md", "html"):
        raise InputError(f"--format {output!r}: allowed: text, json, md, html")
    report = progress_report(make_engine(), plan=plan, as_of=_as_of(as_of),
                             checkpoint=_latest_checkpoint())
    if output == "json":
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo({"md": report.markdown, "html": report.html}.get(output, report.text)())


@report_app.command("monthly")
@reports_errors
def report_monthly(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    out: Annotated[Path, typer.Option(help="Directory for the Markdown, HTML and chart.")] =
    Path("."),
    plan: PlanOption = None,
) -> None:
    """The monthly briefing (月度调度) as Markdown and HTML with a burn-down chart (PNG): open
    issues per week, red/black ranking of units, items under 重点督办, new accountability."""
    from workflow.documents.briefing import write_monthly

    paths = write_monthly(make_engine(), month=month, out=out, plan=plan)
    for path in paths:
        console.print(f"written: {path}")


@report_app.command("public")
@reports_errors
def report_public(
    out: Annotated[Path, typer.Option(help="Directory for 信息公开.html and 信息公开.xlsx.")] =
    Path("."),
    plan: PlanOption = None,
) -> None:
    """The disclosure list (信息公开): 序号, 问题, 整改措施, 责任单位, 整改时限, 整改状态 and
    销号日期 only, as HTML and xlsx."""
    from workflow.documents.disclosure import write_public

    for path in write_public(make_engine(), out=out, checkpoint=_latest_checkpoint(),
                             plan=plan):
        console.print(f"written: {path}")
