"""JSON-ready views of issues and events for the CLI, exports and reports, and the public
projection of an issue (信息公开: ``policy.PUBLIC_FIELDS`` only); times in Asia/Shanghai."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from workflow.clock import local
from workflow.db import Database
from workflow.errors import OutOfScopeError
from workflow.issues import policy
from workflow.issues.policy import PUBLIC_FIELDS
from workflow.issues.queries import BEHIND_STATUSES, cleared_dates, milestones
from workflow.models import Issue, IssueEvent, Milestone
from workflow.org.actors import Actor
from workflow.spec.machine import ANSWERS
from workflow.spec.registry import Registry
from workflow.spec.timers import LIGHT_LABELS, light_of
from workflow.spec.workdays import WorkCalendar


def days_overdue(issue: Issue, registry: Registry, now: datetime) -> int:
    """Whole days past the deadline (0 when not overdue or the rectification is completed)."""
    if issue.deadline_at is None or issue.deadline_at >= now:
        return 0
    state = registry.get(issue.definition_id, issue.definition_version).definition.state(
        issue.state)
    if state.completed or state.terminal:
        return 0
    return (now - issue.deadline_at).days + 1


def issue_view(db: Database, issue: Issue, registry: Registry, now: datetime) -> dict[str, Any]:
    """A JSON-ready view of an issue, with labels and times in Asia/Shanghai."""
    return _view(issue, registry, now, milestones(db, issue.id))


def issue_views(db: Database, issues: list[Issue], registry: Registry,
                now: datetime) -> list[dict[str, Any]]:
    """``issue_view`` of many issues, their milestones read in a few queries (ledger export,
    disclosure list)."""
    stages: dict[int, list[Milestone]] = {}
    ids = [issue.id for issue in issues]
    with db.session() as session:
        for start in range(0, len(ids), 500):
            for milestone in session.scalars(
                    select(Milestone).where(Milestone.issue_id.in_(ids[start:start + 500]))
                    .order_by(Milestone.due_at, Milestone.id)):
                stages.setdefault(milestone.issue_id, []).append(milestone)
    return [_view(issue, registry, now, stages.get(issue.id, [])) for issue in issues]


def _view(issue: Issue, registry: Registry, now: datetime,
          stages: list[Milestone]) -> dict[str, Any]:
    compiled = registry.get(issue.definition_id, issue.definition_version)
    state = compiled.definition.state(issue.state)
    light = light_of(due_at=issue.due_at, completed=state.completed or state.terminal,
                     notices=compiled.definition.notices, now=now,
                     milestone_missed=any(m.reached_at is None and m.due_at < now
                                          for m in stages),
                     behind_schedule=issue.schedule_status in BEHIND_STATUSES)
    return {
        "id": issue.id, "plan": issue.plan, "number": issue.number, "category": issue.category,
        "title": issue.title, "target": issue.target, "measures": issue.measures,
        "leader": issue.leader, "lead_unit": issue.lead_unit, "unit": issue.unit,
        "responsible_units": list(issue.responsible_units or []),
        "cooperating_units": list(issue.cooperating_units or []),
        "acceptance_unit": issue.acceptance_unit,
        "accepted_by": issue.accepted_by, "accepted_unit": issue.accepted_unit,
        "deadline": local(issue.deadline_at).date().isoformat() if issue.deadline_at else None,
        "long_term": issue.long_term, "state": issue.state, "state_label_zh": state.label_zh,
        "state_label_en": state.label_en, "version": issue.version,
        "definition": compiled.definition.ref, "days_overdue": days_overdue(issue, registry, now),
        "allowed_triggers": compiled.allowed_triggers(issue.state, stage=issue.stage),
        "light": light, "light_label_zh": LIGHT_LABELS[light][0],
        "light_label_en": LIGHT_LABELS[light][1],
        "due": local(issue.due_at).isoformat() if issue.due_at else None,
        "due_provisional": issue.due_provisional, "escalation_level": issue.escalation_level,
        "key_supervision": issue.key_supervision, "schedule_status": issue.schedule_status,
        "stage": issue.stage,
        "stage_label_zh": stage.label_zh if (stage := state.stage(issue.stage)) else None,
        "stage_label_en": stage.label_en if stage else None,
        "stage_until": local(issue.stage_until).isoformat() if issue.stage_until else None,
        "parent_id": issue.parent_id,
        "milestones": [{"name": m.name, "due": local(m.due_at).date().isoformat(),
                        "reached_at": local(m.reached_at).isoformat() if m.reached_at else None,
                        "missed": m.reached_at is None and m.due_at < now} for m in stages],
        "created_at": local(issue.created_at).isoformat(),
        "updated_at": local(issue.updated_at).isoformat(),
    }


def event_labels(registry: Registry, definition_id: str,
                 version: int) -> tuple[dict[str, str], dict[str, str]]:
    """The Chinese labels of a definition version's states and of the history's verbs (its
    triggers and the engine's own events)."""
    definition = registry.get(definition_id, version).definition
    states = {state.key: state.label_zh for state in definition.states}
    verbs = {spec.trigger: spec.label_zh for spec in definition.transitions}
    verbs.update(create="交办", remind="催办提醒", escalate="督办升级", skip="跳过过期提醒",
                 recompute_deadline="重算时限", set_milestones="倒排工期",
                 reach_milestone="完成阶段节点", progress="月度进展", instruct="领导批示",
                 missing_report="月度进展未报送", split="分解子任务", migrate="迁移流程版本",
                 accountability="记录问责", dismiss_proposal="不予问责", chase="催办")
    return states, verbs


def event_view(event: IssueEvent) -> dict[str, Any]:
    return {
        "seq": event.seq, "at": local(event.at).isoformat(), "actor": event.actor,
        "role": event.role, "trigger": event.trigger, "from": event.from_state,
        "to": event.to_state, "comment": event.comment, "payload": event.payload,
        "prev_hash": event.prev_hash, "hash": event.hash,
    }


def public_view(db: Database, issue: Issue, registry: Registry,
                now: datetime) -> dict[str, Any]:
    """The disclosed fields of an issue (序号, 问题, 整改措施, 责任单位, 整改时限, 整改状态,
    销号日期) and nothing else."""
    return public_views(db, [issue], registry, now)[0]


def public_views(db: Database, issues: list[Issue], registry: Registry,
                 now: datetime) -> list[dict[str, Any]]:
    """``public_view`` of many issues in a few queries."""
    cleared = cleared_dates(db, registry, issues)
    views = []
    for issue, view in zip(issues, issue_views(db, issues, registry, now), strict=True):
        view["cleared_on"] = cleared.get(issue.id)
        views.append({key: view[key] for key in PUBLIC_FIELDS})
    return views


def actions_for(actor: Actor, issue: Issue, registry: Registry, *,
                sectors: frozenset[str]) -> list[dict[str, Any]]:
    """The triggers ``actor`` may fire on ``issue`` now (role, scope and step allowing), each
    with its labels and what it requires: a comment, how many evidence files, the checklist
    items (each answered 是 or 否 with a note), the fields, every sub-task done, and the
    time a step's period ends when it must be over first."""
    try:
        policy.check_act_scope(actor, issue, issue_id=issue.id, action="act",
                               sectors=sectors)
    except OutOfScopeError:
        return []
    compiled = registry.get(issue.definition_id, issue.definition_version)
    found = []
    for trigger in compiled.allowed_triggers(issue.state, actor.role, stage=issue.stage):
        spec = compiled.transition(issue.state, trigger)
        assert spec is not None
        requires = spec.requires
        checklist = compiled.definition.checklists.get(requires.checklist or "")
        found.append({
            "trigger": trigger, "label_zh": spec.label_zh, "label_en": spec.label_en,
            "requires": {
                "comment": requires.comment, "evidence": requires.evidence,
                "checklist": [{"key": item.key, "label_zh": item.label_zh,
                               "label_en": item.label_en, "answers": list(ANSWERS)}
                              for item in checklist.items] if checklist else [],
                "fields": {name: {"type": field.type, "label_zh": field.label_zh,
                                  "label_en": field.label_en}
                           for name, field in requires.fields.items()},
                "subtasks_done": requires.subtasks_done,
                "not_before": local(issue.stage_until).isoformat()
                if spec.stage and spec.stage.after_period and issue.stage_until else None,
            }})
    return found


def light_reason(view: dict[str, Any], registry: Registry, calendar: WorkCalendar,
                 now: datetime) -> str:
    """Why an issue's light is what it is, in a sentence an office reads on the issue page
    and the 督办单: the working days left (or past) its deadline and the next rung of the
    escalation ladder, e.g. "剩余3个工作日（整改时限2027-01-10）；逾期后将向包保领导、整改办发出
    红灯督办"."""
    definition_id, _, version = view["definition"].partition("@")
    definition = registry.get(definition_id, int(version)).definition
    if view["light"] == "green" and view["state"] in _completed_states(definition):
        return "已完成整改"
    if not view["due"]:
        return "长期坚持，无整改时限" if view["long_term"] else "未设整改时限"
    due = datetime.fromisoformat(view["due"]).date()
    limit = "整改时限" if view["deadline"] == due.isoformat() else "办理时限"
    today = local(now).date()
    left = calendar.working_days_between(today, due)
    ladder = list(definition.notices.escalation)
    roles = {key: role.label_zh for key, role in definition.roles.items()}

    def told(rung: Any) -> str:
        return "、".join(roles.get(r, r) for r in rung.notify)

    if view["light"] == "red":
        keys = [rung.key for rung in ladder]
        reached = keys.index(view["escalation_level"]) if view["escalation_level"] in keys \
            else -1
        text = f"已逾期{max(-left, 0)}个工作日（{limit}{due}）"
        if reached >= 0:
            text += f"，已{ladder[reached].label_zh}"
        if reached + 1 < len(ladder):
            rung = ladder[reached + 1]
            when = f"逾期{rung.after}后" if rung.after else "逾期后"
            when = when.replace(" days", "天").replace(" day", "天").replace(" hours", "小时")
            text += f"；{when}将向{told(rung)}发出{rung.label_zh}"
        return text
    text = f"剩余{left}个工作日（{limit}{due}）"
    if view["light"] == "yellow":
        text = ("阶段性节点逾期" if any(m["missed"] for m in view["milestones"])
                else "未达序时进度") + "；" + text
    if ladder:
        text += f"；逾期后将向{told(ladder[0])}发出{ladder[0].label_zh}"
    return text


def _completed_states(definition: Any) -> set[str]:
    return {state.key for state in definition.states if state.completed or state.terminal}
