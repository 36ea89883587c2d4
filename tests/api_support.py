"""The running server for the HTTP tests: a real `rectify web` (or `serve`) process on a free
loopback port and the CLI on the same database, with two units, a person of each, the
public, the office and one issue per unit; accounts zhang (unit A), li.ke (unit B), office,
public. Registered as a plugin in conftest, so its fixtures serve every test module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.processes import Rectify, free_port, wait_for
from workflow.cli import app
from workflow.db import Database

OFFICE, UNIT_A, UNIT_B = "市整改办", "相山区人民政府", "杜集区人民政府"
PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"


@dataclass
class Server:
    """A running `rectify web` and the CLI on the same database."""

    url: str
    process: Rectify
    cli: Callable[..., str]

    def client(self, address: str | None = None) -> httpx.Client:
        """A client; from ``address`` (another loopback address, 127.0.0.N) when given."""
        transport = httpx.HTTPTransport(local_address=address) if address else None
        return httpx.Client(base_url=self.url, timeout=30, transport=transport)

    def try_sign_in(self, login: str, password: str, address: str) -> httpx.Response:
        with self.client(address) as client:
            return client.post("/api/v1/session", json={"login": login, "password": password})

    def sign_in(self, login: str, password: str = PASSWORD, **extra: str) -> httpx.Client:
        client = self.client()
        answer = client.post("/api/v1/session", json={"login": login, "password": password,
                                                        **extra})
        assert answer.status_code == 200, answer.text
        client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return client


@pytest.fixture
def start_server(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """Starts `rectify web` on a database with two units, a person of each, the public, and
    one issue per unit; accounts zhang (unit A), li (unit B), office, public. A test marked
    ``training`` gets a training database (its server may run at a rehearsal time:
    ``start(args=("--now", TIME, "--as", OFFICE))``)."""
    url = db.engine.url.render_as_string(hide_password=False)
    env = {"DATABASE_URL": url, "RECTIFY_EVIDENCE_DIR": str(tmp_path / "evidence")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RECTIFY_ACTOR", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def cli(*args: str, stdin: str | None = None, code: int = 0) -> str:
        result = runner.invoke(app, list(args), input=stdin)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    training = request.node.get_closest_marker("training") is not None
    cli("init", "--admin", OFFICE, *(["--training"] if training else []))
    for unit in (UNIT_A, UNIT_B):
        cli("units", "add", unit, "--as", OFFICE)
    cli("people", "add", "张科长", "--role", "unit", "--unit", UNIT_A, "--as", OFFICE)
    cli("people", "add", "李科长", "--role", "unit", "--unit", UNIT_B, "--as", OFFICE)
    cli("people", "add", "群众", "--role", "public", "--as", OFFICE)
    cli("issue", "create", "--title", "餐饮油烟扰民", "--unit", UNIT_A, "--deadline",
        "2027-12-31", "--as", OFFICE)
    cli("issue", "create", "--title", "黑臭水体", "--unit", UNIT_B, "--deadline",
        "2027-12-31", "--as", OFFICE)
    for login, person in (("zhang", "张科长"), ("li.ke", "李科长"), ("office", OFFICE),
                          ("public", "群众")):
        cli("accounts", "add", login, "--person", person, "--password-stdin", "--as", OFFICE,
            stdin=PASSWORD + "\n")
    started: list[Rectify] = []

    def start(command: str = "web", args: tuple[str, ...] = (), **settings: str) -> Server:
        port = free_port()
        process = Rectify([command, "--port", str(port), *args], {**env, **settings},
                          tmp_path / f"web{len(started)}.log")
        started.append(process)
        server = Server(f"http://127.0.0.1:{port}", process, cli)

        def healthy() -> bool:
            assert process.alive(), process.output()
            try:
                return httpx.get(server.url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, timeout=60, what="rectify web answering /healthz")
        return server

    yield start
    for process in started:
        process.terminate()


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()
