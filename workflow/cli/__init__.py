"""The `rectify` command line (Typer + Rich): every engine capability, `--json` on reads.

This module only assembles the root `app` (the `rectify` entry point) from the command
modules, in the order `rectify --help` lists them:

* `common`: consoles, `reports_errors`, shared options and helpers (no commands);
* `definitions`: init, db, definitions;      * `issue`: issue …;
* `history`: verify, checkpoint, keys;
* `deadlines`: timers, sweep, calendar;      * `outbox`: outbox, contacts;
* `supervision`: progress, accountability, lookback;
* `org`: units, people, plan;                * `documents`: ledger, report;
* `demo`: the demo and its player;           * `tables`: the Rich ledger and history tables;
* `background`: serve, scheduler, worker, doctor (the only user of `scheduler` and `workers`);
* `audit`: the audit trail of administrative changes;
* `accounts`: sign-in accounts and API tokens;
* `background` also serves HTTP: `web` alone, `serve` with the scheduler.
"""

from __future__ import annotations

import typer

from workflow.cli import (
    accounts,
    audit,
    background,
    deadlines,
    definitions,
    demo,
    documents,
    history,
    issue,
    org,
    outbox,
    supervision,
)

app = typer.Typer(help="rectify: carries rectification work from assignment to clearance.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

# Commands of their own, then the command groups.
app.command()(definitions.init)
app.command("sweep")(deadlines.sweep_command)
app.command()(history.verify)
app.command()(history.checkpoint)
app.command()(demo.demo)
app.command()(background.serve)
app.command()(background.web)
app.command("scheduler")(background.scheduler_command)
app.command(context_settings=background.WORKER_CONTEXT)(background.worker)
app.command()(background.doctor)

app.add_typer(definitions.db_app, name="db")
app.add_typer(definitions.definitions_app, name="definitions")
app.add_typer(issue.issue_app, name="issue")
app.add_typer(history.keys_app, name="keys")
app.add_typer(deadlines.timers_app, name="timers")
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(deadlines.calendar_app, name="calendar")
app.add_typer(outbox.contacts_app, name="contacts")
app.add_typer(supervision.progress_app, name="progress")
app.add_typer(supervision.accountability_app, name="accountability")
app.add_typer(supervision.lookback_app, name="lookback")
app.add_typer(org.units_app, name="units")
app.add_typer(org.people_app, name="people")
app.add_typer(org.plan_app, name="plan")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(accounts.accounts_app, name="accounts")
app.add_typer(accounts.tokens_app, name="tokens")
app.add_typer(documents.ledger_app, name="ledger")
app.add_typer(documents.report_app, name="report")

__all__ = ["app"]
