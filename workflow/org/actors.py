"""Who acts: a person or a unit, in one role, for a unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow.audit import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who acts, in which role (office, unit, acceptor, leader, discipline, public), and for
    whom: ``unit`` is the person's unit (a unit acting as itself leaves it None and its name
    is the unit). ``os_user`` is the operating-system user who gave the name at a console
    (``--as``); it is recorded beside the actor."""

    name: str
    role: str
    unit: str | None = None
    os_user: str | None = None

    @property
    def organisation(self) -> str:
        return self.unit or self.name

    def audit(self, action: str, subject: str, **details: Any) -> AuditEntry:
        """The audit record of an administrative change this actor makes."""
        return AuditEntry(self.name, self.role, self.os_user, action, subject, details)
