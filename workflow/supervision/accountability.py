"""Accountability (问责): records against party organisations and cadres, and the office's
decision on the proposals that escalation opens.

A record names its subject (党组织 or 领导干部), the cadre's rank, one or more methods, the
deciding body and date, the issues it answers for, the transfer-list number it came from
(移交问题清单) and whether it is disclosed. Recording one appends an ``accountability``
event to each linked issue's history in the same transaction. Escalation never sanctions: a
proposal (问责建议) becomes a record only when the office adopts it, or is dismissed with a
reason; both are kept in the issue's history.

Inputs are accepted as the English keys or the Chinese labels officials write, with the
usual aliases for ranks (厅级, 处级, 县级, 科级).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from workflow.errors import InputError, NotFoundError
from workflow.issues import policy
from workflow.issues.engine import Engine
from workflow.issues.rows import Due, EventDraft
from workflow.issues.transaction import IssueTx
from workflow.models import AccountabilityIssue, AccountabilityProposal, AccountabilityRecord
from workflow.org.actors import Actor
from workflow.org.ranks import RANKS, label_key, rank_key

SUBJECT_TYPES = {"organization": "党组织", "cadre": "领导干部"}
METHODS = {"inspection": "检查", "circulation": "通报", "reorganisation": "改组",
           "admonishment": "诫勉", "organisational_adjustment": "组织调整",
           "disciplinary_sanction": "纪律处分", "judicial_referral": "移送司法"}


def subject_type_key(value: str) -> str:
    """``organization`` or ``cadre`` from the key or its label (党组织, 领导干部)."""
    return label_key("subject type", value, SUBJECT_TYPES)


def method_key(value: str) -> str:
    """A method key from the key or its label (诫勉, 通报...)."""
    return label_key("accountability method", value, METHODS)


@dataclass(frozen=True)
class NewAccountability:
    """An accountability decision to record (the columns of the 问责情况 sheet)."""

    subject_type: str
    subject: str
    methods: list[str]
    decided_by: str
    decided_on: date
    issues: list[int]
    rank: str | None = None
    unit: str | None = None
    source: str | None = None
    disclosed: bool = False
    note: str | None = None

    def normalised(self) -> NewAccountability:
        """The same decision with keys for type, rank and methods.

        Raises:
            InputError: every problem found, in one message.
        """
        problems: list[str] = []

        def attempt(convert: Any, value: str) -> str | None:
            try:
                return convert(value)
            except InputError as exc:
                problems.append(str(exc))
                return None

        subject_type = attempt(subject_type_key, self.subject_type)
        rank = attempt(rank_key, self.rank) if self.rank and self.rank.strip() else None
        methods = [attempt(method_key, method) for method in self.methods]
        if not self.subject.strip():
            problems.append("the subject (问责对象) is empty")
        if not self.decided_by.strip():
            problems.append("the deciding body (决定机关) is empty")
        if not self.methods:
            problems.append(f"no method given; allowed: {', '.join(METHODS.values())}")
        if subject_type == "cadre" and rank is None and not problems:
            problems.append(f"a cadre (领导干部) needs a rank; allowed: "
                            f"{', '.join(RANKS.values())}")
        if not self.issues:
            problems.append("no linked issue (关联问题) given")
        if problems:
            raise InputError("; ".join(problems))
        return NewAccountability(
            subject_type=str(subject_type), subject=self.subject.strip(),
            methods=list(dict.fromkeys(m for m in methods if m)),
            decided_by=self.decided_by.strip(), decided_on=self.decided_on,
            issues=sorted(set(self.issues)), rank=rank, unit=(self.unit or "").strip() or None,
            source=(self.source or "").strip() or None, disclosed=self.disclosed,
            note=self.note)


def record(engine: Engine, new: NewAccountability, *, actor: Actor,
           proposal_id: int | None = None) -> int:
    """Record an accountability decision and note it in each linked issue's history.

    Args:
        engine: the engine.
        new: the decision.
        actor: who records it (office or discipline; adopting a proposal: office only).
        proposal_id: the escalation proposal this decision adopts; its issue is linked.

    Returns:
        The record's id.

    Raises:
        ActionDeniedError: the role may not record (or adopt) accountability.
        InputError: bad values (every problem in one message).
        NotFoundError: a linked issue or the proposal does not exist.
        ConflictError: a linked issue moved meanwhile; nothing was written.
    """
    policy.check_action(actor, policy.RECORD_ACCOUNTABILITY if proposal_id is None
                        else policy.ADOPT_PROPOSAL)
    with engine.transaction() as tx:
        return write_record(tx, new, actor=actor, now=engine.clock.now(),
                            proposal_id=proposal_id)


def write_record(tx: IssueTx, new: NewAccountability, *, actor: Actor, now: Any,
                 proposal_id: int | None = None) -> int:
    """``record`` inside the caller's transaction (a ledger import writes its 问责情况 sheet
    with its issues); the caller checks the actor's role."""
    issues = list(new.issues)
    if proposal_id is not None:
        issues.append(_open_proposal(tx, proposal_id))
    new = NewAccountability(**{**new.__dict__, "issues": issues}).normalised()
    rows = _issues(tx, new.issues)
    record_id = tx.add_record({
        "subject_type": new.subject_type, "subject": new.subject, "unit": new.unit,
        "rank": new.rank, "methods": new.methods, "decided_by": new.decided_by,
        "decided_on": new.decided_on, "source": new.source, "disclosed": new.disclosed,
        "note": new.note, "proposal_id": proposal_id, "recorded_at": now,
        "recorded_by": actor.name}, new.issues)
    if proposal_id is not None:
        tx.decide_proposal(proposal_id, status="adopted", actor=actor.name,
                            now=now)
    payload = {"record": record_id, "subject_type": new.subject_type,
               "subject": new.subject, "rank": new.rank, "methods": new.methods,
               "decided_by": new.decided_by, "decided_on": new.decided_on.isoformat(),
               "proposal": proposal_id}
    for issue_id, row in rows.items():
        tx.record(issue_id=issue_id, old_version=row.version,
                   prev_hash=row.head_hash, now=now, due=Due.of(row), event=EventDraft(
                       actor.name, actor.role, "accountability", row.state, row.state,
                       new.note, payload, os_user=actor.os_user))
    return record_id


def dismiss(engine: Engine, proposal_id: int, *, actor: Actor, reason: str) -> None:
    """Close an escalation proposal without accountability, with the office's reason.

    Raises:
        ActionDeniedError: the role is not the office.
        InputError: no reason given, or the proposal is not open.
        NotFoundError: no such proposal.
    """
    policy.check_action(actor, policy.DISMISS_PROPOSAL)
    if not reason.strip():
        raise InputError("dismissing a proposal needs a reason")
    now = engine.clock.now()
    with engine.transaction() as tx:
        issue_id = _open_proposal(tx, proposal_id)
        row = _issues(tx, [issue_id])[issue_id]
        tx.decide_proposal(proposal_id, status="dismissed", actor=actor.name, now=now)
        tx.record(issue_id=issue_id, old_version=row.version, prev_hash=row.head_hash,
                   now=now, due=Due.of(row), event=EventDraft(
                       actor.name, actor.role, "dismiss_proposal", row.state, row.state,
                       reason.strip(), {"proposal": proposal_id}, os_user=actor.os_user))


def _open_proposal(tx: IssueTx, proposal_id: int) -> int:
    found = tx.proposal(proposal_id)
    if found is None:
        raise NotFoundError(f"no accountability proposal {proposal_id}; see "
                            "`rectify accountability proposals`")
    issue_id, status = found
    if status != "open":
        raise InputError(f"accountability proposal {proposal_id} is {status} already; only "
                         "an open proposal can be decided")
    return issue_id


def _issues(tx: IssueTx, ids: list[int]) -> dict[int, Any]:
    rows = {issue_id: tx.read_issue(issue_id) for issue_id in sorted(set(ids))}
    missing = [str(issue_id) for issue_id, row in rows.items() if row is None]
    if missing:
        raise NotFoundError(f"no issue {', '.join(missing)}: a record links existing issues")
    return rows


PROPOSAL_STATUSES = ("open", "adopted", "dismissed")


def proposals(engine: Engine, *, status: str | None = "open") -> list[AccountabilityProposal]:
    """Escalation proposals, oldest first (``status`` None: all)."""
    query = select(AccountabilityProposal).order_by(AccountabilityProposal.id)
    if status is not None:
        query = query.where(AccountabilityProposal.status == status)
    with engine.db.session() as session:
        return list(session.scalars(query))


def records(engine: Engine, *, issue: int | None = None) -> list[dict[str, Any]]:
    """Accountability records (optionally those linked to one issue), with their issues."""
    query = select(AccountabilityRecord).order_by(AccountabilityRecord.decided_on,
                                                   AccountabilityRecord.id)
    if issue is not None:
        query = query.where(AccountabilityRecord.id.in_(
            select(AccountabilityIssue.record_id).where(AccountabilityIssue.issue_id == issue)))
    with engine.db.session() as session:
        found = list(session.scalars(query))
        links: dict[int, list[int]] = {}
        for record_id, issue_id in session.execute(
                select(AccountabilityIssue.record_id, AccountabilityIssue.issue_id)
                .where(AccountabilityIssue.record_id.in_([r.id for r in found]))
                .order_by(AccountabilityIssue.issue_id)):
            links.setdefault(record_id, []).append(issue_id)
    return [{"id": r.id, "subject_type": r.subject_type,
             "subject_type_label": SUBJECT_TYPES[r.subject_type], "subject": r.subject,
             "unit": r.unit, "rank": r.rank, "rank_label": RANKS.get(r.rank or ""),
             "methods": list(r.methods), "method_labels": [METHODS[m] for m in r.methods],
             "decided_by": r.decided_by, "decided_on": r.decided_on.isoformat(),
             "issues": links.get(r.id, []), "source": r.source, "disclosed": r.disclosed,
             "note": r.note, "proposal_id": r.proposal_id, "recorded_by": r.recorded_by}
            for r in found]


@dataclass
class Summary:
    """How many organisations and cadres were held accountable, cadres by rank."""

    organizations: int = 0
    cadres: int = 0
    by_rank: dict[str, int] = field(default_factory=dict)

    def sentence_zh(self) -> str:
        """E.g. 对3个党组织和7名领导干部进行问责，其中县处级干部3人、乡科级干部4人."""
        text = f"对{self.organizations}个党组织和{self.cadres}名领导干部进行问责"
        parts = [f"{RANKS[rank]}干部{count}人" for rank, count in self.by_rank.items() if count]
        return text + ("，其中" + "、".join(parts) if parts else "")

    def as_dict(self) -> dict[str, Any]:
        return {"organizations": self.organizations, "cadres": self.cadres,
                "by_rank": dict(self.by_rank)}


def summary(engine: Engine, *, issues: set[int] | None = None,
            until: date | None = None) -> Summary:
    """Organisations and cadres held accountable (each subject counted once), by rank;
    only records linked to ``issues`` and decided by ``until`` when given."""
    result = Summary()
    seen: set[tuple[str, str, str | None]] = set()
    ranks: Counter[str] = Counter()
    for item in records(engine):
        if issues is not None and not issues.intersection(item["issues"]):
            continue
        if until is not None and item["decided_on"] > until.isoformat():
            continue
        who = (item["subject_type"], item["subject"], item["unit"])
        if who in seen:
            continue
        seen.add(who)
        if item["subject_type"] == "organization":
            result.organizations += 1
        else:
            result.cadres += 1
            ranks[item["rank"]] += 1
    result.by_rank = {rank: ranks[rank] for rank in RANKS if ranks[rank]}
    return result
