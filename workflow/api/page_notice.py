"""The 督办单: an issue's blue, yellow or red supervision notice as a printable page."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    return APIRouter(include_in_schema=False)
