"""The directory (workflow/org/directory.py): actors are the people and units the office
registered, each acting in the roles and for the unit it was given. The directory starts with
one explicit office person; after that only the office registers, and every registration is
on the append-only, hash-chained audit trail. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support import OFFICE, TEST_KEYS, start_directory
from workflow.audit import audit_events, verify_audit
from workflow.errors import ActionDeniedError, InputError
from workflow.issues.engine import Engine
from workflow.org.actors import Actor
from workflow.org.directory import (
    OfficeAct,
    add_person,
    add_unit,
    bootstrap_office,
    resolve_actor,
)


def test_actors_are_registered_people_and_units(engine: Engine) -> None:
    db = engine.db
    # With an empty directory any name acts (a fresh installation, the demo)
    assert resolve_actor(db, "某人", None) == Actor("某人", "office")
    # Given the first office person and the units and people they register
    by = OfficeAct(start_directory(db), TEST_KEYS.current)
    add_unit(db, "淮北市", by=by)
    add_unit(db, "相山区人民政府", parent="淮北市", by=by)
    add_person(db, "张三", roles=["unit"], unit="相山区人民政府", title="科长", rank="科级",
               by=by)
    add_person(db, "王副市长", roles=["leader", "office"], title="副市长", rank="厅级",
               sectors=["大气污染防治"], by=by)
    # Then a person acts in their role for their unit; a unit acts as itself
    assert resolve_actor(db, "张三", None) == Actor("张三", "unit", "相山区人民政府")
    assert resolve_actor(db, "相山区人民政府", None) == Actor("相山区人民政府", "unit")
    assert resolve_actor(db, OFFICE.name, None) == OFFICE
    with pytest.raises(InputError, match="acts in roles leader, office; say which"):
        resolve_actor(db, "王副市长", None)
    with pytest.raises(InputError, match="张三 does not hold role 'office'; their roles: unit"):
        resolve_actor(db, "张三", "office")
    with pytest.raises(InputError, match="neither a registered person nor a unit"):
        resolve_actor(db, "某人", None)
    with pytest.raises(InputError) as bad:
        add_person(db, "赵六", roles=["mayor"], unit="不存在的局", rank="副科", by=by)
    assert "unknown role(s) mayor" in str(bad.value)
    assert "unit '不存在的局' is not registered" in str(bad.value)
    assert "unknown rank '副科'" in str(bad.value)
    with pytest.raises(InputError, match="parent unit '安徽省' is not registered"):
        add_unit(db, "濉溪县", parent="安徽省", by=by)


def test_an_empty_directory_registers_no_one_but_the_explicit_first_office_person(
        engine: Engine) -> None:
    db = engine.db
    # Given an empty directory
    # When someone registers a unit or a person before the directory is started
    by = OfficeAct(OFFICE, TEST_KEYS.current)
    for register in (lambda: add_unit(db, "淮北市", by=by),
                     lambda: add_person(db, "张三", roles=["office"], by=by)):
        with pytest.raises(InputError, match=r"the directory is empty.*rectify init --admin"):
            register()
    # Then nothing was registered, and the first office person is registered explicitly once
    assert bootstrap_office(db, "市整改办", key=TEST_KEYS.current, os_user="zhang") is True
    assert bootstrap_office(db, "市整改办", key=TEST_KEYS.current) is False  # again: unchanged
    assert resolve_actor(db, "市整改办", None) == OFFICE
    # And a second bootstrap by another name is refused: the office registers others
    with pytest.raises(InputError, match="--admin only starts an empty one"):
        bootstrap_office(db, "另一个人", key=TEST_KEYS.current)


@pytest.mark.parametrize("role", ["unit", "acceptor", "leader", "discipline", "public"])
def test_only_the_office_registers_people_and_units(engine: Engine, role: str) -> None:
    db = engine.db
    # Given a started directory
    start_directory(db)
    someone = OfficeAct(Actor("某单位", role), TEST_KEYS.current)
    # When an actor of another role registers a unit or a person (even as office)
    with pytest.raises(ActionDeniedError, match=f"role '{role}' may not register units; "
                                                "roles allowed: office"):
        add_unit(db, "淮北市", by=someone)
    with pytest.raises(ActionDeniedError, match="may not register people"):
        add_person(db, "张三", roles=["office"], by=someone)
    # Then nothing was registered: only the office person and the bootstrap on the trail
    assert [event.action for event in audit_events(db)] == ["bootstrap"]


def test_every_registration_is_on_the_hash_chained_audit_trail(engine: Engine) -> None:
    db = engine.db
    # Given the first office person, at a console as OS user zhang, registering two records
    bootstrap_office(db, "市整改办", key=TEST_KEYS.current, os_user="zhang")
    by = OfficeAct(Actor("市整改办", "office", os_user="zhang"), TEST_KEYS.current)
    add_unit(db, "淮北市", by=by)
    add_person(db, "张三", roles=["unit"], unit="淮北市", by=by)
    # Then each is recorded with the actor, the OS user and what was registered, chained
    trail = audit_events(db)
    assert [(e.action, e.subject, e.actor, e.role, e.os_user) for e in trail] == [
        ("bootstrap", "person 市整改办", "市整改办", "office", "zhang"),
        ("unit_add", "unit 淮北市", "市整改办", "office", "zhang"),
        ("person_add", "person 张三", "市整改办", "office", "zhang")]
    assert trail[2].details["roles"] == ["unit"] and trail[2].details["unit"] == "淮北市"
    assert [e.prev_hash for e in trail[1:]] == [e.hash for e in trail[:-1]]
    assert verify_audit(db, TEST_KEYS).ok


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = '某人'",
                                       "DELETE FROM audit_events"])
def test_the_audit_trail_refuses_update_and_delete(engine: Engine, statement: str) -> None:
    db = engine.db
    # Given a trail with a record
    start_directory(db)
    # When it is updated or deleted in SQL
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    # Then the record is as it was
    assert [e.actor for e in audit_events(db)] == [OFFICE.name]
    assert verify_audit(db, TEST_KEYS).ok
