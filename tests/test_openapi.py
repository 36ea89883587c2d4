"""The OpenAPI document and the interactive docs on a real `rectify web`: the committed
docs/openapi.json is what the server serves, every route is summarised and answers its errors
as problem+json, and /api/docs loads nothing from another origin."""

from __future__ import annotations

import difflib
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.api_support import PROBLEM, Server
from workflow.api.openapi import REGENERATE, document_text

pytestmark = pytest.mark.processes

COMMITTED = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


class Assets(HTMLParser):
    """The URLs a page loads: every script's src and every link's href."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def test_the_committed_document_is_what_the_server_serves(server: Server) -> None:
    # When the running server is asked for its OpenAPI document
    answer = server.client().get("/api/openapi.json")
    assert answer.status_code == 200, answer.text
    served = document_text(answer.json())
    # Then docs/openapi.json holds exactly that
    committed = COMMITTED.read_text(encoding="utf-8")
    if served != committed:
        diff = "".join(list(difflib.unified_diff(
            committed.splitlines(True), served.splitlines(True), "docs/openapi.json",
            "/api/openapi.json"))[:60])
        pytest.fail(f"docs/openapi.json differs from what `rectify web` serves; regenerate it "
                    f"with `{REGENERATE}`\n{diff}")


def test_every_route_is_summarised_and_its_errors_are_problems(server: Server) -> None:
    document = server.client().get("/api/openapi.json").json()
    operations = [(method, path, operation) for path, item in document["paths"].items()
                  for method, operation in item.items()]
    assert ("get", "/api/v1/public/issues") in [(m, p) for m, p, _ in operations]
    for method, path, operation in operations:
        assert operation.get("summary"), (method, path)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response.get("content", {})) == [PROBLEM], (method, path, status)


def test_the_docs_page_loads_everything_from_the_server_itself(server: Server) -> None:
    client = server.client()
    # When the interactive docs are opened
    answer = client.get("/api/docs")
    # Then the page is HTML whose scripts, styles and icon are on this origin
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    page = Assets()
    page.feed(answer.text)
    assert len(page.urls) >= 2, page.urls
    origin = urlsplit(server.url)
    for url in page.urls:
        absolute = urlsplit(urljoin(server.url + "/api/docs", url))
        assert (absolute.scheme, absolute.netloc) == (origin.scheme, origin.netloc), url
        # And each of them is served
        loaded = client.get(absolute.geturl())
        assert loaded.status_code == 200, url
        assert loaded.content
    # And the document the page reads is this server's, and no URL of another host is in it
    assert re.search(r"url: '/api/openapi\.json'", answer.text)
    assert not re.search(r"https?://", answer.text), answer.text
    assert json.loads(client.get("/api/openapi.json").text)["info"]["title"] == "rectify"
