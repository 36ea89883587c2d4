"""A scratch PostgreSQL database for a bench run: created empty on the server, dropped after.

The benches import it as ``bench.scratch`` with the repository's root on ``sys.path`` (a
bench run as a script puts its own folder there instead, which it removes first)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from workflow.db import normalize_url


def postgres_database(server: str) -> tuple[str, Callable[[], None]]:
    """A new database on ``server``: its URL, and the function that drops it."""
    admin = create_engine(normalize_url(server), isolation_level="AUTOCOMMIT")
    name = f"rectify_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(normalize_url(server)).set(database=name)
    return url.render_as_string(hide_password=False), drop
