"""Who acts: a person or a unit, in one role, for a unit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who acts, in which role (office, unit, acceptor, leader, discipline, public), and for
    whom: ``unit`` is the person's unit (a unit acting as itself leaves it None and its name
    is the unit)."""

    name: str
    role: str
    unit: str | None = None

    @property
    def organisation(self) -> str:
        return self.unit or self.name
