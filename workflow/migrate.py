"""Schema migrations: ``upgrade`` brings a database to the newest Alembic revision."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from workflow.db import Database


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "workflow:migrations")
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply every pending migration in one transaction per run."""
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
