"""一键催办 (workflow/supervision/chase.py) and the saved ledger views
(workflow/issues/saved_filters.py): a chase reaches the unit through the outbox once a day
per issue and is an event of the issue's verified history; saving and deleting a view is
an office act on the audit trail, its name checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support import OFFICE, UNIT, new_issue, office_act
from workflow.audit import audit_events
from workflow.clock import FrozenClock
from workflow.errors import ActionDeniedError, InputError, NotFoundError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.issues.saved_filters import clean_query, delete_filter, save_filter, saved_filters
from workflow.issues.verification import verify
from workflow.issues.views import event_labels
from workflow.models import Notification
from workflow.notify.contacts import add_contact
from workflow.org.directory import OfficeAct
from workflow.supervision.chase import chase


def _outbox(engine: Engine) -> list[Notification]:
    with engine.db.session() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_a_chase_is_sent_once_a_day_and_recorded_in_the_history(
        engine: Engine, clock: FrozenClock) -> None:
    by = office_act(engine.db)
    first, second = new_issue(engine), new_issue(engine, unit="杜集区人民政府")
    add_contact(engine.db, UNIT.name, "email", "xsq@example.org", by=by)

    report = chase(engine, [first, second], actor=OFFICE)
    assert (report.chased, report.already) == ([first, second], [])
    assert report.no_contact == ["杜集区人民政府"]  # reached on the log channel only
    sent = _outbox(engine)
    assert [(n.issue_id, n.recipient, n.channel, n.level) for n in sent] == [
        (first, UNIT.name, "email", "chase"), (second, "杜集区人民政府", "log", "chase")]
    assert sent[0].subject.startswith("【催办通知】") and "请抓紧推进整改" in sent[0].body
    last = queries.history(engine.db, first)[-1]
    assert (last.trigger, last.actor, last.role, last.from_state, last.to_state) == (
        "chase", OFFICE.name, "office", "assigned", "assigned")
    assert event_labels(engine.registry, "rectification", 1)[1]["chase"] == "催办"

    # The same day again: nothing is sent, nothing recorded
    again = chase(engine, [first], actor=OFFICE)
    assert (again.chased, again.already) == ([], [first])
    assert len(_outbox(engine)) == 2
    assert [e.trigger for e in queries.history(engine.db, first)].count("chase") == 1

    # The next day it is sent again, and every chain still verifies
    clock.advance(timedelta(days=1))
    assert chase(engine, [first], actor=OFFICE).chased == [first]
    assert len(_outbox(engine)) == 3
    assert verify(engine).ok


def test_only_the_office_chases_and_only_issues_that_exist(engine: Engine) -> None:
    issue = new_issue(engine)
    with pytest.raises(ActionDeniedError, match="role 'unit' may not chase"):
        chase(engine, [issue], actor=UNIT)
    with pytest.raises(NotFoundError, match="nothing was chased"):
        chase(engine, [issue, 999], actor=OFFICE)
    assert _outbox(engine) == []
    assert [e.trigger for e in queries.history(engine.db, issue)] == ["create"]


def test_saved_filters_are_named_uniquely_and_on_the_audit_trail(engine: Engine) -> None:
    by = office_act(engine.db)
    kept = save_filter(engine.db, " 超期未完成 ", "overdue=1&cursor=abc&unit=相山区&x=1", by=by)
    (saved,) = saved_filters(engine.db)
    assert (saved.id, saved.name, saved.query, saved.created_by) == (
        kept, "超期未完成", "unit=%E7%9B%B8%E5%B1%B1%E5%8C%BA&overdue=1", OFFICE.name)
    for name, message in (("  ", "needs a name"), ("长" * 51, "at most 50"),
                          ("超期未完成", "registered already")):
        with pytest.raises(InputError, match=message):
            save_filter(engine.db, name, "", by=by)
    with pytest.raises(ActionDeniedError):
        save_filter(engine.db, "单位的", "", by=OfficeAct(UNIT, by.key))
    assert delete_filter(engine.db, kept, by=by) == "超期未完成"
    with pytest.raises(NotFoundError):
        delete_filter(engine.db, kept, by=by)
    assert saved_filters(engine.db) == []
    actions = [e.action for e in audit_events(engine.db)]
    assert actions[-2:] == ["saved_filter_add", "saved_filter_delete"]
    assert clean_query("sort=-id&state=&q=%20水%20") == "q=%E6%B0%B4&sort=-id"
