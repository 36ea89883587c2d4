"""What the runtime database role may do (PostgreSQL): `rectify db grant ROLE`.

The schema owner runs the migrations and owns the tables; the processes that serve users
connect as a runtime role that gets what the engine needs and no more. It may append to the
history but never UPDATE or DELETE it, never delete an issue or change a stored definition,
and, owning nothing, it can neither ALTER a table nor drop or disable a trigger.
"""

from __future__ import annotations

from sqlalchemy import text

from workflow.db import Database
from workflow.errors import InputError
from workflow.models import Base

# Privileges by table; every other table of the schema gets DEFAULT.
DEFAULT = ("SELECT", "INSERT", "UPDATE", "DELETE")
PRIVILEGES: dict[str, tuple[str, ...]] = {
    "issue_events": ("SELECT", "INSERT"),  # the history: append only
    "audit_events": ("SELECT", "INSERT"),  # the audit trail, where the schema has one
    "issues": ("SELECT", "INSERT", "UPDATE"),  # deleting an issue deletes its history
    "process_definitions": ("SELECT", "INSERT"),  # running issues depend on the stored text
    "alembic_version": ("SELECT",),  # migrations are the owner's
}


def table_privileges() -> dict[str, tuple[str, ...]]:
    """Every table of the schema (and Alembic's) with the privileges the runtime gets."""
    tables = {table.name: PRIVILEGES.get(table.name, DEFAULT)
              for table in Base.metadata.sorted_tables}
    tables["alembic_version"] = PRIVILEGES["alembic_version"]
    return tables


def grant_runtime(db: Database, role: str) -> list[str]:
    """Give ``role`` the runtime's privileges on the database (and take away any others it
    had on these tables); run as the schema owner. Returns the statements run.

    Raises:
        InputError: not PostgreSQL, no such role, or a role that owns the tables or is a
            superuser (it could rewrite history whatever it is granted).
    """
    if db.is_sqlite:
        raise InputError("database roles are a PostgreSQL feature; a SQLite file is guarded "
                         "by its file permissions (the runtime user needs read and write)")
    with db.transaction() as conn:
        found = conn.execute(text(
            "SELECT rolsuper, pg_has_role(:role, (SELECT tableowner FROM pg_tables "
            "WHERE tablename = 'issue_events' AND schemaname = current_schema()), 'MEMBER') "
            "FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
        if found is None:
            raise InputError(f"role {role!r} does not exist; create it first, e.g. "
                             f"CREATE ROLE {role} LOGIN PASSWORD '…'")
        if found[0] or found[1]:
            raise InputError(f"role {role!r} is a superuser or owns the tables, so it could "
                             "drop the history's triggers whatever it is granted; give the "
                             "runtime a role of its own")
        quote = conn.dialect.identifier_preparer.quote
        who, schema = quote(role), quote(conn.execute(text("SELECT current_schema()"))
                                         .scalar_one())
        database = quote(conn.execute(text("SELECT current_database()")).scalar_one())
        statements = [f"GRANT CONNECT ON DATABASE {database} TO {who}",
                      f"GRANT USAGE ON SCHEMA {schema} TO {who}"]
        for table, privileges in table_privileges().items():
            name = f"{schema}.{quote(table)}"
            statements += [f"REVOKE ALL ON {name} FROM {who}",
                           f"GRANT {', '.join(privileges)} ON {name} TO {who}"]
        statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {who}")
        for statement in statements:
            conn.exec_driver_sql(statement)
    return statements
