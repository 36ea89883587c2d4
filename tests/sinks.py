"""A real HTTP sink on loopback for integration tests: it records each webhook POST and
answers like a group robot (DingTalk's signature is checked when a secret is set)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int
    errcode: int


@dataclass
class HttpSink:
    """A webhook receiver: records each POST and answers from ``script`` (then 200 with
    ``errcode 0``). With ``secret`` set it checks DingTalk's signature like DingTalk does.
    ``pause`` says, for each request as it arrives, how many seconds to wait before
    answering (a slow receiver); ``slow`` counts the requests that waited."""

    base: str = ""
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    pause: Callable[[], float] = lambda: 0.0
    slow: int = 0

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def answer(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if self.script:
                return self.script.pop(0)
        if self.secret is not None:
            timestamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
            expected = base64.b64encode(hmac.new(
                self.secret.encode(), f"{timestamp}\n{self.secret}".encode(),
                hashlib.sha256).digest()).decode()
            if not timestamp or sign != expected:
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.status == 200 and r.errcode == 0]


@pytest.fixture
def http_sink() -> Iterator[HttpSink]:
    sink = HttpSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length).decode("utf-8"))
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            status, reply = sink.answer(query)
            headers = {key.lower(): value for key, value in self.headers.items()}
            with sink.lock:
                sink.received.append(Received(parts.path, query, headers, payload, status,
                                              reply.get("errcode", 0)))
            wait = sink.pause()
            if wait > 0:
                with sink.lock:
                    sink.slow += 1
                time.sleep(wait)
            data = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender stopped waiting (its timeout); the POST was received

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
