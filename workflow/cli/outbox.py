"""Notification commands: `rectify outbox list|dead|retry|deliver|digest` and
`rectify contacts add|list`."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from workflow.cli.common import (
    ActorName,
    JsonOption,
    RoleName,
    console,
    make_actor,
    make_engine,
    parse_pairs,
    print_json,
    print_table,
    record_audit,
    reports_errors,
)
from workflow.clock import local
from workflow.config import RunSettings
from workflow.errors import InputError
from workflow.issues.engine import Engine
from workflow.issues.sweep import default_owner
from workflow.notify.channels import channels_from_env
from workflow.notify.contacts import add_contact, list_contacts
from workflow.notify.delivery import deliver_due, list_notifications
from workflow.notify.delivery import retry as retry_notifications
from workflow.notify.digest import compose_digests
from workflow.startup import check_lease

outbox_app = typer.Typer(help="Notification outbox.", no_args_is_help=True)
contacts_app = typer.Typer(help="Where recipients are reached.", no_args_is_help=True)


def _outbox_rows(engine: Engine, status: str | None, limit: int) -> list[dict[str, Any]]:
    return [{"id": n.id, "issue_id": n.issue_id, "kind": n.kind, "level": n.level,
             "recipient": n.recipient, "channel": n.channel, "contact_id": n.contact_id,
             "address": n.address,
             "subject": n.subject, "status": n.status, "attempts": n.attempts,
             "next_attempt_at": local(n.next_attempt_at).isoformat(),
             "sent_at": local(n.sent_at).isoformat() if n.sent_at else None,
             "last_error": n.last_error}
            for n in list_notifications(engine.db, status=status, limit=limit)]


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
    _print_outbox(_outbox_rows(make_engine(), status, limit), "通知发件箱 / Outbox", as_json)


@outbox_app.command("dead")
@reports_errors
def outbox_dead(limit: Annotated[int, typer.Option(help="Rows at most.")] = 50,
                as_json: JsonOption = False) -> None:
    """Dead letters: messages that failed every attempt (exit 1 when there are any)."""
    rows = _outbox_rows(make_engine(), "dead", limit)
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
    from workflow.org.directory import check_administrator

    who = make_actor(actor, role)
    engine = make_engine()
    check_administrator(engine.db, who, "retry dead letters")
    if ids:
        dead = {n.id for n in list_notifications(engine.db, status="dead", limit=len(ids) + 10**6)}
        not_dead = [str(i) for i in ids if i not in dead]
        if not_dead:
            raise InputError(f"notification(s) {', '.join(not_dead)} are not dead letters; only "
                             "dead letters are retried (see `rectify outbox dead`)")
    revived = retry_notifications(engine.db, ids or None, now=engine.clock.now(),
                                  all_dead=all_dead)
    record_audit(who, "outbox_retry", "dead letters", ids=ids or [], all_dead=all_dead,
                 revived=revived)
    console.print(f"{revived} notification(s) queued again")


@outbox_app.command("deliver")
@reports_errors
def outbox_deliver(limit: Annotated[int, typer.Option(help="Messages at most.")] = 100,
                   as_json: JsonOption = False) -> None:
    """Send what is due now through the configured channels (RECTIFY_SMTP_*, webhooks)."""
    run, channels = RunSettings.from_env(), channels_from_env()
    check_lease(run, channels)
    engine = make_engine()
    report = deliver_due(engine.db, channels, now=engine.clock.now(), owner=default_owner(),
                         limit=limit, lease=timedelta(seconds=run.lease), clock=engine.clock)
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
    from workflow.org.directory import check_administrator

    who = make_actor(actor, role)
    engine = make_engine()
    check_administrator(engine.db, who, "register contacts")
    options = parse_pairs(option or [], "--option")
    contact_id = add_contact(engine.db, name, channel, address, options)
    record_audit(who, "contact_add", f"contact {contact_id} {name}", channel=channel,
                 address=address, options=sorted(options))
    console.print(f"contact {contact_id}: {name} via {channel}")


@contacts_app.command("list")
@reports_errors
def contacts_list(as_json: JsonOption = False) -> None:
    """Recipients and their channels (webhook secrets are not shown)."""
    rows = [{"id": c.id, "name": c.name, "channel": c.channel, "address": c.address,
             "preset": (c.options or {}).get("preset")} for c in list_contacts(make_engine().db)]
    if as_json:
        print_json(rows)
        return
    print_table("联系人 / Contacts", ("id", "name", "channel", "address", "preset"),
                [(row["id"], row["name"], row["channel"], row["address"], row["preset"] or "")
                  for row in rows])
