"""The leader cockpit (领导驾驶舱): a leader's issues and sectors by light, the overdue and
重点督办 lists, the units' ranking and 红黑榜; every figure links to the ledger filtered to
exactly the issues it counts."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    return APIRouter(include_in_schema=False)
