"""What a write reads and appends: the issue's row as a transaction sees it, its deadline
bookkeeping, and the draft of one history event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from workflow.issues.policy import working_units

# Events the engine writes by itself (timers, calendar updates) carry this actor and role.
SYSTEM_ACTOR, SYSTEM_ROLE = "rectify", "system"
# A ledger import's events: the first one of an issue it recorded carries payload
# ``recorded: LEDGER_RECORDED`` with the ledger's dates (as_of, assigned_on, cleared_on).
LEDGER_TRIGGER, LEDGER_RECORDED = "import", "ledger"
# The facts of an issue that a ledger import may change (整改情况清单 columns).
FACT_COLUMNS = ("category", "title", "target", "measures", "leader", "lead_unit", "unit",
                "responsible_units", "cooperating_units", "acceptance_unit", "deadline_at",
                "long_term", "progress_note")
# The facts an issue's history carries under the payload key ``facts``: all of them in the
# first event, the changed ones in each event that changes them; `verify` compares the
# issue's row with the replay.
HISTORY_FACTS = ("plan", "number", "parent_id", *FACT_COLUMNS)


def facts_payload(values: Mapping[str, Any], keys: tuple[str, ...] = HISTORY_FACTS,
                  ) -> dict[str, Any]:
    """``values``' facts named by ``keys`` as JSON (times as aware ISO 8601, lists as lists)."""
    out: dict[str, Any] = {}
    for key in keys:
        value = values[key]
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple | list):
            value = list(value)
        out[key] = value
    return out


class IssueRow(NamedTuple):
    """What a write needs to know about an issue, read at the start of its transaction."""

    state: str
    version: int
    head_hash: str
    definition_id: str
    definition_version: int
    deadline_at: datetime | None
    due_at: datetime | None
    due_provisional: bool
    escalation_level: str | None
    key_supervision: bool
    unit: str | None
    lead_unit: str | None
    leader: str | None
    number: str | None
    title: str
    responsible_units: list[str]
    cooperating_units: list[str]
    acceptance_unit: str | None
    stage: str | None
    stage_until: datetime | None
    category: str | None

    def units(self) -> set[str]:
        """Every unit that works the issue (``policy.working_units``)."""
        return working_units(self)


@dataclass(frozen=True)
class Due:
    """The deadline bookkeeping an issue carries after a write."""

    at: datetime | None
    provisional: bool
    level: str | None
    key_supervision: bool

    @classmethod
    def of(cls, row: IssueRow) -> Due:
        return cls(row.due_at, row.due_provisional, row.escalation_level, row.key_supervision)


@dataclass(frozen=True)
class EventDraft:
    """One history event to append (who, what, and the state change)."""

    actor: str
    role: str
    trigger: str
    from_state: str | None
    to_state: str
    comment: str | None
    payload: dict[str, Any]
    os_user: str | None = None  # the operating-system user at the console, kept in the payload
