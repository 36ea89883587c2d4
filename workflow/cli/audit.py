"""`rectify audit list|verify`: the append-only trail of administrative changes."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow.audit import audit_events, verify_audit
from workflow.cli.common import (
    ActorName,
    JsonOption,
    RoleName,
    console,
    errors,
    make_engine,
    office_act,
    print_json,
    print_table,
    reports_errors,
)
from workflow.clock import local

audit_app = typer.Typer(help="The audit trail of administrative changes.", no_args_is_help=True)


@audit_app.command("list")
@reports_errors
def audit_list(limit: Annotated[int, typer.Option(help="The newest records at most.")] = 50,
               actor: ActorName = None, role: RoleName = None,
               as_json: JsonOption = False) -> None:
    """Who registered, loaded, retried, imported, moved the clock, signed in, was refused or
    downloaded a document, and when; oldest first. For the office (--as)."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    with engine.db.session() as session:
        by.check(session, "read the audit trail")
    rows = [{"id": e.id, "at": local(e.at).isoformat(), "actor": e.actor, "role": e.role,
             "os_user": e.os_user, "action": e.action, "subject": e.subject,
             "details": e.details} for e in audit_events(engine.db, limit=limit)]
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
    """Walk the audit trail's keyed hash chain; exit 1 on an altered, missing or forged
    record (`rectify verify` checks it too)."""
    engine = make_engine()
    check = verify_audit(engine.db, engine.keys)
    if not check.ok:
        errors.print(f"audit trail check FAILED: {check.problems[0]}", style="red",
                     highlight=False, markup=False)
        for problem in check.problems[1:]:
            errors.print(f"  {problem}", style="red", highlight=False, markup=False)
        raise typer.Exit(1)
    console.print(f"audit trail intact: {check.records} record(s)", highlight=False)
    if check.unkeyed:
        console.print(f"not checked: {check.unkeyed} record(s) predate keying (no key id, "
                      "plain sha256): anyone with the database could recompute them",
                      highlight=False)
