"""The long-running processes: `rectify serve`, `rectify web`, `rectify scheduler`,
`rectify worker`, and `rectify doctor` that checks on them.

The one module of `workflow/` that imports `scheduler` (APScheduler) and `workers` (Celery);
it imports them, uvicorn and the HTTP application inside the commands, so the other commands
start without them.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from workflow.cli.common import (
    ActorName,
    JsonOption,
    Moment,
    RoleName,
    console,
    moved_clock,
    print_json,
    reports_errors,
)
from workflow.config import Settings
from workflow.errors import ConfigurationError

# `worker` passes the options it does not know on to `celery worker`.
WORKER_CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}

HostOption = Annotated[str, typer.Option(help="Address the HTTP server listens on.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535,
                                         help="Port the HTTP server listens on.")]


def http_server(host: str, port: int, *, app: Any = None) -> Any:
    """A uvicorn server for the HTTP application (by default on the environment's
    database). Proxy headers are not taken from uvicorn: the application honours
    X-Forwarded-Proto only when RECTIFY_TRUST_FORWARDED_PROTO says so."""
    import uvicorn

    from workflow.api.app import app_from_env

    config = uvicorn.Config(app or app_from_env(), host=host, port=port, proxy_headers=False,
                            server_header=False, log_level="info")
    return uvicorn.Server(config)


@reports_errors
def serve(host: HostOption = "127.0.0.1", port: PortOption = 8000) -> None:
    """Embedded all-in-one: the HTTP server, the scheduler and an in-process pool of workers
    (no broker).

    Serves the HTTP API on --host/--port; sweeps timers, relays the outbox, sends the daily
    digest and the monthly report until SIGTERM or Ctrl-C; a second `rectify serve` on the
    same database stands by as scheduler. Tune with RECTIFY_SWEEP_INTERVAL,
    RECTIFY_RELAY_INTERVAL and RECTIFY_THREADS (docs/deploy.md).
    """
    import threading

    import scheduler
    from workflow.config import RunSettings
    from workflow.notify.channels import channels_from_env
    from workflow.startup import check_lease

    # A bad run setting, or a lease too short for the channels' timeouts, stops serve
    # before it listens.
    check_lease(RunSettings.from_env(), channels_from_env())
    server = http_server(host, port)
    thread = threading.Thread(target=server.run, name="http", daemon=True)
    thread.start()  # off the main thread, uvicorn leaves the signals to the scheduler
    while not server.started:
        if not thread.is_alive():
            raise ConfigurationError(f"the HTTP server could not listen on {host}:{port} (in "
                                     "use, or not an address of this machine); choose "
                                     "another with --host/--port")
        thread.join(timeout=0.05)
    try:
        scheduler.run_from_env(distributed=False)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@reports_errors
def web(host: HostOption = "127.0.0.1", port: PortOption = 8000, now: Moment = None,
        actor: ActorName = None, role: RoleName = None) -> None:
    """The HTTP server alone (distributed mode): stateless, sessions live in the database,
    so several can run behind a reverse proxy. Stops on SIGTERM or Ctrl-C.

    On a training database, --now with --as serves a rehearsal: the server's clock starts
    at that time and runs on (the move is put on the audit trail)."""
    if now is None:
        http_server(host, port).run()
        return
    from workflow.api.app import create_app
    from workflow.auth.settings import AuthSettings
    from workflow.clock import RunningClock
    from workflow.startup import open_engine

    engine = open_engine(Settings.from_env())
    at, mover = moved_clock(engine, now, actor, role, "web")
    assert mover is not None
    engine.record_clock_move(mover, "web", at)
    engine.clock = RunningClock(at)
    http_server(host, port, app=create_app(engine, AuthSettings.from_env())).run()


@reports_errors
def scheduler_command() -> None:
    """The scheduler of the distributed mode: hands work to Celery workers via BROKER_URL.

    Run one on each of two or more machines: the leader runs the jobs, the others stand by
    and take over within RECTIFY_LOCK_PERIOD seconds (docs/deploy.md).
    """
    import scheduler

    scheduler.run_from_env(distributed=True)


@reports_errors
def worker(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option(help="Tasks run at once in this worker.")] = 4,
    pool: Annotated[str, typer.Option(help="Celery pool: threads (one process) or "
                                      "prefork (a process per task slot).")] = "threads",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """A Celery worker on BROKER_URL running rectify's tasks; further options go to
    `celery worker` (e.g. --hostname, --max-tasks-per-child)."""
    from workers.app import app as celery_app
    from workers.app import broker_url
    from workflow.jobs import Runtime

    celery_app.conf.broker_url = broker_url()
    runtime = Runtime.from_env()  # fail now, with the reason, if the database is not ready
    celery_app.worker_main(["worker", f"--loglevel={loglevel}", f"--pool={pool}",
                            f"--concurrency={concurrency}",
                            f"--queues={runtime.engine.settings.queue}", *ctx.args])


@reports_errors
def doctor(as_json: JsonOption = False) -> None:
    """Check the database, the broker, the scheduler leader, stuck leases, dead letters and
    the lag between due and sent; exits 1 when any check fails."""
    from workflow.clock import SystemClock
    from workflow.config import RunSettings
    from workflow.doctor import as_json as checks_json
    from workflow.doctor import diagnose, healthy

    checks = diagnose(Settings.from_env(), RunSettings.from_env(), SystemClock().now())
    if as_json:
        print_json(checks_json(checks))
    else:
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        table = Table(title="rectify doctor", header_style="bold")
        for header in ("check", "status", "detail"):
            table.add_column(header, overflow="fold")
        for check in checks:
            table.add_row(check.name, f"[{colours[check.status]}]{check.status}[/]",
                          check.detail)
        console.print(table)
    if not healthy(checks):
        raise typer.Exit(1)
