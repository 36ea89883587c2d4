"""Definition versions in the database, and the cache of their compiled machines.

``load_definitions`` stores validated definitions; a version that is already stored is left
alone when its text is unchanged and refused when it differs, so running issues never see
their rules change. A load by someone is an administrative change: the ``Authority`` checks
them and appends the audit record in the load's own transaction. ``Registry.get`` compiles
each (id, version) once per process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from workflow.audit import Authority
from workflow.db import Database
from workflow.errors import DefinitionError, DefinitionFault, NotFoundError
from workflow.models import DefinitionRecord
from workflow.spec.definitions import LoadedDefinition, parse_text, version_line
from workflow.spec.machine import CompiledDefinition


@dataclass(frozen=True)
class LoadOutcome:
    ref: str
    path: str
    status: str  # "loaded" or "unchanged"


def load_definitions(db: Database, items: Iterable[LoadedDefinition], *, now: datetime,
                     by: Authority | None, source: str = "") -> list[LoadOutcome]:
    """Store definition versions, all or nothing.

    Args:
        by: who loads them (checked, and on the audit trail with ``source``, the file or
            directory read); None only for the shipped definitions ``rectify init`` loads
            into a new database, before anyone is registered.

    Raises:
        DefinitionError: a stored id+version has different content (bump the version instead).
        InputError, ActionDeniedError: ``by`` may not load definitions.
    """
    outcomes: list[LoadOutcome] = []
    faults: list[DefinitionFault] = []
    with db.session(write=True) as session:
        if by is not None:
            by.check(session, "load definitions")
        for item in items:
            d = item.definition
            stored = session.get(DefinitionRecord, (d.id, d.version))
            if stored is None:
                session.add(DefinitionRecord(
                    id=d.id, version=d.version, label_zh=d.label_zh, label_en=d.label_en,
                    source=item.source, checksum=item.checksum, path=item.path, loaded_at=now))
                outcomes.append(LoadOutcome(d.ref, item.path, "loaded"))
            elif stored.checksum == item.checksum:
                outcomes.append(LoadOutcome(d.ref, item.path, "unchanged"))
            else:
                faults.append(DefinitionFault(
                    item.path, version_line(item), "version",
                    f"duplicate id+version {d.ref}: a different {d.ref} was loaded on "
                    f"{stored.loaded_at:%Y-%m-%d} from {stored.path}; running issues depend on "
                    "it, so give this file a new version number"))
        if faults:
            session.rollback()
            raise DefinitionError(faults)
        if by is not None:
            by.record(session, "definitions_load", source, at=now,
                      outcomes={outcome.ref: outcome.status for outcome in outcomes})
    return outcomes


class Registry:
    """Compiled definitions by (id, version), read from the database on first use."""

    def __init__(self, db: Database):
        self._db = db
        self._compiled: dict[tuple[str, int], CompiledDefinition] = {}
        self._lock = threading.Lock()

    def get(self, definition_id: str, version: int) -> CompiledDefinition:
        """The compiled definition version (read-only access on a cache miss, so a caller
        holding a write transaction never waits on itself)."""
        key = (definition_id, version)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key)
                if compiled is None:
                    compiled = self._compiled[key] = self._compile(definition_id, version)
        return compiled

    def latest(self, definition_id: str) -> CompiledDefinition:
        """The latest loaded version of ``definition_id``, compiled (NotFoundError, naming
        those loaded, when there is none)."""
        return self.get(definition_id, self.latest_version(definition_id))

    def latest_version(self, definition_id: str) -> int:
        with self._db.session() as session:
            version = session.scalar(select(func.max(DefinitionRecord.version))
                                     .where(DefinitionRecord.id == definition_id))
            if version is None:
                known = session.scalars(select(DefinitionRecord.id).distinct()).all()
                raise NotFoundError(
                    f"no process definition '{definition_id}' is loaded; loaded: "
                    f"{', '.join(known) or 'none (run rectify init)'}")
            return version

    def _compile(self, definition_id: str, version: int) -> CompiledDefinition:
        query = select(DefinitionRecord.source, DefinitionRecord.path).where(
            DefinitionRecord.id == definition_id, DefinitionRecord.version == version)
        with self._db.session() as session:
            row = session.execute(query).first()
        if row is None:
            raise NotFoundError(f"process definition {definition_id}@{version} is not loaded")
        return CompiledDefinition(parse_text(row.source, f"{row.path} (stored)").definition)
