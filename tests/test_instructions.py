"""Leaders' instructions (批示, workflow/supervision/instructions.py): on the issues they
supervise or of their sectors, recorded in the history and sent to the unit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support import LEADER, UNIT, new_issue, office_act
from workflow.errors import ActionDeniedError, OutOfScopeError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.models import Notification
from workflow.org.directory import add_person
from workflow.supervision.instructions import instruct


def test_a_leader_instructs_the_issues_of_their_sectors(engine: Engine) -> None:
    mine = new_issue(engine, category="水污染防治")  # its leader is LEADER
    sector = new_issue(engine, category="大气污染防治", leader="李副市长")
    other = new_issue(engine, category="固体废物", leader="李副市长")
    add_person(engine.db, LEADER.name, roles=["leader"], sectors=["大气污染防治"],
               by=office_act(engine.db))

    instruct(engine, mine, "务必按期整改到位", actor=LEADER)
    instruct(engine, sector, "加大督查力度", actor=LEADER)
    with pytest.raises(OutOfScopeError, match="may not give instructions"):
        instruct(engine, other, "越权批示", actor=LEADER)
    with pytest.raises(ActionDeniedError, match="role 'unit' may not give instructions"):
        instruct(engine, mine, "x", actor=UNIT)

    last = queries.history(engine.db, mine)[-1]
    assert (last.trigger, last.actor, last.comment) == ("instruct", LEADER.name, "务必按期整改到位")
    assert [e.trigger for e in queries.history(engine.db, other)] == ["create"]
    with engine.db.session() as session:
        sent = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.issue_id, n.recipient, n.level) for n in sent] == [
        (mine, UNIT.name, "instruction"), (sector, UNIT.name, "instruction")]
    assert "务必按期整改到位" in sent[0].body
