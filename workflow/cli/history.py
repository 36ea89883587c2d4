"""`rectify verify` (replay and prove the history), `rectify checkpoint` (sign a digest of
every chain head into the checkpoint log) and `rectify keys` (where the keys are; rotate the
history key). Secrets are never printed."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from sqlalchemy import select

from workflow.cli.common import JsonOption, console, errors, make_engine, print_json, reports_errors
from workflow.config import Settings
from workflow.errors import InputError
from workflow.issues.checkpoints import Checkpoint, prove, read_log, unpack_heads, write_checkpoint
from workflow.issues.engine import Engine
from workflow.issues.keys import (
    HISTORY_KEY_ENV,
    HistoryKeys,
    TrustFiles,
    read_history_keys,
    rotate_history_key,
)
from workflow.issues.verification import verify as verify_history
from workflow.models import IssueEvent
from workflow.startup import trust_files

keys_app = typer.Typer(help="The history key and the checkpoint signing key.",
                       no_args_is_help=True)


@reports_errors
def verify(issue: Annotated[int | None, typer.Option(help="Only this issue.")] = None,
           checkpoints: Annotated[bool, typer.Option(
               "--checkpoints", help="Also prove every event up to each checkpoint of the log "
                                     "unchanged and no issue deleted.")] = False,
           as_json: JsonOption = False) -> None:
    """Replay every history chain: links, keyed hashes, legality of each event, time order,
    the issue rows against the replay, evidence files against their hashes, and (without
    --issue) the audit trail (exit 1 on any problem)."""
    engine = make_engine()
    files = trust_files(Settings.from_env()) if checkpoints else None
    report = verify_history(engine, issue, checkpoints=files)
    if as_json:
        print_json(report.as_dict())
    elif report.ok:
        proved = (f"; proved against {report.checkpoints} checkpoint(s) of "
                  f"{files.checkpoint_log}" if files is not None else "")
        audit = ("" if report.audit_records is None
                 else f", {report.audit_records} audit record(s)")
        console.print(f"history intact: {report.issues} issue(s), {report.events} event(s), "
                      f"{report.evidence} evidence file(s){audit}{proved}", highlight=False)
    else:
        errors.print(f"history check FAILED: {report.problems[0]}", style="red",
                     highlight=False, markup=False)
        for problem in report.problems[1:]:
            errors.print(f"  {problem}", style="red", highlight=False, markup=False)
        if report.more:
            errors.print(f"  … and {report.more} more", style="red")
    if not as_json:
        for note in report.unchecked:
            console.print(f"not checked: {note}", highlight=False, markup=False)
    if not report.ok:
        raise typer.Exit(1)


@reports_errors
def checkpoint(prove_issue: Annotated[int | None, typer.Option(
                   "--prove", help="Instead of signing a new checkpoint, print the proof that "
                                   "this issue's chain is in the latest one.")] = None,
               as_json: JsonOption = False) -> None:
    """Sign a digest of every chain head (Merkle root, issue and event counts) and append it
    to the checkpoint log outside the database."""
    engine = make_engine()
    files = trust_files(Settings.from_env())
    if prove_issue is not None:
        lines = [text for _number, text in read_log(files.checkpoint_log)]
        if not lines:
            raise InputError(f"no checkpoint in {files.checkpoint_log}; take one with "
                             "`rectify checkpoint`")
        try:
            latest = Checkpoint.parse(lines[-1])
            wanted = {(i, v) for i, v, _ in unpack_heads(latest.heads) if v}
            print_json(prove(latest, prove_issue, _event_hashes(engine, wanted)))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot prove issue {prove_issue} against the latest checkpoint "
                             f"of {files.checkpoint_log}: {exc}; `rectify verify "
                             "--checkpoints` checks the whole log") from None
        return
    made = write_checkpoint(engine.db, files, engine.clock.now())
    if as_json:
        print_json({"seq": made.seq, "at": made.at.isoformat(), "issues": made.issues,
                    "events": made.events, "root": made.root, "key": made.key,
                    "log": str(files.checkpoint_log)})
        return
    console.print(f"checkpoint #{made.seq}: {made.issues} issue(s), {made.events} event(s), "
                  f"root {made.root} signed with key {made.key}; appended to "
                  f"{files.checkpoint_log}", highlight=False)


def _event_hashes(engine: Engine, wanted: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    with engine.db.session() as session:
        rows = session.execute(select(IssueEvent.issue_id, IssueEvent.seq, IssueEvent.hash))
        return {(i, s): h for i, s, h in rows if (i, s) in wanted}


@keys_app.command("show")
@reports_errors
def keys_show(as_json: JsonOption = False) -> None:
    """Where the key files and the checkpoint log are, and the key ids (never a secret)."""
    files = trust_files(Settings.from_env())
    keys = HistoryKeys.load(files)
    from_env = keys.current.id not in _file_ids(files)
    view = {"history_key_file": str(files.history_key),
            "current_key": f"{keys.current.id} (from "
                           f"{HISTORY_KEY_ENV if from_env else files.history_key.name})",
            "known_keys": ", ".join(keys.ids), "signing_key": str(files.signing_key),
            "public_key": str(files.public_key), "checkpoint_log": str(files.checkpoint_log)}
    if as_json:
        print_json(view)
        return
    for name, value in view.items():
        console.print(f"{name}: {value}", highlight=False)


def _file_ids(files: TrustFiles) -> list[str]:
    path = files.history_key
    return [key.id for key in read_history_keys(path)] if path.exists() else []


@keys_app.command("rotate")
@reports_errors
def keys_rotate() -> None:
    """Add a new current history key to the key file; older events keep verifying with the
    keys before it, which stay in the file."""
    if os.environ.get(HISTORY_KEY_ENV, "").strip():
        raise InputError(f"{HISTORY_KEY_ENV} is set, so it is the current key and the key "
                         "file's newest key is not; to rotate, put a new secret in "
                         f"{HISTORY_KEY_ENV} and add the old one to the key file, or unset it "
                         "and rotate the file")
    files = trust_files(Settings.from_env())
    key = rotate_history_key(files.history_key, make_engine().clock.now())
    console.print(f"history key {key.id} is now current in {files.history_key}; keep the "
                  "file's backup up to date", highlight=False)
