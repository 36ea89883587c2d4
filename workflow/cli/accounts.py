"""`rectify accounts …` and `rectify tokens …`: sign-in accounts of registered people and the
API tokens of integrations, managed by the office (`--as`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from workflow.auth import accounts, tokens
from workflow.auth.settings import parse_span
from workflow.cli.common import (
    ActorName,
    JsonOption,
    RoleName,
    console,
    make_engine,
    office_act,
    print_json,
    print_table,
    reports_errors,
)
from workflow.clock import SystemClock, local
from workflow.errors import InputError

accounts_app = typer.Typer(help="Sign-in accounts of registered people (office).",
                           no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for integrations (office).", no_args_is_help=True)

PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from standard input (one line); required, "
                             "so it never stands on the command line.")]


def read_password(flag: bool) -> str:
    """The password given on standard input (the line's end dropped).

    Raises:
        InputError: ``--password-stdin`` missing, or nothing on standard input.
    """
    if not flag:
        raise InputError("give the password on standard input with --password-stdin, e.g. "
                         "printf '%s' \"$PASSWORD\" | rectify accounts add …; a password is "
                         "never taken from the command line")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise InputError("--password-stdin read no password from standard input")
    return password


def _when(value: object) -> str:
    return local(value).isoformat()[:16] if value is not None else ""  # type: ignore[arg-type]


@accounts_app.command("add")
@reports_errors
def accounts_add(
    login: Annotated[str, typer.Argument(help="The login (3–64 letters, digits, . _ @ -).")],
    person: Annotated[str, typer.Option("--person", help="The registered person it signs in.")],
    password_stdin: PasswordStdin = False,
    account_role: Annotated[str | None, typer.Option(
        "--account-role", help="The person's role it acts in (default: their only role).")] = None,
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Add an account for a registered person; the password (at least 10 characters, not the
    login) comes on standard input and is stored as an Argon2id hash."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    password = read_password(password_stdin)
    accounts.add_account(engine.db, login, person=person, password=password, by=by,
                         now=SystemClock().now(), role=account_role)
    console.print(f"account {login} added for {person}")


@accounts_app.command("list")
@reports_errors
def accounts_list(as_json: JsonOption = False) -> None:
    """Every account: login, person, role, second factor, disabled."""
    rows = [{"id": a.id, "login": a.login, "person": a.person, "role": a.role, "totp": a.totp,
             "disabled": a.disabled, "created_at": local(a.created_at).isoformat()}
            for a in accounts.list_accounts(make_engine().db)]
    if as_json:
        print_json(rows)
        return
    print_table("账号 / Accounts", ("login", "person", "role", "totp", "disabled", "created"),
                [(r["login"], r["person"], r["role"], "yes" if r["totp"] else "",
                  "yes" if r["disabled"] else "", r["created_at"][:16]) for r in rows])


@accounts_app.command("disable")
@reports_errors
def accounts_disable(login: Annotated[str, typer.Argument(help="The account's login.")],
                     actor: ActorName = None, role: RoleName = None) -> None:
    """Disable an account: it no longer signs in, its sessions and tokens end at once."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    done = accounts.disable_account(engine.db, login, by=by, now=SystemClock().now())
    console.print(f"account {login} disabled" if done else f"account {login} was disabled "
                  "already")


@accounts_app.command("reset-password")
@reports_errors
def accounts_reset_password(login: Annotated[str, typer.Argument(help="The account's login.")],
                            password_stdin: PasswordStdin = False,
                            actor: ActorName = None, role: RoleName = None) -> None:
    """Give an account a new password (on standard input); its sessions end."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    password = read_password(password_stdin)
    accounts.reset_password(engine.db, login, password=password, by=by,
                            now=SystemClock().now())
    console.print(f"password of {login} reset; its sessions ended")


@accounts_app.command("totp")
@reports_errors
def accounts_totp(login: Annotated[str, typer.Argument(help="The account's login.")],
                  actor: ActorName = None, role: RoleName = None) -> None:
    """Set up a one-time-code second factor; prints the provisioning URI once, alone on the
    last line (load it into an authenticator app). A new one replaces the old."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    uri = accounts.set_up_totp(engine.db, login, by=by, now=SystemClock().now())
    console.print(f"one-time codes set up for {login}; this URI is shown once:")
    sys.stdout.write(uri + "\n")


@tokens_app.command("create")
@reports_errors
def tokens_create(
    login: Annotated[str, typer.Argument(help="The account the token acts as.")],
    scope: Annotated[str, typer.Option(help="read (GET only) or write.")] = tokens.READ,
    expires: Annotated[str | None, typer.Option(
        help="Ends after this span, e.g. 90d, 12h (default: never).")] = None,
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Create an API token; it is printed once, alone on the last line, and only its hash
    is kept."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    span = parse_span(expires, "--expires") if expires is not None else None
    token_id, token = tokens.create_token(engine.db, login, scope=scope, expires=span,
                                          by=by, now=SystemClock().now())
    console.print(f"token {token_id} for {login} ({scope}); shown once, keep it now:")
    sys.stdout.write(token + "\n")


@tokens_app.command("list")
@reports_errors
def tokens_list(as_json: JsonOption = False) -> None:
    """Every token: id, account, scope, created, expires, revoked, last used (never the
    token itself)."""
    rows = [{"id": t.id, "login": t.login, "scope": t.scope, "created_at": _when(t.created_at),
             "expires_at": _when(t.expires_at), "revoked_at": _when(t.revoked_at),
             "last_used_at": _when(t.last_used_at)} for t in tokens.list_tokens(make_engine().db)]
    if as_json:
        print_json(rows)
        return
    print_table("API 令牌 / API tokens", ("id", "login", "scope", "created", "expires",
                                         "revoked", "last used"),
                [tuple(r.values()) for r in rows])


@tokens_app.command("revoke")
@reports_errors
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")],
                  actor: ActorName = None, role: RoleName = None) -> None:
    """Revoke a token: it is refused from now on."""
    engine = make_engine()
    by = office_act(engine, actor, role)
    done = tokens.revoke_token(engine.db, token_id, by=by, now=SystemClock().now())
    console.print(f"token {token_id} revoked" if done else f"token {token_id} was revoked "
                  "already")
