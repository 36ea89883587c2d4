"""Supervision commands: `rectify progress missing`, `rectify accountability …` (问责 records
and proposals) and `rectify lookback start` (回头看 campaigns)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from workflow.cli.common import (
    ActorName,
    JsonOption,
    RankOption,
    RoleName,
    console,
    errors,
    make_actor,
    make_engine,
    parse_date,
    print_json,
    print_table,
    reports_errors,
)
from workflow.clock import local
from workflow.errors import InputError

progress_app = typer.Typer(help="Monthly progress reports (月度进展).", no_args_is_help=True)


@progress_app.command("missing")
@reports_errors
def progress_missing(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    flag: Annotated[bool, typer.Option("--flag", help="Mark them missing: history event, "
                                       "reminder to the unit, yellow light (what the monthly "
                                       "job does on the 1st).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Issues that owe a progress report for a month and have none."""
    from workflow.supervision.monthly_reports import flag_missing, owing

    engine = make_engine()
    rows = [{"id": i.id, "number": i.number, "title": i.title, "unit": i.unit or i.lead_unit}
            for i in owing(engine, month)]
    marked = flag_missing(engine, month) if flag else None
    if as_json:
        print_json({"month": month, "owing": rows, "marked": marked})
        return
    print_table(f"{month} 未报送整改进展", ("id", "序号", "问题", "责任单位"),
                [(r["id"], r["number"] or "", r["title"], r["unit"] or "") for r in rows])
    if marked is not None:
        console.print(f"{marked} issue(s) marked missing")


accountability_app = typer.Typer(help="Accountability (问责): records and proposals.",
                                 no_args_is_help=True)


def _new_accountability(subject: str, subject_type: str, methods: list[str], decided_by: str,
                        decided_on: str, issues: list[int], rank: str | None,
                        unit: str | None, source: str | None, disclosed: bool,
                        note: str | None) -> Any:
    from workflow.supervision.accountability import NewAccountability

    day = parse_date(decided_on, "--date")
    assert day is not None
    return NewAccountability(subject_type=subject_type, subject=subject, methods=methods,
                             decided_by=decided_by, decided_on=day, issues=issues, rank=rank,
                             unit=unit, source=source, disclosed=disclosed, note=note)


SubjectOption = Annotated[str, typer.Option("--subject", help="问责对象: the organisation or "
                                            "the cadre's name.")]
TypeOption = Annotated[str, typer.Option("--type", help="对象类型: 党组织 (organization) or "
                                         "领导干部 (cadre).")]
MethodOption = Annotated[list[str], typer.Option("--method", help="问责方式, repeatable: 检查 "
                                                 "通报 改组 诫勉 组织调整 纪律处分 移送司法.")]
DecidedByOption = Annotated[str, typer.Option("--decided-by", help="决定机关.")]
DateOption = Annotated[str, typer.Option("--date", help="决定日期, YYYY-MM-DD.")]
UnitOption = Annotated[str | None, typer.Option(help="The subject's unit.")]
SourceOption = Annotated[str | None, typer.Option(help="移交问题清单 number.")]
DisclosedOption = Annotated[bool, typer.Option("--disclosed", help="是否公开: published.")]
NoteOption = Annotated[str | None, typer.Option(help="Note kept with the record.")]


@accountability_app.command("add")
@reports_errors
def accountability_add(
    subject: SubjectOption, subject_type: TypeOption, methods: MethodOption,
    decided_by: DecidedByOption, decided_on: DateOption,
    issues: Annotated[list[int], typer.Option("--issue", help="关联问题: issue id, "
                                              "repeatable.")],
    rank: RankOption = None, unit: UnitOption = None, source: SourceOption = None,
    disclosed: DisclosedOption = False, note: NoteOption = None,
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Record an accountability decision (office or discipline); each linked issue's
    history notes it."""
    from workflow.supervision.accountability import record

    new = _new_accountability(subject, subject_type, methods, decided_by, decided_on, issues,
                              rank, unit, source, disclosed, note)
    record_id = record(make_engine(), new, actor=make_actor(actor, role))
    console.print(f"accountability record {record_id} added")


@accountability_app.command("adopt")
@reports_errors
def accountability_adopt(
    proposal: Annotated[int, typer.Argument(help="Proposal id.")],
    subject: SubjectOption, subject_type: TypeOption, methods: MethodOption,
    decided_by: DecidedByOption, decided_on: DateOption,
    issues: Annotated[list[int] | None, typer.Option("--issue", help="Further linked "
                                                     "issues.")] = None,
    rank: RankOption = None, unit: UnitOption = None, source: SourceOption = None,
    disclosed: DisclosedOption = False, note: NoteOption = None,
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Adopt an escalation proposal (问责建议) as an accountability record (office only)."""
    from workflow.supervision.accountability import record

    new = _new_accountability(subject, subject_type, methods, decided_by, decided_on,
                              issues or [], rank, unit, source, disclosed, note)
    record_id = record(make_engine(), new, actor=make_actor(actor, role), proposal_id=proposal)
    console.print(f"proposal {proposal} adopted as accountability record {record_id}")


@accountability_app.command("dismiss")
@reports_errors
def accountability_dismiss(
    proposal: Annotated[int, typer.Argument(help="Proposal id.")],
    reason: Annotated[str, typer.Option(help="Why no accountability follows.")],
    actor: ActorName = None, role: RoleName = None,
) -> None:
    """Close an escalation proposal without accountability, with a reason (office only)."""
    from workflow.supervision.accountability import dismiss

    dismiss(make_engine(), proposal, actor=make_actor(actor, role), reason=reason)
    console.print(f"proposal {proposal} dismissed")


@accountability_app.command("proposals")
@reports_errors
def accountability_proposals(
    status: Annotated[str | None, typer.Option(help="open, adopted, dismissed; all when "
                                               "omitted with --all.")] = "open",
    show_all: Annotated[bool, typer.Option("--all", help="Every proposal.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Escalation proposals (问责建议) waiting for the office's decision."""
    from workflow.supervision.accountability import PROPOSAL_STATUSES, proposals

    if status not in (None, *PROPOSAL_STATUSES):
        raise InputError(f"--status {status!r} is not a proposal status; statuses: "
                         f"{', '.join(PROPOSAL_STATUSES)}")
    rows = [{"id": p.id, "issue_id": p.issue_id, "reason": p.reason, "status": p.status,
             "opened_at": local(p.opened_at).isoformat(timespec="minutes"),
             "decided_by": p.decided_by}
            for p in proposals(make_engine(), status=None if show_all else status)]
    if as_json:
        print_json(rows)
        return
    print_table("问责建议 accountability proposals",
                ("id", "issue", "reason", "status", "opened (Asia/Shanghai)", "decided by"),
                [(r["id"], r["issue_id"], r["reason"], r["status"], r["opened_at"][:16],
                  r["decided_by"] or "") for r in rows])


@accountability_app.command("list")
@reports_errors
def accountability_list(
    issue: Annotated[int | None, typer.Option(help="Only records linked to this issue.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Accountability records (问责情况), with the summary sentence."""
    from workflow.supervision.accountability import records, summary

    engine = make_engine()
    rows = records(engine, issue=issue)
    if as_json:
        print_json(rows)
        return
    print_table("问责情况 accountability records",
                ("id", "对象类型", "问责对象", "单位", "职级", "问责方式", "决定机关", "决定日期",
                 "关联问题", "公开"),
                [(r["id"], r["subject_type_label"], r["subject"], r["unit"] or "",
                  r["rank_label"] or "", "、".join(r["method_labels"]), r["decided_by"],
                  r["decided_on"], ", ".join(map(str, r["issues"])),
                  "是" if r["disclosed"] else "否") for r in rows])
    if issue is None:
        console.print(summary(engine).sentence_zh())


@accountability_app.command("summary")
@reports_errors
def accountability_summary(as_json: JsonOption = False) -> None:
    """Organisations and cadres held accountable, cadres by rank."""
    from workflow.supervision.accountability import summary

    result = summary(make_engine())
    if as_json:
        print_json(result.as_dict())
    else:
        console.print(result.sentence_zh())


lookback_app = typer.Typer(help="Look-back reviews (回头看).", no_args_is_help=True)


@lookback_app.command("start")
@reports_errors
def lookback_start(
    plan: Annotated[str, typer.Option(help="整改方案 whose issues are drawn.")],
    sample: Annotated[str, typer.Option(help="Share of the eligible issues, e.g. 30%.")] = "100%",
    seed: Annotated[int | None, typer.Option(help="Seed of the draw (repeat a campaign's "
                                             "draw); random when omitted.")] = None,
    trigger: Annotated[str, typer.Option(help="Trigger that starts a look-back.")] =
    "start_follow_up",
    actor: ActorName = None,
    role: RoleName = None,
    as_json: JsonOption = False,
) -> None:
    """A look-back campaign (回头看专项): start the look-back on a random sample of the
    plan's cleared issues; the draw's seed is printed so it can be repeated."""
    from workflow.supervision.lookback import parse_sample, start_campaign

    campaign = start_campaign(make_engine(), plan, actor=make_actor(actor, role),
                              percent=parse_sample(sample), seed=seed, trigger=trigger)
    if as_json:
        print_json(campaign.as_dict())
    else:
        console.print(f"{campaign.id}: drew {len(campaign.started) + len(campaign.failed)} of "
                      f"{campaign.eligible} eligible issue(s) of {plan} ({sample}, seed "
                      f"{campaign.seed}); started {len(campaign.started)}: "
                      f"{', '.join(map(str, campaign.started)) or 'none'}")
        for failure in campaign.failed:
            errors.print(f"issue {failure['issue_id']}: {failure['error']}", style="red",
                         markup=False, highlight=False)
    if campaign.failed:
        raise typer.Exit(1)
