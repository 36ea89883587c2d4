"""`rectify init`, `rectify db upgrade|grant` and `rectify definitions check|load|list|migrate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from workflow.cli.common import (
    ActorName,
    JsonOption,
    RoleName,
    console,
    make_actor,
    make_engine,
    office_act,
    os_user,
    print_json,
    print_table,
    reports_errors,
)
from workflow.clock import SystemClock, local
from workflow.config import Settings
from workflow.db import Database
from workflow.errors import DefinitionError
from workflow.issues.checkpoints import write_checkpoint
from workflow.issues.grants import grant_runtime
from workflow.migrate import current_revision, upgrade
from workflow.models import DefinitionRecord, Issue
from workflow.spec.definitions import load_all
from workflow.spec.registry import load_definitions
from workflow.startup import create_keys, initialize, open_engine, trust_files

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
definitions_app = typer.Typer(help="Process definitions.", no_args_is_help=True)


@reports_errors
def init(
    admin: Annotated[str | None, typer.Option(help="Register the first office person of an "
                                              "empty directory (then act as them with "
                                              "--as).")] = None,
    training: Annotated[bool, typer.Option("--training", help="Create a training database: "
                                           "the clock may be moved (sweep --now); on no other "
                                           "database.")] = False,
) -> None:
    """Create or upgrade the database, load the process definitions, and create the key files
    the history needs beside the database (with a first checkpoint when the signing key is
    new)."""
    from workflow.org.directory import bootstrap_office
    from workflow.startup import mark_database

    settings = Settings.from_env()
    files = trust_files(settings)
    made = create_keys(files, SystemClock().now())
    engine = open_engine(settings, require_schema=False)
    outcomes = initialize(engine, settings.definitions_dir)
    is_training = mark_database(engine.db, training=training)
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    console.print(f"database ready: {shown}"
                  + (" (training: the clock may be moved)" if is_training else ""),
                  highlight=False)
    for outcome in outcomes:
        console.print(f"  {outcome.ref}: {outcome.status} ({outcome.path})")
    for line in made:
        console.print(f"  {line}", highlight=False)
    if any(line.startswith("checkpoint signing key") for line in made):
        first = write_checkpoint(engine.db, files, engine.clock.now())
        console.print(f"  checkpoint #{first.seq} of {first.issues} issue(s) and {first.events} "
                      f"event(s): {files.checkpoint_log}", highlight=False)
    if admin is not None:
        added = bootstrap_office(engine.db, admin, key=engine.keys.current, os_user=os_user())
        console.print(f"{admin.strip()} " + ("registered as the first office person"
                                             if added else "is an office person already"))


@db_app.command("upgrade")
@reports_errors
def db_upgrade() -> None:
    """Apply pending schema migrations (Alembic)."""
    db = Database(Settings.from_env().database_url)
    upgrade(db)
    console.print(f"database at revision {current_revision(db)}")


@db_app.command("grant")
@reports_errors
def db_grant(role: Annotated[str, typer.Argument(help="The runtime role (PostgreSQL), which "
                                                      "must exist and own nothing.")]) -> None:
    """Give the runtime role what the engine needs and no more (run as the schema owner, again
    after each upgrade): no UPDATE or DELETE of history, no DELETE of issues, no ALTER."""
    db = Database(Settings.from_env().database_url)
    statements = grant_runtime(db, role)
    console.print(f"role {role}: {len(statements)} grant/revoke statement(s) run; it may append "
                  "history but not change or delete it", highlight=False)


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
        print_json({"ok": not faults, "definitions": [
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
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Load new definition versions into the database (running issues keep theirs); an
    office person does."""
    source = path or Settings.from_env().definitions_dir
    engine = make_engine()
    by = office_act(engine, actor, role)
    outcomes = load_definitions(engine.db, load_all(source), now=engine.clock.now(), by=by,
                                source=str(source))
    for outcome in outcomes:
        console.print(f"{outcome.ref}: {outcome.status} ({outcome.path})")


@definitions_app.command("list")
@reports_errors
def definitions_list(as_json: JsonOption = False) -> None:
    """Loaded definition versions and how many issues run on each."""
    engine = make_engine()
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
        print_json(rows)
        return
    print_table("流程定义 / Process definitions",
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
    actor: ActorName = None,
    role: RoleName = None,
    as_json: JsonOption = False,
) -> None:
    """Move running issues to another definition version (office only): those whose state
    exists there move, with a `migrate` event in their history; the others are listed with
    the reason. Exit 1 when any issue could not move."""
    from workflow.issues.versions import migrate, parse_ref

    report = migrate(make_engine(), parse_ref(source, "--from"), parse_ref(target, "--to"),
                     actor=make_actor(actor, role), dry_run=dry_run)
    if as_json:
        print_json(report.as_dict())
    else:
        verb = "would move" if dry_run else "moved"
        console.print(f"{report.source} → {report.target}: {verb} {len(report.moved)} "
                      f"issue(s); {len(report.refused)} cannot move; {report.kept} finished "
                      f"issue(s) stay")
        if report.refused:
            print_table("cannot move", ("issue", "state", "why"),
                        [(r["issue_id"], r["state"], r["reason"]) for r in report.refused])
    if report.refused:
        raise typer.Exit(1)
