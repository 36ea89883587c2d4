"""Golden notices: the exact dedupe key, subject and body of every kind of notification the
engine queues, driven through the real producers (the timer sweep, the monthly job, a leader's
instruction, the look-back job, the daily digest), on SQLite and PostgreSQL.

The literals were copied from what the code produced. A change to the notification path must
leave every one of them byte-identical: a changed dedupe key would send a notice twice, and a
changed text is a change the officials reading it see.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from sqlalchemy import select

from tests.support import LEADER, OFFICE, fire_valid, new_issue
from workflow.clock import SHANGHAI, FrozenClock, local
from workflow.config import PROJECT_ROOT, RunSettings
from workflow.issues.engine import Engine
from workflow.issues.sweep import sweep
from workflow.jobs import Runtime, daily_digest, monthly_report
from workflow.models import Contact, Notification, Timer
from workflow.notify.channels import ChannelRegistry, LogChannel
from workflow.spec.definitions import load_file, parse_duration
from workflow.spec.registry import load_definitions
from workflow.supervision.instructions import instruct
from workflow.supervision.lookback import queue_notices

DEADLINE_DAY = date(2026, 3, 31)
DEADLINE = datetime(2026, 3, 31, 23, 59, 59, tzinfo=SHANGHAI)
# Longer than the 40 characters a subject shows of a title.
LONG_TITLE = ("部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，"
              "城区主次干道机械化清扫率偏低，群众反映强烈")
LEADER_MAIL = "wangfushizhang@example.gov.cn"


class Row(NamedTuple):
    """One queued outbox row, as the golden literals spell it."""

    dedupe_key: str
    kind: str
    level: str
    recipient: str
    channel: str
    address: str
    status: str
    subject: str
    body: str


@pytest.fixture(autouse=True)
def _default_office_and_no_links(monkeypatch: pytest.MonkeyPatch) -> None:
    # The literals are the texts of the defaults: the office 整改办 and no base URL for links.
    monkeypatch.delenv("RECTIFY_OFFICE_NAME", raising=False)
    monkeypatch.delenv("RECTIFY_BASE_URL", raising=False)


def at_nine(day: date) -> datetime:
    """09:00 Asia/Shanghai on ``day``: when notices counted in days fall due by default."""
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=SHANGHAI)


def runtime_of(engine: Engine) -> Runtime:
    return Runtime(engine, ChannelRegistry([LogChannel()]), RunSettings())


def started_issue(engine: Engine, evidence: Path, **facts: Any) -> int:
    """Issue no. 12 with a long title, due 2026-03-31, in progress."""
    issue_id = new_issue(engine, number="12", title=LONG_TITLE, deadline=DEADLINE_DAY, **facts)
    fire_valid(engine, issue_id, "start", evidence)
    return issue_id


def leader_reached_by_mail(engine: Engine) -> None:
    with engine.db.session(write=True) as session:
        session.add(Contact(name=LEADER.name, channel="email", address=LEADER_MAIL, options={}))


def queued(engine: Engine) -> list[Row]:
    """Every outbox row, in the order it was queued."""
    with engine.db.session() as session:
        return [Row(n.dedupe_key, n.kind, n.level, n.recipient, n.channel, n.address, n.status,
                    n.subject, n.body)
                for n in session.scalars(select(Notification).order_by(Notification.id))]


# --- the texts ------------------------------------------------------------------------------

REMINDER_7_DAYS = """\
催办提醒

下列整改问题距整改时限还有 7 天，请责任单位抓紧推进整改，按时报送整改进展和佐证材料。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
预警状态：蓝灯（提醒）

整改办
"""

RED = """\
督办通知（红灯督办）

下列整改问题已超过整改时限 1 天，仍未完成整改，现予督办。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
预警状态：红灯（督办）
逾期天数：1 天

请责任单位立即组织整改，于3个工作日内书面报告逾期原因、整改措施和完成时限。

整改办
"""

KEY_SUPERVISION = """\
督办通知（重点督办）

下列整改问题已超过整改时限 8 天，仍未完成整改，现予督办。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
预警状态：红灯（督办）
逾期天数：8 天

该问题已列为重点督办事项。请责任领导亲自过问，责任单位制定专项整改方案，每周报送整改进展，限期整改到位。

整改办
"""

ACCOUNTABILITY = """\
督办通知（问责建议）

下列整改问题已超过整改时限 31 天，仍未完成整改，现予督办。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
预警状态：红灯（督办）
逾期天数：31 天

该问题逾期未整改，已形成问责建议，提请整改办研究处理。

整改办
"""

MILESTONE_REMINDER = """\
催办提醒

下列整改问题距「方案编制」节点时限还有 7 天，请责任单位抓紧推进整改，按时报送整改进展和佐证材料。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
「方案编制」节点时限：2026年2月24日
预警状态：绿灯（正常）

整改办
"""

MILESTONE_MISSED = """\
督办通知（阶段性节点「方案编制」未按期完成）

下列整改问题已超过「方案编制」节点时限 1 天，该阶段任务仍未完成，现予督办。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
「方案编制」节点时限：2026年2月24日
预警状态：黄灯（预警）
逾期天数：1 天

请责任单位立即组织整改，于3个工作日内书面报告逾期原因、整改措施和完成时限。

整改办
"""

MISSING_REPORT = """\
相山区人民政府：

问题“部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈”2026年1月的整改进展未按时报送，已亮黄灯预警。请立即补报整改进展。

整改办
"""

MONTHLY_PROGRESS = """\
截至2026年2月1日，1个整改任务，已完成整改0个，其余1个正在推进整改。

按状态：
  整改中：1个
"""

INSTRUCTION = """\
王副市长批示：

务必按期整改到位，每周报送进展

问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
请认真落实，并将落实情况报整改办。

整改办
"""

LOOKBACK = """\
回头看提醒

下列整改问题于2026年1月5日已销号，至2026年7月5日已满6个月，请按照"回头看"要求组织现场复查，核实整改成效是否巩固、问题有无反弹。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长

整改办
"""

HELD_FIRST = """\
催办提醒

下列整改问题距整改时限还有 4 天，请责任单位抓紧推进整改，按时报送整改进展和佐证材料。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
预警状态：蓝灯（提醒）

整改办
"""

HELD_SECOND = """\
催办提醒

下列整改问题距整改时限还有 6 天，请责任单位抓紧推进整改，按时报送整改进展和佐证材料。

问题序号：13
问题：城区餐饮油烟直排
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年4月2日
预警状态：蓝灯（提醒）

整改办
"""

DIGEST = """\
相山区人民政府：

截至2026年3月27日，以下 2 项整改任务需要关注：

1. 【催办提醒】距整改时限还有4天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…
2. 【催办提醒】距整改时限还有6天：城区餐饮油烟直排

整改办
"""  # noqa: E501 (a line of the text as sent)


# --- the producers --------------------------------------------------------------------------

def test_sweep_reminder_and_each_escalation_notice_of_the_deadline(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issue 12 in progress, due 2026-03-31, its supervising leader reached by e-mail
    leader_reached_by_mail(engine)
    started_issue(engine, evidence_file)

    # When the sweep runs at 09:00 on the days the notices fall due: 7 days before the
    # deadline's day, and 1, 8 and 31 days after it
    for moment in (at_nine(DEADLINE_DAY - timedelta(days=7)),
                   *(at_nine(DEADLINE_DAY + timedelta(days=n)) for n in (1, 8, 31))):
        clock.set(moment)
        sweep(engine)

    # Then the unit got the reminder; the leader and the office the red notice and 重点督办;
    # the office the 问责建议
    assert queued(engine) == [
        Row("1:4:reminder:7 days:相山区人民政府:log:相山区人民政府", "reminder",
            "reminder:7 days", "相山区人民政府", "log", "相山区人民政府", "pending",
            "【催办提醒】距整改时限还有7天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            REMINDER_7_DAYS),
        Row("1:7:red:王副市长:email:wangfushizhang@example.gov.cn", "notice", "red", "王副市长",
            "email", "wangfushizhang@example.gov.cn", "pending",
            "【督办通知·红灯督办】已逾期1天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            RED),
        Row("1:7:red:整改办:log:整改办", "notice", "red", "整改办", "log", "整改办", "pending",
            "【督办通知·红灯督办】已逾期1天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            RED),
        Row("1:8:key_supervision:王副市长:email:wangfushizhang@example.gov.cn", "notice",
            "key_supervision", "王副市长", "email", "wangfushizhang@example.gov.cn", "pending",
            "【督办通知·重点督办】已逾期8天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            KEY_SUPERVISION),
        Row("1:8:key_supervision:整改办:log:整改办", "notice", "key_supervision", "整改办", "log",
            "整改办", "pending",
            "【督办通知·重点督办】已逾期8天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            KEY_SUPERVISION),
        Row("1:9:accountability:整改办:log:整改办", "notice", "accountability", "整改办", "log",
            "整改办", "pending",
            "【督办通知·问责建议】已逾期31天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            ACCOUNTABILITY),
    ]


def test_sweep_milestone_reminder_and_missed_milestone_notice(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issue 12 whose first milestone 方案编制 is due 2026-02-24
    leader_reached_by_mail(engine)
    issue_id = started_issue(engine, evidence_file)
    engine.set_milestones(issue_id, [("方案编制", parse_duration("10 working days")),
                                     ("工程实施", parse_duration("35 days"))], actor=OFFICE)

    # When the sweep runs 7 days before the milestone and the day after it
    for moment in (datetime(2026, 2, 17, 9, 0, tzinfo=SHANGHAI),
                   datetime(2026, 2, 25, 9, 0, tzinfo=SHANGHAI)):
        clock.set(moment)
        sweep(engine)

    # Then the unit was reminded, and the unit and the leader told it was missed
    assert queued(engine) == [
        Row("1:10:方案编制|reminder:7 days:相山区人民政府:log:相山区人民政府", "reminder",
            "方案编制|reminder:7 days", "相山区人民政府", "log", "相山区人民政府", "pending",
            "【催办提醒】距「方案编制」节点时限还有7天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            MILESTONE_REMINDER),
        Row("1:13:方案编制|missed:相山区人民政府:log:相山区人民政府", "notice",
            "方案编制|missed", "相山区人民政府", "log", "相山区人民政府", "pending",
            "【督办通知·阶段性节点「方案编制」未按期完成】已逾期1天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            MILESTONE_MISSED),
        Row("1:13:方案编制|missed:王副市长:email:wangfushizhang@example.gov.cn", "notice",
            "方案编制|missed", "王副市长", "email", "wangfushizhang@example.gov.cn", "pending",
            "【督办通知·阶段性节点「方案编制」未按期完成】已逾期1天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            MILESTONE_MISSED),
    ]


def test_monthly_job_warns_of_the_missing_report_and_sends_the_office_the_figures(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issue 12 in progress since January, with no January progress report
    started_issue(engine, evidence_file)

    # When the monthly job runs on 1 February
    clock.set(datetime(2026, 2, 1, 8, 30, tzinfo=SHANGHAI))
    monthly_report(runtime_of(engine))

    # Then the unit was warned of the missing report, and the office got January's figures
    assert queued(engine) == [
        Row("missing-report:1:2026-01:相山区人民政府:log:相山区人民政府", "notice",
            "missing_report", "相山区人民政府", "log", "相山区人民政府", "pending",
            "【预警】2026年1月整改进展未报送：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低",
            MISSING_REPORT),
        Row("report:monthly:2026-01:整改办:log:整改办", "report", "monthly", "整改办", "log",
            "整改办", "pending", "【月度调度】2026年1月整改进展", MONTHLY_PROGRESS),
    ]


def test_leader_instruction_goes_to_each_unit_of_the_issue(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issue 12 worked by two units
    issue_id = started_issue(engine, evidence_file,
                             responsible_units=["相山区人民政府", "市住房城乡建设局"])

    # When its supervising leader instructs it three days later
    clock.advance(timedelta(days=3))
    instruct(engine, issue_id, "务必按期整改到位，每周报送进展", actor=LEADER)

    # Then each unit got the instruction, keyed by the instruction event's hash (keyed
    # with the tests' history key since history hashes are HMAC-SHA256)
    assert queued(engine) == [
        Row("instruct:1:095444144ac0455b:市住房城乡建设局:log:市住房城乡建设局", "notice",
            "instruction", "市住房城乡建设局", "log", "市住房城乡建设局", "pending",
            "【领导批示】部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低",
            INSTRUCTION),
        Row("instruct:1:095444144ac0455b:相山区人民政府:log:相山区人民政府", "notice",
            "instruction", "相山区人民政府", "log", "相山区人民政府", "pending",
            "【领导批示】部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低",
            INSTRUCTION),
    ]


def test_lookback_mark_reminds_the_office(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issue 12 cleared on 2026-01-05
    issue_id = new_issue(engine, number="12", title=LONG_TITLE, deadline=DEADLINE_DAY)
    for trigger in ("start", "apply_acceptance", "clear"):
        fire_valid(engine, issue_id, trigger, evidence_file)

    # When the look-back runs on the 6-month mark
    clock.set(datetime(2026, 7, 5, 8, 0, tzinfo=SHANGHAI))
    queue_notices(engine, [issue_id], now=clock.now())

    # Then the office was reminded to organise the look-back
    assert queued(engine) == [
        Row("lookback:1:2026-01-05T01:00:00+00:00:6:整改办:log:整改办", "lookback",
            "lookback:6 months", "整改办", "log", "整改办", "pending",
            "【回头看提醒】销号满6个月：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            LOOKBACK),
    ]


def test_held_reminders_are_folded_into_the_daily_digest(
        engine: Engine, clock: FrozenClock, evidence_file: Path, tmp_path: Path) -> None:
    # Given a definition that holds reminders for the digest, and two issues of one unit on it
    source = (PROJECT_ROOT / "definitions" / "rectification-v1.yaml").read_text(encoding="utf-8")
    holding = tmp_path / "rectification-digest.yaml"
    holding.write_text(source.replace("version: 1", "version: 9").replace(
        "digest_reminders: false", "digest_reminders: true"), encoding="utf-8")
    load_definitions(engine.db, [load_file(holding)], now=clock.now(), by=None)
    first = new_issue(engine, version=9, number="12", title=LONG_TITLE, deadline=DEADLINE_DAY)
    second = new_issue(engine, version=9, number="13", title="城区餐饮油烟直排",
                       deadline=date(2026, 4, 2))
    for issue_id in (first, second):
        fire_valid(engine, issue_id, "start", evidence_file)

    # When the sweep runs on 27 March
    clock.set(datetime(2026, 3, 27, 9, 0, tzinfo=SHANGHAI))
    sweep(engine)

    # Then both reminders are held for the digest
    held = [
        Row("1:7:reminder:7 days:相山区人民政府:log:相山区人民政府", "reminder",
            "reminder:7 days", "相山区人民政府", "log", "相山区人民政府", "digest",
            "【催办提醒】距整改时限还有4天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            HELD_FIRST),
        Row("2:13:reminder:7 days:相山区人民政府:log:相山区人民政府", "reminder",
            "reminder:7 days", "相山区人民政府", "log", "相山区人民政府", "digest",
            "【催办提醒】距整改时限还有6天：城区餐饮油烟直排", HELD_SECOND),
    ]
    assert queued(engine) == held

    # When the daily digest runs
    daily_digest(runtime_of(engine))

    # Then the unit has one digest listing both, and the held rows are folded into it
    assert queued(engine) == [
        *(row._replace(status="digested") for row in held),
        Row("digest:相山区人民政府:log:相山区人民政府:2026-03-27", "digest", "digest",
            "相山区人民政府", "log", "相山区人民政府", "pending",
            "【每日汇总】2026年3月27日催办提醒2项", DIGEST),
    ]


# --- the reminders of every state of each shipped definition --------------------------------

ACCEPTANCE_UNIT = "市生态环境局"


def reminders_through_the_states(engine: Engine, clock: FrozenClock, evidence: Path, *,
                                 version: int) -> list[Row]:
    """Issue 12 of rectification@``version`` created Monday 2026-01-05 09:00, swept once in
    each state that has a deadline: 已交办 (3 working days, due Thursday 01-08), 整改中 (the
    issue's 整改时限 2026-03-31), 待验收 (30 days from the application on 03-25)."""
    issue_id = new_issue(engine, version=version, number="12", title=LONG_TITLE,
                         deadline=DEADLINE_DAY, acceptance_unit=ACCEPTANCE_UNIT)
    clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=SHANGHAI))
    sweep(engine)
    clock.set(datetime(2026, 1, 6, 10, 0, tzinfo=SHANGHAI))
    fire_valid(engine, issue_id, "start", evidence)
    clock.set(datetime(2026, 3, 24, 9, 0, tzinfo=SHANGHAI))
    sweep(engine)
    clock.set(datetime(2026, 3, 25, 10, 0, tzinfo=SHANGHAI))
    fire_valid(engine, issue_id, "apply_acceptance", evidence)
    if version == 2:  # the site check passed the same hour: swept at the 公示 step
        fire_valid(engine, issue_id, "site_check", evidence)
    clock.set(datetime(2026, 4, 17, 9, 0, tzinfo=SHANGHAI))
    sweep(engine)
    return queued(engine)


ASSIGNED_REMINDER = """\
催办提醒

下列整改问题距开始整改时限还有 2 个工作日，请责任单位按时办理「开始整改」。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
开始整改时限：2026年1月8日
预警状态：蓝灯（提醒）

整改办
"""

ACCEPTANCE_REMINDER = """\
催办提醒

下列整改问题距验收销号时限还有 7 天，请验收单位按时组织现场核查和验收，出具验收意见。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
验收单位：市生态环境局
责任领导：王副市长
整改时限：2026年3月31日
验收销号时限：2026年4月24日
预警状态：蓝灯（提醒）

整改办
"""


@pytest.mark.parametrize("version", [1, 2])
def test_each_state_reminds_the_right_party_of_its_own_deadline(
        engine: Engine, clock: FrozenClock, evidence_file: Path, version: int) -> None:
    # Given issue 12 on a shipped definition, swept once in each state with a deadline
    rows = reminders_through_the_states(engine, clock, evidence_file, version=version)

    # Then 已交办 reminds the unit of the start window in working days (the 整改时限 shown
    # apart), 整改中 reminds the unit of the 整改时限, and 待验收 reminds the acceptance unit
    # of the acceptance window; at 09:00 each time (on @2 the site check planned the
    # acceptance timers again)
    accepting = {1: 10, 2: 13}[version]
    assert rows == [
        Row("1:2:reminder:3 days:相山区人民政府:log:相山区人民政府", "reminder",
            "reminder:3 days", "相山区人民政府", "log", "相山区人民政府", "pending",
            "【催办提醒】距开始整改时限还有2个工作日：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            ASSIGNED_REMINDER),
        Row("1:4:reminder:7 days:相山区人民政府:log:相山区人民政府", "reminder",
            "reminder:7 days", "相山区人民政府", "log", "相山区人民政府", "pending",
            "【催办提醒】距整改时限还有7天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            REMINDER_7_DAYS),
        Row(f"1:{accepting}:reminder:7 days:{ACCEPTANCE_UNIT}:log:{ACCEPTANCE_UNIT}", "reminder",
            "reminder:7 days", ACCEPTANCE_UNIT, "log", ACCEPTANCE_UNIT, "pending",
            "【催办提醒】距验收销号时限还有7天：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…",
            ACCEPTANCE_REMINDER),
    ]
    # And no state's reminder fell due at any other time than 09:00 Asia/Shanghai
    with engine.db.session() as session:
        times = {local(at).strftime("%H:%M:%S") for at in session.scalars(
            select(Timer.due_at).where(Timer.kind == "reminder"))}
    assert times == {"09:00:00"}


def test_day_counts_are_shanghai_calendar_days_never_rounded_up(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given an issue due 2026-12-10 whose 7-day reminder (12-03 09:00) was not sent in time
    issue_id = new_issue(engine, number="12", title=LONG_TITLE, deadline=date(2026, 12, 10))
    fire_valid(engine, issue_id, "start", evidence_file)

    # When the sweep catches up half an hour after midnight on 12-04 in Shanghai (still
    # 12-03 in UTC, and 6 days 23.5 hours before the deadline)
    clock.set(datetime(2026, 12, 4, 0, 30, tzinfo=SHANGHAI))
    sweep(engine)

    # Then the reminder says 6 days: 12-04 to 12-10 in Shanghai's calendar
    [row] = queued(engine)
    assert row.subject == ("【催办提醒】距整改时限还有6天：部分建筑工地扬尘防控不到位，"
                           "渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…")
    assert "距整改时限还有 6 天" in row.body and "整改时限：2026年12月10日" in row.body


CATCH_UP = """\
督办通知（问责建议，含红灯督办、重点督办）

下列整改问题已超过整改时限 40 天，仍未完成整改，现予督办。

问题序号：12
问题：部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏低，群众反映强烈
责任单位：相山区人民政府
责任领导：王副市长
整改时限：2026年3月31日
预警状态：红灯（督办）
逾期天数：40 天

此前未按时发出的红灯督办、重点督办通知，由本通知一并送达。
该问题已列为重点督办事项。请责任领导亲自过问，责任单位制定专项整改方案，每周报送整改进展，限期整改到位。
该问题逾期未整改，已形成问责建议，提请整改办研究处理。

整改办
"""


def test_a_catch_up_notice_names_the_levels_it_covers_and_reaches_their_recipients(
        engine: Engine, clock: FrozenClock, evidence_file: Path) -> None:
    # Given issue 12 due 2026-03-31 and no sweep until 40 days past it
    leader_reached_by_mail(engine)
    started_issue(engine, evidence_file)
    clock.set(at_nine(DEADLINE_DAY + timedelta(days=40)))

    # When the sweep catches up
    sweep(engine)

    # Then the one 问责建议 notice also goes to the leader, owed the red notice and 重点督办,
    # and says it covers them
    subject = ("【督办通知·问责建议，含红灯督办、重点督办】已逾期40天："
               "部分建筑工地扬尘防控不到位，渣土运输车辆未密闭运输，城区主次干道机械化清扫率偏…")
    assert queued(engine) == [
        Row("1:9:accountability:王副市长:email:wangfushizhang@example.gov.cn", "notice",
            "accountability", "王副市长", "email", "wangfushizhang@example.gov.cn", "pending",
            subject, CATCH_UP),
        Row("1:9:accountability:整改办:log:整改办", "notice", "accountability", "整改办", "log",
            "整改办", "pending", subject, CATCH_UP),
    ]
