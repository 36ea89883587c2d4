"""What every command module of the CLI shares: the consoles, `reports_errors`, the option types
and the helpers that open the engine, resolve the actor, parse input and print JSON or tables."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

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

console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ActorName = Annotated[str, typer.Option("--as", help="Who acts (person or unit name).")]
ReaderOption = Annotated[str | None, typer.Option(
    "--as", help="Read as this person or unit: only what their role may read (the public: "
                 "disclosed fields only, no history).")]
RoleName = Annotated[str | None, typer.Option("--role", help="Role of the actor: office, unit, "
                                              "acceptor, leader, discipline, public (default: "
                                              "the person's only role; office while no one "
                                              "is registered).")]
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


def make_actor(name: str, role: str | None) -> Actor:
    """Who ``--as NAME [--role ROLE]`` is: a registered person or unit (see
    ``workflow.org.directory``); any name while the directory is empty."""
    from workflow.org.directory import resolve_actor

    db = Database(Settings.from_env().database_url)
    try:
        return resolve_actor(db, name, role)
    finally:
        db.dispose()


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

