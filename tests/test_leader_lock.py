"""The scheduler's leader locks (scheduler.py): which lock a database gets, and the file,
PostgreSQL and Redis locks each admitting one scheduler (the Redis lock on a private
redis-server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler import FileLock, PostgresLock, RedisLock, leader_lock
from tests.processes import RedisServer, wait_for
from workflow.config import RunSettings
from workflow.errors import ConfigurationError


def test_leader_lock_choice_follows_the_database(tmp_path: Path) -> None:
    sqlite = f"sqlite:///{tmp_path / 'r.db'}"
    assert isinstance(leader_lock(sqlite, RunSettings(), "me"), FileLock)
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        leader_lock(sqlite, RunSettings(leader_lock="postgres"), "me")
    with pytest.raises(ConfigurationError, match="BROKER_URL"):
        leader_lock(sqlite, RunSettings(leader_lock="redis"), "me")


def test_file_lock_admits_one_scheduler(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "s.lock"), FileLock(tmp_path / "s.lock")
    assert first.try_acquire() and first.still_held()
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()


@pytest.mark.postgres
def test_postgres_lock_admits_one_and_frees_with_the_connection(postgres_url: str) -> None:
    first, second = PostgresLock(postgres_url, 3), PostgresLock(postgres_url, 3)
    try:
        assert first.try_acquire() and first.still_held()
        assert not second.try_acquire()
        first._conn.close()  # the leader's connection is gone (crash, network)
        assert not first.still_held()
        # the server frees the lock once it has noticed the connection is gone
        wait_for(second.try_acquire, timeout=10, what="the lock freed")
        assert second.still_held()
    finally:
        first.release()
        second.release()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_redis_lock_expires_without_renewal(private_redis: RedisServer) -> None:
    first = RedisLock(private_redis.url, 0.6, "first")
    second = RedisLock(private_redis.url, 0.6, "second")
    assert first.try_acquire() and not second.try_acquire()
    assert first.still_held()  # renewed
    time.sleep(0.8)  # the leader stopped renewing: the key expires
    assert second.try_acquire()
    assert not first.still_held()  # the old leader learns it lost
    second.release()
    assert first.try_acquire()
    first.release()
