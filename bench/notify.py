"""Notification throughput of the distributed mode: Celery workers on Redis, PostgreSQL.

20,000 due notifications (webhook channel) sit in the outbox of a fresh PostgreSQL database.
A private ``redis-server``, two ``rectify worker`` processes (threads pool) and one
``rectify scheduler`` deliver them to an HTTP sink on loopback (a separate process that
answers like a group robot over keep-alive connections and counts Idempotency-Keys).

Printed: deliveries/s (from the moment the notifications fall due, with the workers and the
scheduler already up, until the outbox records all as sent),
repeats at the sink (POSTs of a key it had already received), repeats in the outbox (sent
rows that needed more than one attempt), and the peak RSS of each worker process (VmHWM).

The floor in the same run: the same number of POSTs sent straight to the same sink by two
processes with as many threads as the workers, each thread on a kept-alive connection as the
webhook channel does (no database, no broker) — the most the sink and the HTTP client allow
on this machine. Targets: ≥ 1,000 deliveries/s, no repeats,
worker RSS ≤ 150 MB.

Usage: python bench/notify.py [--count 20000] [--workers 2] [--concurrency 4]
       [--postgres URL] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/transitions.py would
# shadow the `transitions` library the engine imports. The repository root gives `tests`.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

import argparse
import asyncio
import http.client
import json
import multiprocessing
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

from tests.processes import Rectify, RedisServer, free_port, wait_for
from workflow.config import PROJECT_ROOT
from workflow.db import Database, normalize_url
from workflow.migrate import upgrade
from workflow.models import JobRun, Notification
from workflow.spec.definitions import load_all
from workflow.spec.registry import load_definitions

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
REPLY = b'{"errcode":0,"errmsg":"ok"}'


# --- the sink (its own process) --------------------------------------------------------------

def run_sink(port: int, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """A minimal HTTP/1.1 keep-alive server: counts POSTs per Idempotency-Key; GET /stats
    answers the counts as JSON."""
    counts: dict[bytes, int] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method = lines[0].split(b" ", 1)[0]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get(b"content-length", b"0"))
                if length:
                    await reader.readexactly(length)
                if method == b"GET":
                    received = sum(counts.values())
                    body = json.dumps({"received": received, "keys": len(counts),
                                       "repeats": received - len(counts)}).encode()
                else:
                    key = headers.get(b"idempotency-key", b"")
                    counts[key] = counts.get(key, 0) + 1
                    body = REPLY
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def sink_stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/stats", timeout=10) as response:
        return json.loads(response.read())


# --- the floor -------------------------------------------------------------------------------

def post_many(args: tuple[str, int, int, int]) -> None:
    url, start, count, threads = args
    target = urllib.parse.urlsplit(url)
    local = threading.local()
    body = json.dumps({"msgtype": "markdown", "markdown": {"title": "催办提醒",
                                                           "text": "请抓紧推进整改。"}},
                      ensure_ascii=False).encode()

    def post(number: int) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(target.netloc, timeout=10)
        local.connection.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "Idempotency-Key": f"floor:{number}"})
        local.connection.getresponse().read()

    with ThreadPoolExecutor(threads) as executor:
        list(executor.map(post, range(start, start + count)))


def floor(url: str, count: int, processes: int, threads: int) -> float:
    share = count // processes
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(post_many, [(url, i * share, share, threads) for i in range(processes)])
    return share * processes / (time.perf_counter() - started)


# --- the run ---------------------------------------------------------------------------------

def fill_outbox(db: Database, count: int, url: str) -> None:
    """``count`` webhook notifications, not yet due (``make_due`` releases them)."""
    now = datetime(2100, 1, 1, tzinfo=UTC)
    rows = [{"dedupe_key": f"bench:{n}", "issue_id": None, "timer_id": None,
             "kind": "reminder", "level": "reminder:3 days", "recipient": f"单位{n % 97}",
             "channel": "webhook", "address": url,
             "subject": f"【催办提醒】距整改时限还有3天：问题{n}",
             "body": "请抓紧推进整改，按期完成。\n", "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now} for n in range(count)]
    with db.transaction() as conn:
        for start in range(0, count, 5000):
            conn.execute(insert(Notification), rows[start:start + 5000])
    with db.engine.connect() as conn:  # as autovacuum would after a bulk insert
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE notifications")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def make_due(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(update(Notification).values(next_attempt_at=datetime.now(UTC)))


def job_run_count(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(JobRun)) or 0


def count_sent(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.status == "sent")) or 0


def measure(args: argparse.Namespace) -> dict[str, object]:
    server_url = normalize_url(args.postgres)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"rectify_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    workdir = Path(tempfile.mkdtemp(prefix="rectify-bench-"))
    redis = RedisServer(workdir).start()
    port = free_port()
    ready = multiprocessing.get_context("spawn").Event()
    sink = multiprocessing.get_context("spawn").Process(target=run_sink, args=(port, ready),
                                                        daemon=True)
    sink.start()
    ready.wait(10)
    sink_url = f"http://127.0.0.1:{port}"
    processes: list[Rectify] = []
    db = Database(database_url)
    try:
        upgrade(db)
        load_definitions(db, load_all(PROJECT_ROOT / "definitions"), now=datetime.now(UTC),
                         by=None)
        floor_rate = floor(sink_url + "/floor", args.count, args.workers, args.concurrency)
        fill_outbox(db, args.count, sink_url + "/hook")
        env = {"DATABASE_URL": database_url, "BROKER_URL": redis.url,
               "RECTIFY_RELAY_INTERVAL": "0.5", "RECTIFY_SWEEP_INTERVAL": "15",
               "RECTIFY_LOG_LEVEL": "WARNING", "RECTIFY_WEBHOOK_HOSTS": "127.0.0.1",
               # delivery writes no history, but every process loads the history key
               "RECTIFY_HISTORY_KEY": f"bench-history-key-{uuid.uuid4().hex}"}
        workers = [Rectify(["worker", "--concurrency", str(args.concurrency),
                            "--loglevel", "WARNING", "--hostname", f"bench{n}@%h"],
                           env, workdir / f"worker{n}.log") for n in range(args.workers)]
        processes += workers
        processes.append(Rectify(["scheduler"], env, workdir / "scheduler.log"))
        # The clock starts when the notifications fall due, with every process up and
        # the scheduler leading; then the workers' own start-up is not counted.
        wait_for(lambda: job_run_count(db) > 0, timeout=60, what="the scheduler leading")
        time.sleep(3)
        started = time.perf_counter()
        make_due(db)
        peaks = {worker.pid: 0.0 for worker in workers}
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                for worker in workers:
                    peaks[worker.pid] = max(peaks[worker.pid], peak_rss_mb(worker.pid))
                done.wait(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        wait_for(lambda: count_sent(db) >= args.count, timeout=600, interval=0.2,
                 what=f"{args.count} notifications sent")
        elapsed = time.perf_counter() - started
        for worker in workers:
            peaks[worker.pid] = max(peaks[worker.pid], peak_rss_mb(worker.pid))
        done.set()
        watcher.join()
        stats = sink_stats(sink_url)
        with db.session() as session:
            retried = session.scalar(select(func.count()).select_from(Notification).where(
                Notification.status == "sent", Notification.attempts > 1)) or 0
        rate = args.count / elapsed
        return {
            "count": args.count, "workers": args.workers, "concurrency": args.concurrency,
            "seconds": round(elapsed, 2), "deliveries_per_s": round(rate),
            "floor_per_s": round(floor_rate), "ratio_to_floor": round(rate / floor_rate, 3),
            "sink_repeats": stats["repeats"], "outbox_repeats": retried,
            "peak_worker_rss_mb": [round(v, 1) for v in peaks.values()],
        }
    finally:
        for process in processes:
            process.terminate(timeout=30)
        db.dispose()
        sink.terminate()
        redis.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--postgres", default=LOCAL_POSTGRES)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"{result['count']} notifications, {result['workers']} workers × "
          f"{result['concurrency']} threads: {result['seconds']} s")
    print(f"  deliveries/s: {result['deliveries_per_s']} (floor, straight POSTs: "
          f"{result['floor_per_s']}/s; ratio {result['ratio_to_floor']})")
    print(f"  repeats at the sink: {result['sink_repeats']}; in the outbox: "
          f"{result['outbox_repeats']}")
    print(f"  peak worker RSS (MB): {result['peak_worker_rss_mb']}")


if __name__ == "__main__":
    main()
