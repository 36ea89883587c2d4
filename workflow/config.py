"""Settings read from the environment, with defaults that need no servers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "sqlite:///./rectify.db"


@dataclass(frozen=True)
class Settings:
    """Where the data lives.

    Attributes:
        database_url: SQLAlchemy URL; ``DATABASE_URL``, default ``sqlite:///./rectify.db``.
        evidence_dir: content-addressed evidence store; ``RECTIFY_EVIDENCE_DIR``, default
            ``./evidence``.
        definitions_dir: process definitions; ``RECTIFY_DEFINITIONS``, default the repository's
            ``definitions/``.
    """

    database_url: str
    evidence_dir: Path
    definitions_dir: Path

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            evidence_dir=Path(os.environ.get("RECTIFY_EVIDENCE_DIR") or "evidence"),
            definitions_dir=Path(os.environ.get("RECTIFY_DEFINITIONS")
                                 or PROJECT_ROOT / "definitions"),
        )
