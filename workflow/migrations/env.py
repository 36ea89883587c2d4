"""Alembic environment: runs migrations on the connection ``workflow.migrate`` hands over,
or on ``DATABASE_URL`` when invoked through the plain ``alembic`` command."""

from __future__ import annotations

from alembic import context

from workflow.config import Settings
from workflow.db import Database
from workflow.models import Base

target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    database = Database(Settings.from_env().database_url)
    with database.engine.connect() as own_connection:
        _run(own_connection)
        own_connection.commit()
