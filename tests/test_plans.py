"""Inspections and rectification plans (workflow/org/plans.py): a plan names its inspection
and keeps its issues to its categories."""

from __future__ import annotations

from datetime import date

import pytest

from tests.support import new_issue, office_act
from workflow.errors import InputError
from workflow.issues.engine import Engine
from workflow.org.plans import add_inspection, add_plan


def test_plans_name_their_inspection_and_keep_issues_to_their_categories(
        engine: Engine) -> None:
    db = engine.db
    by = office_act(db)
    add_inspection(db, "安徽省第二生态环境保护督察组", by=by, level="省级", round="第二轮",
                   period=(date(2019, 9, 23), date(2019, 10, 30)),
                   feedback_on=date(2020, 4, 2))
    add_plan(db, "淮北市整改方案", by=by, inspection="安徽省第二生态环境保护督察组",
             categories=["大气污染防治", "水污染防治"])
    new_issue(engine, plan="淮北市整改方案", category="大气污染防治")
    with pytest.raises(InputError, match="category '土壤' is not one of plan '淮北市整改方案'"
                                         "'s categories: 大气污染防治, 水污染防治"):
        new_issue(engine, plan="淮北市整改方案", category="土壤")
    with pytest.raises(InputError) as bad:
        add_inspection(db, "x", by=by, level="市级",
                       period=(date(2019, 10, 30), date(2019, 9, 23)))
    assert "unknown inspection level '市级'" in str(bad.value)
    assert "the period ends (2019-09-23) before it starts (2019-10-30)" in str(bad.value)
    with pytest.raises(InputError, match="inspection '中央第三督察组' is not registered"):
        add_plan(db, "另一方案", by=by, inspection="中央第三督察组")
