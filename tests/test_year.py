"""The source report's year, played end to end on the shipped definition (rectification@2).

After the 2019 provincial inspection the city adopted a plan of five categories with the
four lists, eight city leaders each supervising their sectors, and the work spread over the
districts, the county and the city departments. Over the year issues are cleared through the
full acceptance steps (application with evidence, site check, 7-day public notice, sign-off,
clearance with the five 决不放过 items), one is rejected at the site check, one is objected
to during its public notice, a long-term item keeps owing monthly reports after clearance,
a look-back finds a rebound, and the transferred problem lists end in accountability for
party organisations and cadres. The final ledger and accountability figures must be what
the year set up.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import FIVE_NEVER, TEST_KEYS, start_directory
from workflow.clock import SHANGHAI, FrozenClock
from workflow.errors import OutOfScopeError, RequirementError
from workflow.issues import queries, views
from workflow.issues.engine import Engine, NewIssue
from workflow.issues.verification import verify
from workflow.org.directory import OfficeAct, add_person, add_unit, resolve_actor
from workflow.org.plans import add_inspection, add_plan
from workflow.supervision.accountability import (
    NewAccountability,
    proposals,
    record,
    records,
    summary,
)
from workflow.supervision.instructions import instruct
from workflow.supervision.lookback import queue_notices, start_campaign
from workflow.supervision.monthly_reports import NewProgress, owing
from workflow.supervision.monthly_reports import report as report_progress

PLAN = "淮北市贯彻落实2019年省生态环境保护督察反馈意见整改方案"
CATEGORIES = ["大气污染防治", "水污染防治", "土壤与固体废物污染防治", "生态保护与修复",
              "环境监管与执法"]
COUNTIES = ["相山区人民政府", "杜集区人民政府", "烈山区人民政府", "濉溪县人民政府"]
DEPARTMENTS = ["市整改办", "市生态环境局", "市住房城乡建设局", "市城管局", "市水利局",
               "市自然资源和规划局", "市纪委监委"]
# Eight city leaders (包保领导), each with the sectors they supervise
LEADERS = {"张市长": CATEGORIES, "王副市长": ["大气污染防治"], "李副市长": ["水污染防治"],
           "赵副市长": ["土壤与固体废物污染防治"], "钱副市长": ["生态保护与修复"],
           "孙副市长": ["环境监管与执法"], "周秘书长": ["大气污染防治", "水污染防治"],
           "吴副市长": ["生态保护与修复"]}
# number, category, leader, responsible unit, acceptance unit, deadline (None: 长期坚持)
ISSUES = [
    ("1", "大气污染防治", "王副市长", "相山区人民政府", "市生态环境局", date(2020, 10, 31)),
    ("2", "大气污染防治", "周秘书长", "杜集区人民政府", "市城管局", date(2020, 10, 31)),
    ("3", "水污染防治", "李副市长", "烈山区人民政府", "市水利局", date(2020, 12, 31)),
    ("4", "水污染防治", "周秘书长", "濉溪县人民政府", "市生态环境局", None),
    ("5", "土壤与固体废物污染防治", "赵副市长", "市住房城乡建设局", "市生态环境局",
     date(2020, 6, 30)),
    ("6", "土壤与固体废物污染防治", "赵副市长", "相山区人民政府", "市生态环境局",
     date(2020, 12, 31)),
    ("7", "生态保护与修复", "钱副市长", "市自然资源和规划局", "市水利局", date(2020, 12, 31)),
    ("8", "生态保护与修复", "吴副市长", "烈山区人民政府", "市自然资源和规划局",
     date(2020, 12, 31)),
    ("9", "环境监管与执法", "孙副市长", "濉溪县人民政府", "市生态环境局", date(2021, 6, 30)),
    ("10", "环境监管与执法", "张市长", "杜集区人民政府", "市生态环境局", date(2021, 6, 30)),
]
# Who acts for each unit (a registered person in role unit or acceptor)
WORKERS = {"相山区人民政府": "相山区整改联络员", "杜集区人民政府": "杜集区整改联络员",
           "烈山区人民政府": "烈山区整改联络员", "濉溪县人民政府": "濉溪县整改联络员",
           "市住房城乡建设局": "住建局整改联络员", "市自然资源和规划局": "自规局整改联络员"}
ACCEPTORS = {"市生态环境局": "生态环境局验收组长", "市城管局": "城管局验收组长",
             "市水利局": "水利局验收组长", "市自然资源和规划局": "自规局验收组长"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class Year:
    """The city's year: its directory, plan and issues, and the steps people take."""

    def __init__(self, engine: Engine, clock: FrozenClock, evidence: Path) -> None:
        self.engine, self.clock, self.evidence = engine, clock, evidence
        self.ids: dict[str, int] = {}

    def who(self, name: str, role: str | None = None):
        return resolve_actor(self.engine.db, name, role)

    def on(self, when: str | datetime) -> None:
        self.clock.set(at(when) if isinstance(when, str) else when)

    def fire(self, number: str, trigger: str, actor: str, **inputs) -> None:
        self.engine.fire(self.ids[number], trigger, actor=self.who(actor), **inputs)

    def set_up(self) -> None:
        db = self.engine.db
        self.on("2019-12-20 09:00")
        by = OfficeAct(start_directory(db), TEST_KEYS.current)
        add_unit(db, "淮北市", by=by)
        for name in [*COUNTIES, *DEPARTMENTS]:
            add_unit(db, name, parent="淮北市", by=by)
        add_unit(db, "濉溪县生态环境分局", parent="濉溪县人民政府", by=by)
        add_person(db, "市整改办主任", roles=["office"], unit="市整改办", title="主任",
                   rank="县处级", by=by)
        for leader, sectors in LEADERS.items():
            add_person(db, leader, roles=["leader"], unit="淮北市", title=leader[1:],
                       rank="厅局级", sectors=sectors, by=by)
        for unit, person in WORKERS.items():
            add_person(db, person, roles=["unit"], unit=unit, rank="乡科级", by=by)
        for unit, person in ACCEPTORS.items():
            add_person(db, person, roles=["acceptor"], unit=unit, rank="乡科级", by=by)
        add_person(db, "市纪委监委审理室", roles=["discipline"], unit="市纪委监委", by=by)
        add_person(db, "群众代表", roles=["public"], by=by)
        add_inspection(db, "2019年安徽省第三生态环境保护督察组", by=by, level="省级",
                       round="2019年",
                       team="省第三生态环境保护督察组", period=(date(2019, 7, 8),
                                                              date(2019, 8, 8)),
                       feedback_on=date(2019, 11, 10))
        add_plan(db, PLAN, by=by, inspection="2019年安徽省第三生态环境保护督察组",
                 issued_on=date(2019, 12, 20), categories=CATEGORIES)
        office = self.who("市整改办主任")
        for number, category, leader, unit, acceptor, deadline in ISSUES:
            self.ids[number] = self.engine.create_issue(NewIssue(
                title=f"{category}问题{number}", plan=PLAN, number=number, category=category,
                target=f"{category}问题{number}整改到位", measures="排查建档，限期整改，依法查处",
                leader=leader, lead_unit=unit, unit=unit, acceptance_unit=acceptor,
                deadline=deadline, long_term=deadline is None), actor=office,
                comment="按整改方案交办")
        self.on("2019-12-25 09:00")
        for number, *_rest, unit, _acceptor, _deadline in ISSUES:
            self.fire(number, "start", WORKERS[unit])

    def apply(self, number: str, when: str | datetime) -> None:
        unit = ISSUES[int(number) - 1][3]
        self.on(when)
        self.fire(number, "apply_acceptance", WORKERS[unit], comment="整改完成，申请验收",
                  evidence=[self.evidence])

    def site_check(self, number: str, when: str | datetime) -> None:
        self.on(when)
        self.fire(number, "site_check", ACCEPTORS[ISSUES[int(number) - 1][4]],
                  comment="现场核查：整改到位，同意公示")

    def sign_off_and_clear(self, number: str, sign_off: str | datetime,
                           clear: str | datetime) -> None:
        self.on(sign_off)
        self.fire(number, "sign_off", "市整改办主任", comment="公示期满无异议，同意销号")
        self.on(clear)
        self.fire(number, "clear", "市整改办主任", comment="验收合格，予以销号",
                  checklist=FIVE_NEVER, evidence=[self.evidence])

    def clear_through_every_step(self, number: str, applied: str) -> None:
        """Apply, site check three days later, sign off after the 7-day notice, clear."""
        day = at(applied)
        self.apply(number, day)
        self.site_check(number, day + timedelta(days=3))
        self.sign_off_and_clear(number, day + timedelta(days=11), day + timedelta(days=12))


@pytest.fixture
def year(engine: Engine, clock: FrozenClock, evidence_file: Path) -> Year:
    played = Year(engine, clock, evidence_file)
    played.set_up()
    return played


def test_the_year_of_the_source_report(year: Year) -> None:
    engine, ids = year.engine, year.ids

    # Spring 2020: issue 5 goes through every step and is cleared
    year.clear_through_every_step("5", "2020-04-06 09:00")
    five = queries.get_issue(engine.db, ids["5"])
    assert (five.state, five.accepted_by, five.accepted_unit) == (
        "cleared", "生态环境局验收组长", "市生态环境局")

    # Issue 2 is rejected at the site check, reworked and cleared the second time
    year.apply("2", "2020-05-11 09:00")
    year.on("2020-05-14 10:00")
    year.fire("2", "reject", "城管局验收组长", comment="现场核查：3处工地裸土未覆盖，验收不通过")
    assert queries.get_issue(engine.db, ids["2"]).state == "in_progress"
    year.clear_through_every_step("2", "2020-06-08 09:00")

    # Issue 3: an objection during the public notice sends it back to the site check
    year.apply("3", "2020-06-01 09:00")
    year.site_check("3", "2020-06-04 10:00")
    year.on("2020-06-07 15:00")
    year.fire("3", "object", "群众代表", comment="公示期间反映下游仍有异味")
    with pytest.raises(RequirementError, match="must be at step 已审签"):
        year.fire("3", "clear", "市整改办主任", comment="销号", checklist=FIVE_NEVER,
                  evidence=[year.evidence])
    year.site_check("3", "2020-06-15 10:00")
    year.sign_off_and_clear("3", "2020-06-23 10:00", "2020-06-24 10:00")

    # The long-term item (长期坚持) and four more are cleared over the summer and autumn
    for number, applied in (("4", "2020-07-06 09:00"), ("1", "2020-08-03 09:00"),
                            ("6", "2020-09-07 09:00"), ("7", "2020-10-12 09:00"),
                            ("8", "2020-11-02 09:00")):
        year.clear_through_every_step(number, applied)

    # A leader instructs (批示) an issue of their sector, and not one outside it
    year.on("2020-11-20 09:00")
    instruct(engine, ids["9"], "加快推进，确保按期完成", actor=year.who("孙副市长"))
    with pytest.raises(OutOfScopeError):
        instruct(engine, ids["9"], "越权批示", actor=year.who("王副市长"))

    # Six months after issue 5 was cleared, its look-back falls due; the office looks back
    # and finds the problem rebounded (反弹): clearance revoked, a new deadline, a proposal
    year.on("2020-10-20 09:00")
    assert queue_notices(engine, [ids["5"]], now=engine.clock.now()) >= 1
    year.fire("5", "start_follow_up", "市整改办主任", comment="回头看（6个月）")
    year.on("2020-11-05 09:00")
    year.fire("5", "rebound", "市整改办主任", comment="回头看发现堆场扬尘问题反弹",
              fields={"new_deadline": "2021-06-30"})
    rebound = queries.history(engine.db, ids["5"])[-1]
    assert rebound.payload["clearance_revoked"] is True and rebound.payload["proposal"] is True
    assert views.issue_view(engine.db, queries.get_issue(engine.db, ids["5"]),
                            engine.registry, engine.clock.now())["deadline"] == "2021-06-30"

    # A look-back campaign on demand draws a sample of the cleared issues; all consolidated
    year.on("2021-01-11 09:00")
    campaign = start_campaign(engine, PLAN, actor=year.who("市整改办主任"), percent=50,
                              seed=2021)
    assert campaign.eligible == 7 and len(campaign.started) == 4 and not campaign.failed
    year.on("2021-01-25 09:00")
    for issue_id in campaign.started:
        engine.fire(issue_id, "consolidate", actor=year.who("市整改办主任"),
                    comment="回头看：整改成果巩固")

    # The long-term item still owes its monthly report after clearance; the others do not
    assert {issue.id for issue in owing(engine, "2021-02")} == {
        ids["4"], ids["5"], ids["9"], ids["10"]}
    year.on("2021-02-26 09:00")
    report_progress(engine, ids["4"], NewProgress("2021-02", "水源地保护区巡查4次，未发现新增问题",
                                                  100), actor=year.who("濉溪县整改联络员"))
    assert ids["4"] not in {issue.id for issue in owing(engine, "2021-02")}

    # The transferred problem lists (移交问题清单) end in accountability: the office adopts
    # the rebound's proposal, and the discipline body records the rest
    year.on("2021-03-10 09:00")
    [proposal] = proposals(engine)
    assert proposal.issue_id == ids["5"]
    office, discipline = year.who("市整改办主任"), year.who("市纪委监委审理室")
    record(engine, NewAccountability(
        subject_type="领导干部", subject="某镇分管负责人", unit="相山区人民政府", rank="科级",
        methods=["诫勉"], decided_by="相山区纪委监委", decided_on=date(2021, 3, 10), issues=[],
        source="移交问题清单3"), actor=office, proposal_id=proposal.id)
    decisions = [
        ("党组织", "杜集区住房城乡建设局党组", None, ["通报"], "2"),
        ("党组织", "烈山区某镇党委", None, ["通报", "检查"], "3"),
        ("党组织", "濉溪县某镇党委", None, ["检查"], "9"),
        ("领导干部", "杜集区住建局局长", "县级", ["诫勉"], "2"),
        ("领导干部", "烈山区分管副区长", "县级", ["通报"], "3"),
        ("领导干部", "濉溪县生态环境分局局长", "处级", ["组织调整"], "9"),
        ("领导干部", "杜集区某街道主任", "科级", ["诫勉"], "2"),
        ("领导干部", "烈山区某镇镇长", "科级", ["纪律处分"], "3"),
        ("领导干部", "濉溪县某镇分管副镇长", "乡科级", ["诫勉", "通报"], "9"),
    ]
    for kind, subject, rank, methods, number in decisions:
        record(engine, NewAccountability(
            subject_type=kind, subject=subject, rank=rank, methods=methods,
            decided_by="淮北市纪委监委", decided_on=date(2021, 3, 12), issues=[ids[number]],
            source=f"移交问题清单{1 + int(number) % 3}", disclosed=True), actor=discipline)

    # As of 2021-03-28: 7 of 10 cleared, 3 still being rectified (the rebound among them)
    year.on("2021-03-28 12:00")
    issues = queries.list_issues(engine.db, engine.registry, queries.IssueFilter(plan=PLAN),
                                 now=engine.clock.now())
    assert Counter(issue.state for issue in issues) == {"cleared": 7, "in_progress": 3}
    assert {issue.id for issue in issues if issue.state == "in_progress"} == {
        ids["5"], ids["9"], ids["10"]}
    assert all(issue.definition_version == 2 for issue in issues)
    # Every clearance went through the steps and names who accepted it
    for issue in issues:
        if issue.state != "cleared":
            continue
        triggers = [event.trigger for event in queries.history(engine.db, issue.id)]
        assert triggers.index("site_check") < triggers.index("sign_off") < triggers.index(
            "clear")
        assert issue.accepted_by == ACCEPTORS[issue.acceptance_unit]
        clear = next(e for e in queries.history(engine.db, issue.id) if e.trigger == "clear")
        assert set(clear.payload["checklist"]) == set(FIVE_NEVER) and clear.payload["evidence"]
    assert "reject" in [e.trigger for e in queries.history(engine.db, ids["2"])]
    assert "object" in [e.trigger for e in queries.history(engine.db, ids["3"])]

    # 3 organisations and 7 cadres: 3 at county level (县处级), 4 at township level (乡科级)
    totals = summary(engine)
    assert (totals.organizations, totals.cadres, totals.by_rank) == (
        3, 7, {"county": 3, "township": 4})
    assert totals.sentence_zh() == ("对3个党组织和7名领导干部进行问责，"
                                    "其中县处级干部3人、乡科级干部4人")
    assert len(records(engine, issue=ids["5"])) == 1
    assert not proposals(engine)  # the proposal was decided
    # And every history is an intact chain
    assert verify(engine).ok
