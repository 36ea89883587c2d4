"""Accountability (问责): records, the office's decision on escalation proposals, the
summary in the officials' form, and refusals that change nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.support import OFFICE, UNIT, new_issue
from workflow.clock import FrozenClock
from workflow.errors import ActionDeniedError, InputError, NotFoundError
from workflow.issues.engine import Engine
from workflow.models import AccountabilityProposal, AccountabilityRecord, IssueEvent
from workflow.org.actors import Actor
from workflow.supervision import accountability
from workflow.supervision.accountability import NewAccountability

DISCIPLINE = Actor("市纪委监委", "discipline")


def decision(issues: list[int], **overrides: object) -> NewAccountability:
    values: dict[str, object] = {
        "subject_type": "领导干部", "subject": "张某", "rank": "科级", "unit": "相山区住建局",
        "methods": ["诫勉"], "decided_by": "相山区纪委监委", "decided_on": date(2020, 11, 20),
        "issues": issues, "source": "12", "disclosed": True, **overrides}
    return NewAccountability(**values)  # type: ignore[arg-type]


def open_proposal(engine: Engine, issue_id: int, clock: FrozenClock) -> int:
    with engine.db.session(write=True) as session:
        proposal = AccountabilityProposal(issue_id=issue_id, timer_id=None, status="open",
                                          reason="逾期30天未完成整改（问责建议）",
                                          opened_at=clock.now())
        session.add(proposal)
        session.flush()
        return proposal.id


def triggers(engine: Engine, issue_id: int) -> list[str]:
    with engine.db.session() as session:
        return list(session.scalars(select(IssueEvent.trigger)
                                    .where(IssueEvent.issue_id == issue_id)
                                    .order_by(IssueEvent.seq)))


def record_count(engine: Engine) -> int:
    with engine.db.session() as session:
        return session.scalar(select(func.count()).select_from(AccountabilityRecord)) or 0


def test_office_adopts_a_proposal_as_a_record_noted_in_the_history(
        engine: Engine, clock: FrozenClock) -> None:
    # Given an escalation proposal on an overdue issue
    issue_id = new_issue(engine)
    proposal_id = open_proposal(engine, issue_id, clock)

    # When the office adopts it with the cadre's rank written as an alias
    record_id = accountability.record(engine, decision([]), actor=OFFICE,
                                      proposal_id=proposal_id)

    # Then a record links the proposal's issue, with keys for type, rank and method
    [row] = accountability.records(engine)
    assert row["id"] == record_id and row["issues"] == [issue_id]
    assert (row["subject_type"], row["rank"], row["methods"]) == (
        "cadre", "township", ["admonishment"])
    assert (row["rank_label"], row["method_labels"]) == ("乡科级", ["诫勉"])
    assert row["proposal_id"] == proposal_id and row["recorded_by"] == OFFICE.name
    # And the proposal is closed as adopted, and the issue's history says so
    [proposal] = accountability.proposals(engine, status=None)
    assert (proposal.status, proposal.decided_by) == ("adopted", OFFICE.name)
    assert triggers(engine, issue_id)[-1] == "accountability"
    # And a decided proposal cannot be decided again
    with pytest.raises(InputError, match="adopted already"):
        accountability.dismiss(engine, proposal_id, actor=OFFICE, reason="重复")


def test_only_the_office_decides_proposals_and_a_unit_records_nothing(
        engine: Engine, clock: FrozenClock) -> None:
    issue_id = new_issue(engine)
    proposal_id = open_proposal(engine, issue_id, clock)
    with pytest.raises(ActionDeniedError) as denied:
        accountability.record(engine, decision([issue_id]), actor=UNIT)
    assert str(denied.value) == ("role 'unit' may not record accountability; roles allowed: "
                                 "office, discipline")
    with pytest.raises(ActionDeniedError, match="role 'discipline' may not adopt an "
                                                "accountability proposal; roles allowed: office"):
        accountability.record(engine, decision([]), actor=DISCIPLINE, proposal_id=proposal_id)
    with pytest.raises(ActionDeniedError, match="may not dismiss"):
        accountability.dismiss(engine, proposal_id, actor=DISCIPLINE, reason="不予问责")
    assert record_count(engine) == 0
    assert triggers(engine, issue_id) == ["create"]
    assert accountability.proposals(engine)[0].status == "open"


def test_bad_values_are_all_named_and_nothing_is_written(engine: Engine) -> None:
    issue_id = new_issue(engine)
    with pytest.raises(InputError) as bad:
        accountability.record(engine, decision([issue_id], rank="副科", methods=["记过", "通报"],
                                               subject=" "), actor=DISCIPLINE)
    message = str(bad.value)
    assert "unknown rank '副科'; allowed: 省部级 (provincial), 厅局级 (departmental)" in message
    assert "aliases: 厅级, 处级, 县级, 科级" in message
    assert "unknown accountability method '记过'" in message and "诫勉 (admonishment)" in message
    assert "the subject (问责对象) is empty" in message
    with pytest.raises(InputError, match=r"a cadre .* needs a rank"):
        accountability.record(engine, decision([issue_id], rank=None), actor=DISCIPLINE)
    with pytest.raises(NotFoundError, match="no issue 999"):
        accountability.record(engine, decision([issue_id, 999]), actor=DISCIPLINE)
    assert record_count(engine) == 0
    assert triggers(engine, issue_id) == ["create"]


def test_dismissal_needs_a_reason_and_is_kept_in_the_history(
        engine: Engine, clock: FrozenClock) -> None:
    issue_id = new_issue(engine)
    proposal_id = open_proposal(engine, issue_id, clock)
    with pytest.raises(InputError, match="needs a reason"):
        accountability.dismiss(engine, proposal_id, actor=OFFICE, reason=" ")
    accountability.dismiss(engine, proposal_id, actor=OFFICE, reason="已批准延期，不予问责")
    assert accountability.proposals(engine) == []
    assert triggers(engine, issue_id)[-1] == "dismiss_proposal"
    assert record_count(engine) == 0


def test_summary_counts_organisations_and_cadres_by_rank_as_the_report_does(
        engine: Engine) -> None:
    # Given the source report's year: 3 party organisations and 7 cadres, 3 at county
    # level (written 县处级, 处级, 县级) and 4 at section level (乡科级, 科级)
    issue_id = new_issue(engine)
    for n in range(3):
        accountability.record(engine, decision([issue_id], subject_type="党组织", rank=None,
                                               subject=f"某党支部{n}", methods=["检查"]),
                              actor=DISCIPLINE)
    for n, rank in enumerate(["县处级", "处级", "县级", "乡科级", "科级", "科级", "乡科级"]):
        accountability.record(engine, decision([issue_id], subject=f"干部{n}", rank=rank,
                                               methods=["通报", "诫勉"]), actor=DISCIPLINE)
    # And one cadre recorded twice (two decisions) counts once
    accountability.record(engine, decision([issue_id], subject="干部0", rank="县处级",
                                           methods=["纪律处分"]), actor=DISCIPLINE)

    summary = accountability.summary(engine)

    assert summary.as_dict() == {"organizations": 3, "cadres": 7,
                                 "by_rank": {"county": 3, "township": 4}}
    assert summary.sentence_zh() == ("对3个党组织和7名领导干部进行问责，其中县处级干部3人、"
                                     "乡科级干部4人")
    assert len(accountability.records(engine, issue=issue_id)) == 11
