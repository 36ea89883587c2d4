"""The access policy: which role may take each action that is not a trigger, on which
issues an actor may act, and what each role may read.

Every rule is a plain function of an ``Actor`` and an issue's facts; nothing here reads the
database. The caller loads what a rule needs (a leader's sectors: ``sectors_of`` in
``workflow.org.directory``) and passes it in. Which role may fire which trigger is part of
each definition (its YAML) and the shared machine; the engine checks that, then asks this
module whether the actor may act on the issue at all.

Scope, by role:
- a unit acts on and reads the issues it works (lead, responsible or cooperating unit);
- an acceptor acts on the issues it accepts (any issue naming no acceptance unit) and reads
  those naming it;
- a leader acts on and reads the issues they supervise or whose category is one of their
  sectors (包保领域);
- the office and discipline read everything; the public reads every issue, but only its
  disclosed fields (``PUBLIC_FIELDS``) and never its history.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from workflow.errors import ActionDeniedError, OutOfScopeError
from workflow.org.actors import Actor


class HasParent(Protocol):
    @property
    def parent_id(self) -> int | None: ...


class IssueFacts(Protocol):
    """What the rules need to know of an issue; a ``models.Issue`` and an ``IssueRow``
    both have it."""

    @property
    def unit(self) -> str | None: ...
    @property
    def lead_unit(self) -> str | None: ...
    @property
    def responsible_units(self) -> Sequence[str] | None: ...
    @property
    def cooperating_units(self) -> Sequence[str] | None: ...
    @property
    def acceptance_unit(self) -> str | None: ...
    @property
    def leader(self) -> str | None: ...
    @property
    def category(self) -> str | None: ...


@dataclass(frozen=True)
class Action:
    """An action that is not a trigger: how a refusal names it, and the roles that may take
    it."""

    text: str
    roles: tuple[str, ...]


CREATE_ISSUE = Action("create issues", ("office",))
UPLOAD_EVIDENCE = Action("upload evidence (佐证材料)",
                         ("office", "unit", "acceptor", "leader", "discipline"))
READ_REPORTS = Action("read the progress figures and the monthly briefing",
                      ("office", "discipline", "leader"))
EXPORT_LEDGER = Action("export the ledger (台账)", ("office", "discipline"))
REPORT_PROGRESS = Action("report monthly progress", ("unit", "office"))
INSTRUCT = Action("give instructions (批示)", ("leader", "office"))
RECORD_ACCOUNTABILITY = Action("record accountability", ("office", "discipline"))
ADOPT_PROPOSAL = Action("adopt an accountability proposal", ("office",))
DISMISS_PROPOSAL = Action("dismiss an accountability proposal", ("office",))
SPLIT_ISSUE = Action("split an issue into sub-tasks", ("office", "unit"))
PLAN_MILESTONES = Action("plan milestones", ("office", "unit"))
REACH_MILESTONE = Action("report milestones", ("office", "unit"))
IMPORT_LEDGER = Action("import a ledger", ("office",))
MIGRATE_VERSIONS = Action("migrate issues between definition versions", ("office",))
READ_HISTORY = Action("read an issue's history (internal records)",
                      ("office", "unit", "acceptor", "leader", "discipline"))
HISTORY_READERS = READ_HISTORY.roles

# Roles that read every issue; the public through the disclosed fields only.
READ_ALL_ROLES = ("office", "discipline", "public")
PUBLIC_ROLE = "public"
# The fields the public sees (信息公开): no people, contacts, notes or evidence.
PUBLIC_FIELDS = ("id", "plan", "number", "category", "title", "measures", "unit",
                 "responsible_units", "deadline", "long_term", "state", "state_label_zh",
                 "state_label_en", "cleared_on")


def is_disclosed(issue: HasParent) -> bool:
    """Whether the disclosure (信息公开) lists the issue: top-level issues only; a sub-task
    (分解任务) is disclosed through the issue it was split from."""
    return issue.parent_id is None


def may_take(actor: Actor, action: Action) -> bool:
    """Whether the actor's role may take ``action``."""
    return actor.role in action.roles


def check_action(actor: Actor, action: Action) -> None:
    """Refuse an action the actor's role may not take.

    Raises:
        ActionDeniedError: naming the action and the roles that may take it.
    """
    if not may_take(actor, action):
        raise ActionDeniedError(action=action.text, role=actor.role, roles=action.roles)


def working_units(issue: IssueFacts) -> set[str]:
    """Every unit that works the issue: lead, responsible and cooperating units."""
    return {u for u in (issue.unit, issue.lead_unit, *(issue.responsible_units or []),
                        *(issue.cooperating_units or [])) if u}


def _supervises(actor: Actor, issue: IssueFacts, sectors: Collection[str]) -> bool:
    return issue.leader == actor.name or issue.category in sectors


def check_act_scope(actor: Actor, issue: IssueFacts, *, issue_id: int, action: str,
                    sectors: Collection[str] = frozenset()) -> None:
    """Refuse an actor acting on an issue outside their scope: a unit on one it does not
    work, an acceptor on one another unit accepts, a leader on one they neither supervise
    nor hold the sector of. Other roles act on every issue their role allows.

    Args:
        actor: who acts.
        issue: the issue's facts.
        issue_id: the issue, for the message.
        action: what the actor tries, as the message says it ("fire 'start'").
        sectors: a leader's sectors (``sectors_of``).

    Raises:
        OutOfScopeError: naming whom the issue belongs to.
    """
    if actor.role == "unit" and actor.organisation not in working_units(issue):
        raise OutOfScopeError(issue_id=issue_id, action=action, actor=actor.organisation,
                              role="unit", owners=sorted(working_units(issue)))
    if (actor.role == "acceptor" and issue.acceptance_unit
            and actor.organisation != issue.acceptance_unit):
        raise OutOfScopeError(issue_id=issue_id, action=action, actor=actor.organisation,
                              role="acceptor", owners=[issue.acceptance_unit])
    if actor.role == "leader" and not _supervises(actor, issue, sectors):
        raise OutOfScopeError(issue_id=issue_id, action=action, actor=actor.name,
                              role="leader", owners=[issue.leader or "no supervising leader"])


def may_read(actor: Actor, issue: IssueFacts, *,
             sectors: Collection[str] = frozenset()) -> bool:
    """Whether ``actor`` may read the issue (the public: through its disclosed fields)."""
    if actor.role in READ_ALL_ROLES:
        return True
    if actor.role == "unit":
        return actor.organisation in working_units(issue)
    if actor.role == "acceptor":
        return issue.acceptance_unit == actor.organisation
    if actor.role == "leader":
        return _supervises(actor, issue, sectors)
    return False


def check_read_scope(actor: Actor, issue: IssueFacts, *, issue_id: int, history: bool = False,
                     sectors: Collection[str] = frozenset()) -> None:
    """Refuse ``actor`` an issue (or its history) outside their reading scope.

    Raises:
        ActionDeniedError: the public asks for a history (internal records: people, notes,
            evidence).
        OutOfScopeError: the issue is not one the actor's role may read.
    """
    if history:
        check_action(actor, READ_HISTORY)
    if may_read(actor, issue, sectors=sectors):
        return
    owners = {"unit": working_units(issue), "acceptor": {issue.acceptance_unit},
              "leader": {issue.leader}}.get(actor.role, set())
    raise OutOfScopeError(issue_id=issue_id, action="read its history" if history else
                          "read it", actor=actor.organisation, role=actor.role,
                          owners=sorted(o for o in owners if o))


def reads_disclosed_only(actor: Actor) -> bool:
    """Whether the actor sees an issue only as the public does (``PUBLIC_FIELDS``)."""
    return actor.role == PUBLIC_ROLE
