"""The public portal (公众), without sign-in: the disclosure list with the latest checkpoint
digest, each issue's public page, the 公示 list with an objection form and a ticket's status."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    return APIRouter(include_in_schema=False)
