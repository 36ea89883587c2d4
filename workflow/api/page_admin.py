"""The office's administration pages (系统管理): import, the directory, accounts and tokens,
contacts, dead letters, doctor, checkpoints and verify."""

from __future__ import annotations

from fastapi import APIRouter


def router() -> APIRouter:
    """The page routes (not in the OpenAPI document)."""
    return APIRouter(include_in_schema=False)
