"""What every command module of the CLI shares: the consoles, `reports_errors`, the option types
and the helpers that open the engine, resolve the actor, parse input and print JSON or tables."""

from __future__ import annotations

import functools
import getpass
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from workflow.clock import to_utc
from workflow.config import Settings
from workflow.db import Database
from workflow.errors import DefinitionError, InputError, RectifyError
from workflow.issues.engine import Engine
from workflow.org.actors import Actor
from workflow.startup import open_engine

if TYPE_CHECKING:
    from workflow.org.directory import OfficeAct

console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ACTOR_ENV = "RECTIFY_ACTOR"
ActorName = Annotated[str | None, typer.Option(
    "--as", envvar=ACTOR_ENV, show_envvar=True,
    help="Who acts: a registered person or unit (required; no default).")]
ReaderOption = Annotated[str | None, typer.Option(
    "--as", help="Read as this person or unit: only what their role may read (the public: "
                 "disclosed fields only, no history).")]
RoleName = Annotated[str | None, typer.Option("--role", help="Role of the actor: office, unit, "
                                              "acceptor, leader, discipline, public (default: "
                                              "the person's only role; office while no one "
                                              "is registered).")]
Moment = Annotated[str | None, typer.Option(
    "--now", help="Act as of this time (ISO 8601; without an offset it is Asia/Shanghai). "
                  "Moves the clock: only on a training database (rectify init --training).")]
RankOption = Annotated[str | None, typer.Option(help="职级: 省部级 厅局级 县处级 乡科级 其他 "
                                                "(aliases 厅级 处级 县级 科级).")]


def reports_errors(command: F) -> F:
    """Turn engine errors into a red message and exit code 1 (2 for bad input)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DefinitionError as exc:
            for fault in exc.faults:
                errors.print(str(fault), style="red", highlight=False, markup=False)
            errors.print(f"{len(exc.faults)} problem(s) found", style="red")
            raise typer.Exit(1) from None
        except InputError as exc:
            errors.print(f"error: {exc}", style="red", highlight=False, markup=False)
            raise typer.Exit(2) from None
        except RectifyError as exc:
            errors.print(f"error: {exc}", style="red", highlight=False, markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def print_json(value: Any) -> None:
    """Write ``value`` to stdout as indented JSON (non-ASCII kept, other types as str)."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a Rich table of ``rows`` under ``headers``, every cell as text."""
    table = Table(title=title, header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)


def make_engine() -> Engine:
    """The engine on the database the environment names (``Settings.from_env``)."""
    return open_engine(Settings.from_env())


def os_user() -> str | None:
    """The operating-system user running the command, recorded beside the actor."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


def make_actor(name: str | None, role: str | None) -> Actor:
    """Who ``--as NAME [--role ROLE]`` (or ``RECTIFY_ACTOR``) is: a registered person or unit
    (see ``workflow.org.directory``), any name while the directory is empty; with the
    operating-system user beside it.

    Raises:
        InputError: no name given (there is no default actor), or one the directory refuses.
    """
    from workflow.org.directory import resolve_actor

    if name is None or not name.strip():
        raise InputError(f"this command changes records, so it needs an actor: give --as NAME "
                         f"(a registered person or unit) or set {ACTOR_ENV}; there is no "
                         "default actor")
    db = Database(Settings.from_env().database_url)
    try:
        return replace(resolve_actor(db, name.strip(), role), os_user=os_user())
    finally:
        db.dispose()


def office_act(engine: Engine, name: str | None, role: str | None) -> OfficeAct:
    """``--as NAME [--role ROLE]`` making an administrative change: the domain function
    checks the office and records the change on the audit trail, hashed under the engine's
    history key."""
    from workflow.org.directory import OfficeAct

    return OfficeAct(make_actor(name, role), engine.keys.current)


def moved_clock(engine: Engine, now: str | None, actor: str | None, role: str | None,
                command: str) -> tuple[datetime, Actor | None]:
    """The time a command acts at, and who moved the clock: the real time (no one), or
    ``--now`` on a training database with its actor (the command's domain function records
    the move on the audit trail).

    Raises:
        InputError: ``--now`` on a database not created for training, or without an actor.
    """
    from workflow.issues.engine import is_training

    if now is None:
        return engine.clock.now(), None
    at = parse_time(now)
    if not is_training(engine.db):
        raise InputError(f"{command} --now moves the clock, which only a training database "
                         "allows (created with `rectify init --training`); here it runs at the "
                         "real time, so leave --now out")
    return at, make_actor(actor, role)


def parse_date(text: str | None, option: str) -> date | None:
    """``YYYY-MM-DD`` given to ``option``; None stays None; anything else is an InputError."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-31")\
            from None


def parse_time(text: str) -> datetime:
    """An ISO 8601 time in UTC (without an offset it is Asia/Shanghai); else InputError."""
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        raise InputError(f"{text!r} is not a time; use ISO 8601, e.g. 2026-12-31T09:00 "
                         "(Asia/Shanghai) or 2026-12-31T01:00+00:00") from None


def parse_pairs(values: list[str], option: str) -> dict[str, str]:
    """``KEY=VALUE`` items given to ``option`` as a dict; anything else is an InputError."""
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} {value!r} must look like KEY=VALUE")
        pairs[key.strip()] = rest
    return pairs

