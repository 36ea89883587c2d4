"""Units and people: who works, accepts, supervises and decides.

A unit may sit under a parent (a county and its departments). A person belongs to a unit,
acts in one or more roles (office, unit, acceptor, leader, discipline, public), and a
supervising leader (包保领导) takes package responsibility for sectors (问题类别).

``resolve_actor`` turns the name given with ``--as`` into an ``Actor``: a person acts in one
of their roles for their unit; a unit listed in the directory acts as itself. Once the
directory holds anyone, an unknown name is refused, so every action is taken by someone the
office registered.

The directory starts with one explicit step, ``bootstrap_office`` (``rectify init --admin``):
the first office person. From then on only an office actor makes administrative changes —
people, units, inspections, plans, contacts, definitions, the calendar, dead letters: each
such function takes an ``OfficeAct`` (the actor and the key the audit trail is hashed under),
which checks the office inside the change's write transaction and appends the change's audit
record to it. ``sectors_of`` loads what the access policy needs to know of a leader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from workflow.audit import AuditKey, append_audit
from workflow.clock import SystemClock
from workflow.db import Database, add_unique
from workflow.errors import ActionDeniedError, InputError
from workflow.models import Person, Unit
from workflow.org.actors import Actor
from workflow.org.ranks import rank_key

ROLES = ("office", "unit", "acceptor", "leader", "discipline", "public")
UNIT_ROLES = ("unit", "acceptor")  # roles a unit can act in as itself


ADMIN_ROLE = "office"


def _directory_size(session: Session | Connection) -> int:
    return (session.scalar(select(func.count()).select_from(Person)) or 0) + \
        (session.scalar(select(func.count()).select_from(Unit)) or 0)


@dataclass(frozen=True)
class OfficeAct:
    """An administrative change by ``actor``, its audit record hashed under ``key`` (the
    history key, ``Engine.keys.current``): the ``workflow.audit.Authority`` every
    administrative domain function takes.

    ``check`` refuses the change unless the directory has been started and ``actor`` acts in
    the office role; ``record`` appends the audit record. Both run on the change's own write
    transaction.
    """

    actor: Actor
    key: AuditKey

    def check(self, conn: Session | Connection, action: str) -> None:
        """Raises:
            InputError: the directory is empty (start it with ``rectify init --admin``).
            ActionDeniedError: ``actor`` is not the office.
        """
        if not _directory_size(conn):
            raise InputError(f"the directory is empty, so no one may {action} yet; register "
                             "the first office person with `rectify init --admin NAME`, then "
                             "act as them (--as NAME)")
        if self.actor.role != ADMIN_ROLE:
            raise ActionDeniedError(action=action, role=self.actor.role, roles=(ADMIN_ROLE,))

    def record(self, conn: Session | Connection, action: str, subject: str, *, at: datetime,
               **details: Any) -> int:
        return append_audit(conn, self.actor.audit(action, subject, **details), at=at,
                            key=self.key)


def bootstrap_office(db: Database, name: str, *, key: AuditKey,
                     os_user: str | None = None) -> bool:
    """Register ``name`` as the first office person of an empty directory (the one step that
    takes no actor: the person registers themself, on the audit trail).

    Returns:
        True when registered; False when ``name`` is an office person already.

    Raises:
        InputError: an empty name, or a directory that has others in it already.
    """
    name = name.strip()
    if not name:
        raise InputError("--admin needs a name")
    with db.session(write=True) as session:
        person = session.scalar(select(Person).where(Person.name == name))
        if person is not None and ADMIN_ROLE in person.roles:
            return False
        size = _directory_size(session)
        if size:
            raise InputError(f"the directory has {size} people and units already; --admin only "
                             "starts an empty one. An office person registers others: "
                             f"`rectify people add {name} --role office --as OFFICE_PERSON`")
        add_unique(session, Person(name=name, roles=[ADMIN_ROLE], sectors=[]), f"person {name!r}")
        admin = Actor(name, ADMIN_ROLE, os_user=os_user)
        append_audit(session, admin.audit("bootstrap", f"person {name}", roles=[ADMIN_ROLE]),
                     at=SystemClock().now(), key=key)
    return True


def add_unit(db: Database, name: str, *, by: OfficeAct, parent: str | None = None) -> int:
    """Register a unit (an office actor only, on the audit trail); returns its id.

    Raises:
        InputError: an empty or duplicate name, a parent that is not registered, or an empty
            directory. ActionDeniedError: ``by`` is not the office.
    """
    name = name.strip()
    if not name:
        raise InputError("a unit needs a name")
    with db.session(write=True) as session:
        by.check(session, "register units")
        if parent and session.scalar(select(Unit.id).where(Unit.name == parent)) is None:
            raise InputError(f"parent unit {parent!r} is not registered; add it first with "
                             "`rectify units add`")
        unit_id = add_unique(session, Unit(name=name, parent=parent or None), f"unit {name!r}")
        by.record(session, "unit_add", f"unit {name}", at=SystemClock().now(),
                  parent=parent or None)
        return unit_id


def add_person(db: Database, name: str, *, by: OfficeAct, roles: Sequence[str],
               unit: str | None = None, title: str | None = None, rank: str | None = None,
               sectors: Sequence[str] = ()) -> int:
    """Register a person (an office actor only, on the audit trail); returns their id.

    Raises:
        InputError: every problem at once (empty name, no or unknown role, unregistered
            unit, unknown rank, a duplicate name), or an empty directory.
        ActionDeniedError: ``by`` is not the office.
    """
    problems = []
    name = name.strip()
    if not name:
        problems.append("a person needs a name")
    unknown = [role for role in roles if role not in ROLES]
    if not roles:
        problems.append(f"a person needs at least one role; roles: {', '.join(ROLES)}")
    elif unknown:
        problems.append(f"unknown role(s) {', '.join(unknown)}; roles: {', '.join(ROLES)}")
    rank_value = None
    if rank:
        try:
            rank_value = rank_key(rank)
        except InputError as exc:
            problems.append(str(exc))
    with db.session(write=True) as session:
        by.check(session, "register people")
        if unit and session.scalar(select(Unit.id).where(Unit.name == unit)) is None:
            problems.append(f"unit {unit!r} is not registered; add it with `rectify units add`")
        if problems:
            raise InputError("; ".join(problems))
        person = Person(name=name, roles=list(dict.fromkeys(roles)), unit=unit or None,
                        title=title or None, rank=rank_value, sectors=list(sectors))
        person_id = add_unique(session, person, f"person {name!r}")
        by.record(session, "person_add", f"person {name}", at=SystemClock().now(),
                  roles=person.roles, unit=person.unit, title=person.title, rank=person.rank,
                  sectors=person.sectors)
        return person_id


def units(db: Database) -> list[Unit]:
    with db.session() as session:
        return list(session.scalars(select(Unit).order_by(Unit.parent.nullsfirst(), Unit.name)))


def people(db: Database) -> list[Person]:
    with db.session() as session:
        return list(session.scalars(select(Person).order_by(Person.name)))


def sectors_of(db: Database, actor: Actor) -> frozenset[str]:
    """The sectors (问题类别) ``actor`` supervises: a leader's registered sectors; none for
    any other role, or for a leader not in the directory."""
    if actor.role != "leader":
        return frozenset()
    with db.session() as session:
        return frozenset(session.scalar(select(Person.sectors)
                                        .where(Person.name == actor.name)) or [])


def resolve_actor(db: Database, name: str, role: str | None) -> Actor:
    """The actor for ``--as NAME [--role ROLE]``.

    A registered person acts in ``role`` (which must be one of theirs; may be omitted when
    they hold one role) for their unit. A registered unit acts as itself in the unit or
    acceptor role. With an empty directory any name acts in ``role`` (default office).

    Raises:
        InputError: an unknown name once the directory is in use, or a role the person or
            unit does not hold.
    """
    with db.session() as session:
        person = session.scalar(select(Person).where(Person.name == name))
        unit = session.scalar(select(Unit).where(Unit.name == name))
        known = _directory_size(session)
    if person is not None:
        if role is None:
            if len(person.roles) != 1:
                raise InputError(f"{name} acts in roles {', '.join(person.roles)}; say which "
                                 "with --role")
            role = person.roles[0]
        if role not in person.roles:
            raise InputError(f"{name} does not hold role '{role}'; their roles: "
                             f"{', '.join(person.roles)}")
        return Actor(name, role, person.unit)
    if unit is not None:
        role = role or "unit"
        if role not in UNIT_ROLES:
            raise InputError(f"unit {name} acts as itself only in roles "
                             f"{', '.join(UNIT_ROLES)}; register a person for role '{role}'")
        return Actor(name, role)
    if known:
        raise InputError(f"{name!r} is neither a registered person nor a unit; register "
                         "them with `rectify people add` or `rectify units add`")
    return Actor(name, role or "office")
