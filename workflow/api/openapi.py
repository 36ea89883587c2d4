"""The OpenAPI document the server serves at ``/api/openapi.json``, made without a server or
a database: ``python -m workflow.api.openapi > docs/openapi.json`` writes the committed copy
(pretty-printed, keys sorted, ending in a newline)."""

from __future__ import annotations

import json
import sys
from typing import Any

REGENERATE = "python -m workflow.api.openapi > docs/openapi.json"


def document_text(document: dict[str, Any]) -> str:
    """The document as the committed file has it."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build() -> dict[str, Any]:
    """The application's OpenAPI document; no route runs, so the engine is never touched."""
    from workflow.api.app import create_app
    from workflow.auth.settings import AuthSettings

    return create_app(_NoEngine(), AuthSettings()).openapi()  # type: ignore[arg-type]


class _NoEngine:
    """Stands where the engine goes: building the routes reads nothing of it but these."""

    db = None
    keys = type("Keys", (), {"current": None})()


if __name__ == "__main__":
    sys.stdout.write(document_text(build()))
