"""The Celery app and its tasks.

Tasks take ids and a batch token and call the engine's job bodies (``workflow.jobs``); they
carry no deadlines (no ETA or countdown: what is due is decided by the database) and keep no
counts of their own (attempts are counted on the database rows). Settings follow the
"at least once, idempotent" rule: the message is acknowledged after the task ran
(``acks_late``), a task whose worker died is given back to the broker
(``task_reject_on_worker_lost``), and each worker process takes one message at a time
(``worker_prefetch_multiplier=1``). A batch that runs twice finds its rows settled or leased
to a newer batch and does nothing with them.
"""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from workflow.config import RunSettings, Settings
from workflow.errors import ConfigurationError
from workflow.jobs import Runtime, deliver_batch, lookback_batch, process_timers, run_job

LOCAL_BROKER = "redis://127.0.0.1:6379/0"
TASK_SOFT_TIME_LIMIT = 300
TASK_TIME_LIMIT = 360
PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5,
                 "interval_max": 2}


def broker_url() -> str:
    url = RunSettings.from_env().broker_url
    if url is None:
        raise ConfigurationError("BROKER_URL is not set: set it to the Redis broker "
                                 "(e.g. redis://127.0.0.1:6379/0), or run `rectify serve` "
                                 "for the embedded mode without a broker")
    return url


def _from_settings() -> dict[str, Any]:
    """The broker and the queue, read from the settings when Celery first needs its
    configuration (not at import); ``rectify worker`` sets the broker explicitly."""
    return {"broker_url": RunSettings.from_env().broker_url or LOCAL_BROKER,
            "task_default_queue": Settings.from_env().queue}


app = Celery("rectify", set_as_current=False)
app.add_defaults(_from_settings)
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    task_time_limit=TASK_TIME_LIMIT,
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    broker_transport="workers.redis_transport:Transport",  # kombu's, riding out outages
    broker_transport_options={"visibility_timeout": 3600},
    worker_hijack_root_logger=False,
    worker_send_task_events=True,
    enable_utc=True,
    timezone="UTC",
)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """This worker process's engine and channels, shared by its threads (made on first use,
    after any fork)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime.from_env()
        return _runtime


@worker_process_init.connect
def _fresh_runtime(**_: Any) -> None:
    global _runtime
    _runtime = None  # a forked child opens its own database connections


@app.task(name="rectify.deliver")
def deliver(ids: list[int], token: str) -> dict[str, int]:
    """Deliver the outbox rows ``ids`` still leased to the batch ``token``."""
    report = deliver_batch(runtime(), ids, token)
    return {"sent": report.sent, "failed": report.failed, "dead": report.dead,
            "lost": report.lost, "given_back": report.given_back}


@app.task(name="rectify.timers")
def timers(ids: list[int], token: str) -> dict[str, int]:
    """Settle the timers ``ids`` still leased to the batch ``token``."""
    report = process_timers(runtime(), ids, token)
    return {"claimed": report.claimed, "sent": report.sent, "skipped": report.skipped,
            "notifications": report.notifications, "failed": report.failed}


@app.task(name="rectify.lookback")
def lookback(ids: list[int]) -> int:
    """Queue the look-back notices that have come for the issues ``ids``."""
    return lookback_batch(runtime(), ids)


@app.task(name="rectify.job")
def job(name: str) -> int:
    """Run a named job body (the daily digest, the monthly report)."""
    return run_job(runtime(), name)


class CeleryDispatcher:
    """Hands batches to Celery workers through the broker. A publish that still fails after
    a few quick retries raises, and the relay gives the batch's rows back."""

    def deliver(self, ids: list[int], token: str) -> None:
        deliver.apply_async((ids, token), retry=True, retry_policy=PUBLISH_RETRY)

    def timers(self, ids: list[int], token: str) -> None:
        timers.apply_async((ids, token), retry=True, retry_policy=PUBLISH_RETRY)

    def lookback(self, ids: list[int]) -> None:
        lookback.apply_async((ids,), retry=True, retry_policy=PUBLISH_RETRY)

    def job(self, name: str) -> None:
        job.apply_async((name,), retry=True, retry_policy=PUBLISH_RETRY)

    def shutdown(self) -> None:
        app.pool.force_close_all()
