"""Builds a ready engine from settings, and initialises a database (schema + definitions)."""

from __future__ import annotations

from pathlib import Path

from workflow.clock import Clock
from workflow.config import Settings
from workflow.db import Database
from workflow.errors import ConfigurationError
from workflow.issues.engine import Engine
from workflow.issues.evidence import EvidenceStore
from workflow.migrate import current_revision, head_revision, upgrade
from workflow.spec.definitions import load_all
from workflow.spec.registry import LoadOutcome, load_definitions


def open_engine(settings: Settings, *, clock: Clock | None = None,
                require_schema: bool = True) -> Engine:
    """An engine on the configured database.

    Raises:
        ConfigurationError: the database has not been initialised (run ``rectify init``).
    """
    db = Database(settings.database_url)
    if require_schema and current_revision(db) != head_revision():
        raise ConfigurationError(
            f"the database {settings.database_url} is not initialised or not up to date; "
            "run `rectify init` (or `rectify db upgrade`) first")
    return Engine(db, EvidenceStore(settings.evidence_dir), clock=clock, settings=settings)


def initialize(engine: Engine, definitions_dir: Path) -> list[LoadOutcome]:
    """Create or upgrade the schema, then load every definition under ``definitions_dir``."""
    upgrade(engine.db)
    return load_definitions(engine.db, load_all(definitions_dir), now=engine.clock.now())
