"""The directory (workflow/org/directory.py): actors are the people and units the office
registered, each acting in the roles and for the unit it was given."""

from __future__ import annotations

import pytest

from workflow.errors import InputError
from workflow.issues.engine import Engine
from workflow.org.actors import Actor
from workflow.org.directory import add_person, add_unit, resolve_actor


def test_actors_are_registered_people_and_units(engine: Engine) -> None:
    db = engine.db
    # With an empty directory any name acts (a fresh installation, the demo)
    assert resolve_actor(db, "某人", None) == Actor("某人", "office")
    add_unit(db, "淮北市")
    add_unit(db, "相山区人民政府", parent="淮北市")
    add_person(db, "张三", roles=["unit"], unit="相山区人民政府", title="科长", rank="科级")
    add_person(db, "王副市长", roles=["leader", "office"], title="副市长", rank="厅级",
               sectors=["大气污染防治"])
    # A person acts in their role for their unit; a unit acts as itself
    assert resolve_actor(db, "张三", None) == Actor("张三", "unit", "相山区人民政府")
    assert resolve_actor(db, "相山区人民政府", None) == Actor("相山区人民政府", "unit")
    with pytest.raises(InputError, match="acts in roles leader, office; say which"):
        resolve_actor(db, "王副市长", None)
    with pytest.raises(InputError, match="张三 does not hold role 'office'; their roles: unit"):
        resolve_actor(db, "张三", "office")
    with pytest.raises(InputError, match="neither a registered person nor a unit"):
        resolve_actor(db, "某人", None)
    with pytest.raises(InputError) as bad:
        add_person(db, "赵六", roles=["mayor"], unit="不存在的局", rank="副科")
    assert "unknown role(s) mayor" in str(bad.value)
    assert "unit '不存在的局' is not registered" in str(bad.value)
    assert "unknown rank '副科'" in str(bad.value)
    with pytest.raises(InputError, match="parent unit '安徽省' is not registered"):
        add_unit(db, "濉溪县", parent="安徽省")
