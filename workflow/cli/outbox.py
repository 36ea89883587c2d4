"""Notification commands: `rectify outbox list|show|dead|retry|deliver|digest` and
`rectify contacts add|list`. Addresses and errors are shown with their tokens masked."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from workflow.cli.common import (
    ActorName,
    JsonOption,
    Moment,
    RoleName,
    console,
    make_engine,
    moved_clock,
    office_act,
    parse_pairs,
    print_json,
    print_table,
    reports_errors,
)
from workflow.clock import FrozenClock
from workflow.config import RunSettings
from workflow.issues.sweep import default_owner
from workflow.notify.channels import channels_from_env
from workflow.notify.contacts import add_contact, shown_contacts
from workflow.notify.delivery import deliver_due
from workflow.notify.delivery import retry as retry_notifications
from workflow.notify.digest import compose_digests
from workflow.notify.shown import message_detail, message_rows
from workflow.startup import check_lease

outbox_app = typer.Typer(help="Notification outbox.", no_args_is_help=True)
contacts_app = typer.Typer(help="Where recipients are reached.", no_args_is_help=True)


def _print_outbox(rows: list[dict[str, Any]], title: str, as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    print_table(title, ("id", "issue", "level", "recipient", "channel", "status", "attempts",
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
    _print_outbox(message_rows(make_engine().db, status=status, limit=limit),
                  "通知发件箱 / Outbox", as_json)


@outbox_app.command("show")
@reports_errors
def outbox_show(
    message_id: Annotated[int, typer.Argument(help="Outbox message id (see outbox list).")],
    as_json: JsonOption = False,
) -> None:
    """One message: its subject and body as rendered, its recipient (address masked), status
    and attempts (times in Asia/Shanghai)."""
    shown = message_detail(make_engine().db, message_id)
    if as_json:
        print_json(shown)
        return
    lines = [f"通知 {shown['id']} · {shown['kind']} · {shown['level']} · 问题 "
             f"{shown['issue_id'] or '—'}",
             f"收件人: {shown['recipient']} via {shown['channel']} "
             f"{shown['address'] or ''}".rstrip(),
             f"状态: {shown['status']} · attempts {shown['attempts']} · queued "
             f"{shown['created_at'][:19]}",
             f"next attempt: {shown['next_attempt_at'][:19]}"
             + (f" · sent {shown['sent_at'][:19]}" if shown["sent_at"] else "")
             + (f" · lease until {shown['lease_until'][:19]}" if shown["lease_until"] else ""),
             f"last error: {shown['last_error'] or '—'}",
             f"({shown['attempts_note']}; times in Asia/Shanghai)",
             "", f"主题: {shown['subject']}", "", shown["body"]]
    console.print("\n".join(lines), markup=False, highlight=False)


@outbox_app.command("dead")
@reports_errors
def outbox_dead(limit: Annotated[int, typer.Option(help="Rows at most.")] = 50,
                as_json: JsonOption = False) -> None:
    """Dead letters: messages that failed every attempt (exit 1 when there are any)."""
    rows = message_rows(make_engine().db, status="dead", limit=limit)
    _print_outbox(rows, "死信 / Dead letters", as_json)
    if rows:
        raise typer.Exit(1)


@outbox_app.command("retry")
@reports_errors
def outbox_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="Notification ids.")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Every dead letter.")] = False,
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Put dead letters back in the queue, due now (an office person does)."""
    engine = make_engine()
    revived = retry_notifications(engine.db, ids or None, by=office_act(engine, actor, role),
                                  now=engine.clock.now(), all_dead=all_dead)
    console.print(f"{revived} notification(s) queued again")


@outbox_app.command("deliver")
@reports_errors
def outbox_deliver(limit: Annotated[int, typer.Option(help="Messages at most.")] = 100,
                   now: Moment = None, actor: ActorName = None, role: RoleName = None,
                   as_json: JsonOption = False) -> None:
    """Send what is due now through the configured channels (RECTIFY_SMTP_*, webhooks).
    With --now (a training database only) it also needs --as: who moved the clock."""
    run, channels = RunSettings.from_env(), channels_from_env()
    check_lease(run, channels)
    engine = make_engine()
    at, mover = moved_clock(engine, now, actor, role, "outbox deliver")
    if mover is not None:
        engine.record_clock_move(mover, "outbox deliver", at)
        engine.clock = FrozenClock(at)
    report = deliver_due(engine.db, channels, now=at, owner=default_owner(), limit=limit,
                         lease=timedelta(seconds=run.lease), clock=engine.clock)
    if as_json:
        print_json(report.__dict__)
    else:
        console.print(f"sent {report.sent}, failed {report.failed} (will retry), "
                      f"dead {report.dead}")


@outbox_app.command("digest")
@reports_errors
def outbox_digest() -> None:
    """Compose today's digest (每日汇总): one message per recipient for held reminders."""
    engine = make_engine()
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
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Say where a recipient is reached (without a contact, notices go to the log); an office
    person does."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    options = parse_pairs(option or [], "--option")
    contact_id = add_contact(engine.db, name, channel, address, options, by=by,
                             hosts=engine.settings.webhook_hosts)
    console.print(f"contact {contact_id}: {name} via {channel}")


@contacts_app.command("list")
@reports_errors
def contacts_list(as_json: JsonOption = False) -> None:
    """Recipients and their channels (tokens in addresses and secret options masked)."""
    rows = shown_contacts(make_engine().db)
    if as_json:
        print_json(rows)
        return
    print_table("联系人 / Contacts", ("id", "name", "channel", "address", "options"),
                [(row["id"], row["name"], row["channel"], row["address"],
                  " ".join(f"{k}={v}" for k, v in sorted(row["options"].items())))
                 for row in rows])
