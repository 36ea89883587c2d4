"""Fixtures: every database test runs twice, on SQLite and on the real PostgreSQL.

PostgreSQL comes from ``RECTIFY_TEST_POSTGRES_URL`` (``.ci/run`` sets it); when that is set
and the server cannot be reached, the tests FAIL. Without it, the local default
``postgresql://postgres@127.0.0.1:5432/postgres`` is tried and the PostgreSQL half is skipped,
with the reason, only when no server answers there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.sinks import http_sink  # noqa: F401  (a fixture for every test module)
from tests.support import HISTORY_SECRET, START, TEST_KEYS
from workflow.clock import FrozenClock
from workflow.config import PROJECT_ROOT
from workflow.db import Database, normalize_url
from workflow.issues.engine import Engine
from workflow.issues.evidence import EvidenceStore
from workflow.migrate import upgrade
from workflow.models import Base
from workflow.spec.definitions import load_all
from workflow.spec.registry import load_definitions
from workflow.startup import mark_database

pytest_plugins = ["tests.api_support"]  # the running-server fixtures

POSTGRES_ENV = "RECTIFY_TEST_POSTGRES_URL"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFINITIONS = PROJECT_ROOT / "definitions"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped at the end."""
    explicit = os.environ.get(POSTGRES_ENV)
    server_url = normalize_url(explicit or LOCAL_POSTGRES)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except OperationalError as exc:
        admin.dispose()
        if explicit:
            pytest.fail(f"{POSTGRES_ENV}={explicit} but PostgreSQL is not reachable: {exc}")
        pytest.skip(f"no PostgreSQL at {LOCAL_POSTGRES}; set {POSTGRES_ENV} to run this half")
    name = f"rectify_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database with no definitions loaded."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'rectify.db'}")
        upgrade(database)
        yield database
        database.dispose()
        return
    database = request.getfixturevalue("postgres_database")
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with database.transaction() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    yield database


@pytest.fixture(autouse=True)
def history_key_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test (and every process it starts) hashes history with the tests' key, and
    keeps key files and checkpoint logs in its own temporary directory."""
    monkeypatch.setenv("RECTIFY_HISTORY_KEY", HISTORY_SECRET)
    monkeypatch.setenv("RECTIFY_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("RECTIFY_CHECKPOINT_LOG", raising=False)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def engine(db: Database, clock: FrozenClock, tmp_path: Path) -> Engine:
    """An engine with the shipped definitions loaded and a frozen clock, on a database
    created for training (the tests move the clock, which only a training database allows)."""
    load_definitions(db, load_all(DEFINITIONS), now=clock.now(), by=None)
    mark_database(db, training=True)
    return Engine(db, EvidenceStore(tmp_path / "evidence"), keys=TEST_KEYS, clock=clock)


@pytest.fixture
def evidence_file(tmp_path: Path) -> Path:
    path = tmp_path / "现场核查记录.txt"
    path.write_text("现场核查：整改到位。", encoding="utf-8")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The browser tests (those using the ``browser`` fixture) drive pages over the engine the rest
    of the suite tests on both databases, so they run on one: PostgreSQL, the production
    database, when ``RECTIFY_TEST_POSTGRES_URL`` names it (as in CI), else SQLite. The other
    variant is deselected, not skipped: it is not a test that could fail."""
    keep = "postgresql" if os.environ.get(POSTGRES_ENV) else "sqlite"
    chosen, dropped = [], []
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("db")
        if backend and backend != keep and "browser" in getattr(item, "fixturenames", ()):
            dropped.append(item)
        else:
            chosen.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = chosen
