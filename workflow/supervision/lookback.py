"""Look-back marks (回头看): after an issue enters a state whose definition lists
``lookback_after`` (the default lifecycle: ``cleared``, 6 and 12 months), a notice reminds the
office to organise the look-back when each mark comes.

The daily look-back job finds the issues in such states (``candidates``) and hands them to
workers in batches; ``queue_notices`` works out each issue's marks from the time it entered
its state (its history) and queues a notice for every mark that has come. The dedupe key
names the issue, the time it entered the state and the mark, so a repeated run, a batch run
twice, or a day missed and caught up the next never sends a mark twice; an issue cleared
again after a rebound starts its marks afresh.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import and_, func, or_, select

from workflow.clock import SHANGHAI, local
from workflow.config import Settings
from workflow.errors import InputError, RectifyError
from workflow.issues.engine import Engine
from workflow.issues.transaction import IssueTx
from workflow.models import DefinitionRecord, Issue, IssueEvent
from workflow.notify.contacts import Contacts, recipient_names
from workflow.notify.enqueue import Notice, enqueue
from workflow.org.actors import Actor
from workflow.spec.durations import add_months, parse_months


def _lookback_states(engine: Engine) -> dict[tuple[str, int], dict[str, list[int]]]:
    """For each loaded definition version, its states with look-back marks (in months)."""
    with engine.db.session() as session:
        versions = session.execute(select(DefinitionRecord.id, DefinitionRecord.version)).all()
    found: dict[tuple[str, int], dict[str, list[int]]] = {}
    for definition_id, version in versions:
        definition = engine.registry.get(definition_id, version).definition
        marks = {state.key: [parse_months(mark) for mark in state.lookback_after]
                 for state in definition.states if state.lookback_after}
        if marks:
            found[(definition_id, version)] = marks
    return found


def candidates(engine: Engine) -> list[int]:
    """Ids of the issues now in a state with look-back marks."""
    wanted = [and_(Issue.definition_id == definition_id, Issue.definition_version == version,
                   Issue.state.in_(sorted(states)))
              for (definition_id, version), states in _lookback_states(engine).items()]
    if not wanted:
        return []
    with engine.db.session() as session:
        return list(session.scalars(select(Issue.id).where(or_(*wanted)).order_by(Issue.id)))


def queue_notices(engine: Engine, ids: list[int], *, now: datetime) -> int:
    """Queue a look-back notice for every mark of ``ids`` that has come by ``now``; returns
    how many messages were queued (marks already noticed are skipped)."""
    states = _lookback_states(engine)
    with engine.db.session() as session:
        issues = session.scalars(select(Issue).where(Issue.id.in_(sorted(set(ids))))).all()
        entered = dict(session.execute(
            select(IssueEvent.issue_id, func.max(IssueEvent.at))
            .join(Issue, Issue.id == IssueEvent.issue_id)
            .where(IssueEvent.issue_id.in_(sorted(set(ids))),
                   IssueEvent.to_state == Issue.state,
                   or_(IssueEvent.from_state.is_(None), IssueEvent.from_state != Issue.state))
            .group_by(IssueEvent.issue_id)).all())
    today = local(now).date()
    contacts = Contacts(engine.db)
    queued = 0
    with engine.transaction() as tx:
        for issue in issues:
            marks = states.get((issue.definition_id, issue.definition_version), {})
            since = entered.get(issue.id)
            if issue.state not in marks or since is None:
                continue  # moved on meanwhile, or no history yet
            definition = engine.registry.get(issue.definition_id,
                                             issue.definition_version).definition
            since_day = local(since).date()
            for months in marks[issue.state]:
                mark = add_months(since_day, months)
                if mark > today:
                    break
                queued += _queue(tx, contacts, issue, definition, since, mark, months,
                                 now, engine.settings)
    return queued


def _queue(tx: IssueTx, contacts: Contacts, issue: Issue, definition: Any,
           since: datetime, mark: date, months: int, now: datetime,
           settings: Settings) -> int:
    names = recipient_names(definition.notices.lookback, unit=issue.unit or issue.lead_unit,
                            leader=issue.leader, office=settings.office_name)
    return enqueue(tx, contacts, Notice(
        template="lookback", kind="lookback", level=f"lookback:{months} months",
        issue_id=issue.id, timer_id=None, context={
            "issue_id": issue.id, "number": issue.number, "title": issue.title,
            "unit": issue.unit, "leader": issue.leader, "cleared": since,
            "state_label": definition.state(issue.state).label_zh,
            "mark": datetime.combine(mark, time(9), SHANGHAI), "months": months},
        recipients=names, key=f"lookback:{issue.id}:{since.isoformat()}:{months}"),
        now=now, settings=settings)


def batches(ids: list[int], size: int) -> list[list[int]]:
    """``ids`` in chunks of at most ``size``."""
    return [ids[n * size:(n + 1) * size] for n in range(math.ceil(len(ids) / size))]


@dataclass
class Campaign:
    """A look-back campaign (回头看专项): which issues of the plan were drawn and started."""

    id: str
    plan: str
    trigger: str
    percent: float
    seed: int
    eligible: int
    started: list[int] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "plan": self.plan, "trigger": self.trigger,
                "sample_percent": self.percent, "seed": self.seed, "eligible": self.eligible,
                "started": self.started, "failed": self.failed}


def parse_sample(text: str) -> float:
    """``30%`` or ``30`` → 30.0; ``100%`` takes every eligible issue.

    Raises:
        InputError: not a percentage above 0 and at most 100.
    """
    raw = text.strip().removesuffix("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"sample {text!r} must be a percentage such as 30%") from None
    if not 0 < value <= 100:
        raise InputError(f"sample {text!r} must be above 0% and at most 100%")
    return value


def start_campaign(engine: Engine, plan: str, *, actor: Actor, percent: float = 100.0,
                   seed: int | None = None, trigger: str = "start_follow_up") -> Campaign:
    """Start a look-back on a random sample of the plan's issues that allow ``trigger`` now
    (the default lifecycle: cleared issues). The draw is reproducible from the seed, which
    the campaign reports; each started issue's history names the campaign.

    Raises:
        InputError: no issue of the plan can start a look-back, or a bad sample.
    """
    if not 0 < percent <= 100:
        raise InputError(f"sample {percent:g}% must be above 0% and at most 100%")
    with engine.db.session() as session:
        issues = list(session.scalars(select(Issue).where(Issue.plan == plan)
                                      .order_by(Issue.id)))
    eligible = [issue.id for issue in issues
                if trigger in engine.registry.get(issue.definition_id, issue.definition_version)
                .allowed_triggers(issue.state)]
    if not eligible:
        raise InputError(f"no issue of plan {plan!r} can start a look-back now (trigger "
                         f"{trigger!r}; {len(issues)} issue(s) in the plan)")
    seed = seed if seed is not None else random.SystemRandom().randrange(1, 10**9)
    count = math.ceil(len(eligible) * percent / 100)
    drawn = sorted(random.Random(seed).sample(eligible, count))
    campaign = Campaign(f"lookback-{local(engine.clock.now()):%Y%m%d}-{seed}", plan, trigger,
                        percent, seed, len(eligible))
    comment = f"回头看专项 {campaign.id}（抽查{percent:g}%）"
    for issue_id in drawn:
        try:
            engine.fire(issue_id, trigger, actor=actor, comment=comment)
        except RectifyError as exc:
            campaign.failed.append({"issue_id": issue_id, "error": str(exc)})
            continue
        campaign.started.append(issue_id)
    return campaign
