"""The web pages' server time on PostgreSQL with 100,000 issues: the ledger page (台账) at
its first page and 1,000 pages deep, and the leader cockpit (领导驾驶舱), each against the
JSON API's list of the same query in the same run (the peer: the same ledger query without
the page around it).

The database is ``bench/api.py``'s (a deployment set up with ``rectify init``, two units, a
person of each, then N issues in one ``INSERT … SELECT generate_series``: half unit A's, 60 %
past their deadline, each tenth cleared, eight leaders in turn, five categories), plus a
leader (王建国, sector 大气污染防治) and the accounts ``office``, ``unit`` and ``leader``.

A real ``rectify web`` runs on loopback; the bench signs in each account through the API
(the pages share its session cookie) and times ``--requests`` requests each after a
warm-up, over keep-alive httpx clients:

- ``GET /ledger`` (50 rows, the count, the filter form) for the office unfiltered and with
  ``light=red``, ``unit=A`` and ``overdue=1``, and for unit A's own scope, at the first page
  and at page 1,001 (its ``cursor`` built from the same query, after the issue at row
  50,000), each beside ``GET /api/v1/issues`` of the same query and page;
- ``GET /cockpit`` for the leader and for the office (every figure, the overdue and
  重点督办 lists and the ranking), beside the API's first page of the same scope.

The time measured is the whole request on loopback (client included), an upper bound of the
server's. Target: p95 < 300 ms for every page.

    .venv/bin/python bench/web.py          # --issues N, --requests N, --postgres URL, --json
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/transitions.py would
# shadow the `transitions` library the engine imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for bench.api

import argparse
import json
import os
import platform
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from bench.api import (
    DEEP_PAGES,
    LEADERS,
    OFFICE,
    PAGE,
    PASSWORD,
    Floor,
    deployment,
    p95,
    rectify,
    scenarios,
    sign_in,
    timed,
)
from workflow.api.issues import encode_cursor
from workflow.issues import queries

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LEADER, SECTOR = LEADERS[0], "大气污染防治"
TARGET_MS = 300


def page_params(filters: dict[str, Any]) -> dict[str, str]:
    """The ledger page's address for ``filters`` (yes/no as 1/0)."""
    return {k: ("1" if v else "0") if isinstance(v, bool) else str(v)
            for k, v in filters.items()}


def api_params(filters: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in filters.items()}


def get(client: httpx.Client, path: str, params: dict[str, str], name: str,
        expect: str) -> Callable[[], None]:
    """A request that must answer 200 with ``expect`` in its body."""
    def call() -> None:
        answer = client.get(path, params=params)
        if answer.status_code != 200 or expect not in answer.text:
            raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
    return call


def row(page: str, query: str, depth: str, samples: list[float],
        peer: list[float]) -> dict[str, Any]:
    ms, peer_ms = p95(samples), p95(peer)
    return {"page": page, "query": query, "depth": depth, "p95_ms": round(ms, 1),
            "api_p95_ms": round(peer_ms, 1), "over_api": round(ms / peer_ms, 2),
            "target_ms": TARGET_MS}


def measure(url: str, floor: Floor, requests: int, now: datetime) -> list[dict[str, Any]]:
    clients = {login: sign_in(url, login) for login in ("office", "unit", "leader")}
    rows = []
    for scenario in scenarios():
        client = clients[scenario.login]
        deep = floor.deep_position(scenario, now)
        cursor = encode_cursor(queries.LedgerQuery(**scenario.filters).fingerprint("id"), deep)
        for depth, extra in (("first", {}), (f"{DEEP_PAGES + 1:,}st", {"cursor": cursor})):
            print(f"ledger, {scenario.name}, {depth} page …", file=sys.stderr)
            page = timed(get(client, "/ledger", {**page_params(scenario.filters), **extra},
                             scenario.name, "</tbody>"), requests)
            api = timed(get(client, "/api/v1/issues",
                            {**api_params(scenario.filters), **extra, "limit": str(PAGE)},
                            scenario.name, '"items"'), requests)
            rows.append(row("GET /ledger", scenario.name, depth, page, api))
    for login, who in (("leader", f"leader {LEADER}"), ("office", "office")):
        print(f"cockpit, {who} …", file=sys.stderr)
        client = clients[login]
        page = timed(get(client, "/cockpit", {}, who, "红榜"), requests)
        api = timed(get(client, "/api/v1/issues", {"limit": str(PAGE)}, who, '"items"'),
                    requests)
        rows.append(row("GET /cockpit", who, "", page, api))
    for client in clients.values():
        client.close()
    return rows


def add_leader(env: dict[str, str]) -> None:
    rectify(env, "people", "add", LEADER, "--role", "leader", "--sector", SECTOR,
            "--as", OFFICE)
    rectify(env, "accounts", "add", "leader", "--person", LEADER, "--password-stdin",
            "--as", OFFICE, stdin=PASSWORD + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default=os.environ.get("RECTIFY_TEST_POSTGRES_URL")
                        or LOCAL_POSTGRES, help="PostgreSQL server URL")
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per measured page")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if options.issues < 2 * PAGE * DEEP_PAGES:
        raise SystemExit(f"--issues must be at least {2 * PAGE * DEEP_PAGES:,}: every query "
                         "measured needs a page 1,000 pages deep")
    with deployment(options.postgres, options.issues, "rectify-web-", add_leader) as run:
        rows = measure(run.url, run.floor, options.requests, run.now)
    figures = {"issues": options.issues, "requests": options.requests,
               "python": platform.python_version(), "pages": rows,
               "targets_met": all(r["p95_ms"] < r["target_ms"] for r in rows)}
    if options.json:
        print(json.dumps(figures, ensure_ascii=False))
        return 0
    print(f"{options.issues:,} issues on PostgreSQL; {options.requests} requests each; "
          "p95 in ms")
    print(f"{'page':<13} {'query':<22} {'depth':<9} {'page p95':>9} {'API p95':>8} "
          f"{'page/API':>9} {'target':>7}")
    for r in rows:
        print(f"{r['page']:<13} {r['query']:<22} {r['depth']:<9} {r['p95_ms']:>9.1f} "
              f"{r['api_p95_ms']:>8.1f} {r['over_api']:>9.2f} {'< ' + str(r['target_ms']):>7}")
    print("all targets met" if figures["targets_met"] else "some targets missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
