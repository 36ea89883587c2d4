"""Ranks of cadres (职级) with the aliases officials write, and the one way a label or an
alias becomes a key."""

from __future__ import annotations

from workflow.errors import InputError

RANKS = {"provincial": "省部级", "departmental": "厅局级", "county": "县处级",
         "township": "乡科级", "other": "其他"}
RANK_ALIASES = {"厅级": "departmental", "处级": "county", "县级": "county", "科级": "township"}


def label_key(kind: str, value: str, labels: dict[str, str],
              aliases: dict[str, str] | None = None) -> str:
    """The key of ``value`` given as a key, its label or an alias.

    Raises:
        InputError: none of them; the message lists what is allowed.
    """
    text = value.strip()
    by_label = {label: key for key, label in labels.items()}
    found = text if text in labels else by_label.get(text) or (aliases or {}).get(text)
    if found is None:
        allowed = ", ".join(f"{label} ({key})" for key, label in labels.items())
        extra = f"; aliases: {', '.join(aliases)}" if aliases else ""
        raise InputError(f"unknown {kind} {value!r}; allowed: {allowed}{extra}")
    return found


def rank_key(value: str) -> str:
    """A rank key from the key, the label (县处级) or an alias (处级, 县级, 科级, 厅级)."""
    return label_key("rank", value, RANKS, RANK_ALIASES)


def rank_label(rank: str | None) -> str:
    """The Chinese label of a rank key; empty for none."""
    return RANKS.get(rank or "", "")
