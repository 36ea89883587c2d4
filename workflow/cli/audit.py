"""`rectify audit list|verify`: the append-only trail of administrative changes."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow.audit import audit_events, verify_audit
from workflow.cli.common import (
    JsonOption,
    console,
    errors,
    make_engine,
    print_json,
    print_table,
    reports_errors,
)
from workflow.clock import local

audit_app = typer.Typer(help="The audit trail of administrative changes.", no_args_is_help=True)


@audit_app.command("list")
@reports_errors
def audit_list(limit: Annotated[int, typer.Option(help="The newest records at most.")] = 50,
               as_json: JsonOption = False) -> None:
    """Who registered, loaded, retried, imported or moved the clock, and when; oldest first."""
    rows = [{"id": e.id, "at": local(e.at).isoformat(), "actor": e.actor, "role": e.role,
             "os_user": e.os_user, "action": e.action, "subject": e.subject,
             "details": e.details} for e in audit_events(make_engine().db, limit=limit)]
    if as_json:
        print_json(rows)
        return
    print_table("审计记录 / Audit trail", ("id", "at (Asia/Shanghai)", "actor", "role", "os user",
                                          "action", "subject"),
                [(r["id"], r["at"][:16], r["actor"], r["role"], r["os_user"] or "",
                  r["action"], r["subject"]) for r in rows])


@audit_app.command("verify")
@reports_errors
def audit_verify() -> None:
    """Walk the audit trail's hash chain; exit 1 on the first altered or missing record."""
    problem = verify_audit(make_engine().db)
    if problem:
        errors.print(f"audit trail check FAILED: {problem}", style="red", highlight=False)
        raise typer.Exit(1)
    console.print("audit trail intact")
