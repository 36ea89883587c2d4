"""Units and people: who works, accepts, supervises and decides.

A unit may sit under a parent (a county and its departments). A person belongs to a unit,
acts in one or more roles (office, unit, acceptor, leader, discipline, public), and a
supervising leader (包保领导) takes package responsibility for sectors (问题类别).

``resolve_actor`` turns the name given with ``--as`` into an ``Actor``: a person acts in one
of their roles for their unit; a unit listed in the directory acts as itself. Once the
directory holds anyone, an unknown name is refused, so every action is taken by someone the
office registered. ``sectors_of`` loads what the access policy needs to know of a leader.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from workflow.db import Database, add_unique
from workflow.errors import InputError
from workflow.models import Person, Unit
from workflow.org.actors import Actor
from workflow.org.ranks import rank_key

ROLES = ("office", "unit", "acceptor", "leader", "discipline", "public")
UNIT_ROLES = ("unit", "acceptor")  # roles a unit can act in as itself


def add_unit(db: Database, name: str, *, parent: str | None = None) -> int:
    """Register a unit; returns its id.

    Raises:
        InputError: an empty or duplicate name, or a parent that is not registered.
    """
    name = name.strip()
    if not name:
        raise InputError("a unit needs a name")
    with db.session(write=True) as session:
        if parent and session.scalar(select(Unit.id).where(Unit.name == parent)) is None:
            raise InputError(f"parent unit {parent!r} is not registered; add it first with "
                             "`rectify units add`")
        return add_unique(session, Unit(name=name, parent=parent or None), f"unit {name!r}")


def add_person(db: Database, name: str, *, roles: Sequence[str], unit: str | None = None,
               title: str | None = None, rank: str | None = None,
               sectors: Sequence[str] = ()) -> int:
    """Register a person; returns their id.

    Raises:
        InputError: every problem at once (empty name, no or unknown role, unregistered
            unit, unknown rank, a duplicate name).
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
        if unit and session.scalar(select(Unit.id).where(Unit.name == unit)) is None:
            problems.append(f"unit {unit!r} is not registered; add it with `rectify units add`")
        if problems:
            raise InputError("; ".join(problems))
        person = Person(name=name, roles=list(dict.fromkeys(roles)), unit=unit or None,
                        title=title or None, rank=rank_value, sectors=list(sectors))
        return add_unique(session, person, f"person {name!r}")


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
        known = (session.scalar(select(func.count()).select_from(Person)) or 0) + \
            (session.scalar(select(func.count()).select_from(Unit)) or 0)
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
