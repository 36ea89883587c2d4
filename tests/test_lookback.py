"""Look-back (回头看, workflow/supervision/lookback.py): the notices at 6 and 12 months after
clearance, the month arithmetic behind them, and campaigns that sample cleared issues."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.support import OFFICE, fire_valid, new_issue
from tests.test_jobs import Collecting, make_runtime
from workflow.clock import SHANGHAI, FrozenClock, local
from workflow.errors import InputError
from workflow.issues import queries
from workflow.issues.engine import Engine
from workflow.jobs import Runtime, lookback_batch, relay_lookback
from workflow.models import Notification
from workflow.spec.durations import add_months
from workflow.supervision.lookback import parse_sample, start_campaign


@pytest.fixture
def runtime(engine: Engine, clock: FrozenClock) -> Runtime:
    return make_runtime(engine, clock)


def test_lookback_notices_come_at_6_and_12_months_after_clearance_once_each(
        runtime: Runtime, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue cleared today and another still in progress
    engine = runtime.engine
    cleared = new_issue(engine, number="1")
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, cleared, trigger, evidence_file)
    open_issue = new_issue(engine, number="2")
    fire_valid(engine, open_issue, "start", evidence_file)
    cleared_on = local(clock.now()).date()

    # When the daily look-back job runs the day before the 6-month mark, on it, and again
    dispatcher = Collecting()
    assert relay_lookback(runtime, dispatcher) == 1
    [(ids, _)] = dispatcher.batches
    clock.set(datetime.combine(add_months(cleared_on, 6), clock_time(8), SHANGHAI)
              - timedelta(days=1))
    before = lookback_batch(runtime, ids)
    clock.advance(timedelta(days=1))
    on_mark = lookback_batch(runtime, ids)
    again = lookback_batch(runtime, ids)
    clock.set(datetime.combine(add_months(cleared_on, 12), clock_time(8), SHANGHAI))
    at_twelve = lookback_batch(runtime, ids)

    # Then only the cleared issue is looked at, and each mark is noticed once, to the office
    assert ids == [cleared]
    assert (before, on_mark, again, at_twelve) == (0, 1, 0, 1)
    with runtime.db.session() as session:
        notices = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.kind, n.level, n.recipient) for n in notices] == [
        ("lookback", "lookback:6 months", "整改办"), ("lookback", "lookback:12 months", "整改办")]
    assert "回头看" in notices[0].subject and "满6个月" in notices[0].subject


def test_add_months_keeps_the_day_or_takes_the_last_one() -> None:
    assert add_months(date(2021, 3, 28), 6) == date(2021, 9, 28)
    assert add_months(date(2021, 8, 31), 6) == date(2022, 2, 28)
    assert add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert add_months(date(2021, 12, 15), 12) == date(2022, 12, 15)


def test_lookback_campaign_draws_a_reproducible_sample_of_cleared_issues(
        engine: Engine, evidence_file: Path) -> None:
    # Given a plan with 10 cleared issues and 2 still in progress, and another plan
    cleared = []
    for n in range(12):
        issue_id = new_issue(engine, number=str(n + 1), plan="淮北市整改方案")
        steps = ("start",) if n >= 10 else ("start", "apply_acceptance", "clear")
        for trigger in steps:
            fire_valid(engine, issue_id, trigger, evidence_file)
        if n < 10:
            cleared.append(issue_id)
    new_issue(engine, plan="另一方案")

    # When the office starts a 30% look-back campaign with a seed, and the same draw again
    campaign = start_campaign(engine, "淮北市整改方案", actor=OFFICE, percent=30, seed=7)
    again = sorted(random.Random(7).sample(cleared, 3))

    # Then 3 of the 10 cleared issues (rounded up) are in look-back, named in their history
    assert campaign.eligible == 10 and campaign.started == again and not campaign.failed
    for issue_id in campaign.started:
        issue = queries.get_issue(engine.db, issue_id)
        last = queries.history(engine.db, issue_id)[-1]
        assert issue.state == "follow_up" and campaign.id in (last.comment or "")
    # And a plan with nothing to look back at, or a bad sample, is refused
    with pytest.raises(InputError, match="no issue of plan '另一方案' can start a look-back"):
        start_campaign(engine, "另一方案", actor=OFFICE)
    with pytest.raises(InputError, match="must be above 0% and at most 100%"):
        parse_sample("150%")
