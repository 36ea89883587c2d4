"""The one place that makes database engines, connections and sessions.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and write
transactions start with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of
failing when one upgrades a read to a write; reads use a plain ``BEGIN`` and never wait.
PostgreSQL URLs are routed to the psycopg 3 driver.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workflow.errors import ConfigurationError, InputError

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "rectify_write"


def normalize_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` to the psycopg 3 driver; keep others as given."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_settings(dbapi_connection: Any) -> None:
    """What every SQLite connection runs with: WAL, a busy timeout, foreign keys."""
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _sqlite_settings(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _forget_writers_after_fork() -> None:
    """A forked child (a prefork worker) opens its own writer connections: the parent's
    belong to the parent's threads and must not be used, nor closed, here."""
    for database in list(_databases):
        database.forget_writers()


_databases: weakref.WeakSet[Database] = weakref.WeakSet()
os.register_at_fork(after_in_child=_forget_writers_after_fork)


class _ThreadTransaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on a thread's own SQLite connection and cursor, made
    once per thread and used for each of its write transactions in turn (a class, not a
    generator: it runs on every transition)."""

    __slots__ = ("connection", "cursor")

    def __init__(self, connection: Any):
        self.connection = connection
        self.cursor = connection.cursor()

    def __enter__(self) -> Any:
        self.cursor.execute("BEGIN IMMEDIATE")
        return self.cursor

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is None:
            self.connection.commit()
        else:
            self.connection.rollback()


class Database:
    """An engine plus the session factory bound to it.

    Args:
        url: SQLAlchemy database URL (``sqlite:///path`` or ``postgresql://...``).
    """

    def __init__(self, url: str):
        url = normalize_url(url)
        try:
            parsed = make_url(url)
        except Exception as exc:
            raise ConfigurationError(
                f"DATABASE_URL {url!r} is not a database URL: {exc}. Use sqlite:///PATH "
                "or postgresql://USER@HOST:PORT/DB") from None
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # A file's writer connections are the threads' own; an in-memory database has one.
        self._own_writers = self.is_sqlite and (parsed.database or "") not in ("", ":memory:")
        options: dict[str, Any] = {}
        if not self.is_sqlite:
            options.update(pool_pre_ping=True, pool_size=10, max_overflow=10)
        self.engine = create_engine(url, **options)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})
        # SQLite: each thread keeps one DBAPI connection for the issues' write path, so a
        # transition does not pay a pool checkout and reset (see raw_transaction).
        self._raw = threading.local()
        self._raw_lock = threading.Lock()
        self._raw_held: list[Any] = []
        if self._own_writers:
            _databases.add(self)
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(self._writer, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction on a Core connection; commits on success, rolls back on error."""
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def outbox_writer(self) -> Iterator[Connection]:
        """One connection kept for a run of short write transactions, each opened with
        ``connection.begin()`` (SQLite: ``BEGIN IMMEDIATE``): a delivering batch records and
        renews once per message on it.

        On PostgreSQL its commits do not wait for the disk (``synchronous_commit = off``, reset
        before the connection goes back to the pool), as SQLite's WAL with ``synchronous =
        NORMAL`` never does: a crash of the database server may forget the last fraction of
        a second of recorded deliveries, which are then sent again with their idempotency
        keys; nothing is ever half-written. Waiting for the disk on every message cost two
        thirds of the delivery rate (docs/performance.md)."""
        with self._writer.connect() as connection:
            if not self.is_sqlite:
                connection.exec_driver_sql("SET synchronous_commit TO off")
                connection.commit()
            try:
                yield connection
            finally:
                if not self.is_sqlite and not connection.invalidated:
                    connection.rollback()
                    connection.exec_driver_sql("RESET synchronous_commit")
                    connection.commit()

    def raw_transaction(self) -> AbstractContextManager[Any]:
        """A DBAPI cursor inside one write transaction (SQLite: ``BEGIN IMMEDIATE``);
        commits on success, rolls back on any error. Only the issues' write path
        (``workflow.issues.transaction``) runs SQL on it.

        On SQLite the connection is the calling thread's own, kept open between
        transactions (a transition is a few hundred microseconds; a pool checkout with its
        reset-on-return costs a tenth of that); PostgreSQL takes one from the pool."""
        if self._own_writers:
            return self._thread_transaction()
        return self._pooled_transaction()

    @contextmanager
    def _pooled_transaction(self) -> Iterator[Any]:
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            if self.is_sqlite:
                cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        finally:
            connection.close()

    def _thread_transaction(self) -> _ThreadTransaction:
        """This thread's SQLite write connection (configured like every pooled one)."""
        held = getattr(self._raw, "transaction", None)
        if held is not None:
            return held
        # A fresh one: never shared with another thread, nor across a fork (below).
        dialect = self.engine.dialect
        cargs, cparams = dialect.create_connect_args(self.engine.url)
        connection = dialect.connect(*cargs, **{**cparams, "check_same_thread": False})
        _sqlite_settings(connection)
        self._raw.transaction = held = _ThreadTransaction(connection)
        with self._raw_lock:
            self._raw_held.append(connection)
        return held

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """An ORM session in one transaction; commits on success, rolls back on error.

        Args:
            write: take the write lock at the start (SQLite ``BEGIN IMMEDIATE``).
        """
        factory = self._write_sessions if write else self._read_sessions
        with factory.begin() as session:
            yield session

    def dispose(self) -> None:
        with self._raw_lock:
            held, self._raw_held = self._raw_held, []
        for connection in held:
            # Closing another thread's connection may fail; it is gone with that thread.
            with contextlib.suppress(Exception):
                connection.close()
        self._raw = threading.local()
        self.engine.dispose()

    def forget_writers(self) -> None:
        """Drop the threads' writer connections without closing them (after a fork they
        belong to the parent); each thread opens a new one on its next write."""
        self._raw = threading.local()
        self._raw_held = []
        self._raw_lock = threading.Lock()


def add_unique(session: Session, row: Any, what: str) -> int:
    """Add ``row`` and return its id; a unique-key clash becomes an ``InputError`` saying
    ``{what} is registered already``."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise InputError(f"{what} is registered already") from None
    return int(row.id)
