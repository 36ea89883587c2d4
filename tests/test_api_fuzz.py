"""Requests generated from the OpenAPI document (schemathesis, on hypothesis) against a real
`rectify web`: whatever arrives — well-formed or not, signed in as the office, as a unit, or
not at all — the answer is never a server error, and every refusal is problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings

from tests.api_support import OFFICE, PROBLEM, Server

pytestmark = pytest.mark.processes

EXAMPLES = 40  # per operation and caller: a bounded run


def token_of(server: Server, login: str) -> str:
    out = server.cli("tokens", "create", login, "--scope", "write", "--as", OFFICE)
    return out.strip().splitlines()[-1]


def probe(server: Server, operation: Any, name: str, headers: dict[str, str],
          failures: list[str]) -> Any:
    """A bounded hypothesis run of ``operation`` as one caller, noting what went wrong."""

    @seed(20261202)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        answer = case.call(base_url=server.url, headers=headers, timeout=30)
        where = f"{name} {case.method} {case.formatted_path} {case.query}"
        if answer.status_code >= 500:
            failures.append(f"{where}: {answer.status_code} {answer.text[:300]}")
        elif answer.status_code >= 400 and \
                answer.headers.get("content-type", [None])[0] != PROBLEM:  # a list each
            failures.append(f"{where}: {answer.status_code} is not problem+json")

    return run


def test_generated_requests_never_get_a_server_error(server: Server) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json")
    callers: dict[str, dict[str, str]] = {
        "office": {"Authorization": f"Bearer {token_of(server, 'office')}"},
        "unit": {"Authorization": f"Bearer {token_of(server, 'zhang')}"},
        "nobody": {},
    }
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, [op.label for op in operations]
    for operation in operations:
        for name, headers in callers.items():
            probe(server, operation, name, headers, failures)()
    assert failures == [], "\n".join(failures[:40])
    # And the server is still there, answering
    assert httpx.get(server.url + "/healthz").status_code == 200
