"""Message texts of notifications: Chinese Jinja2 templates for reminders (催办提醒),
notices (督办通知) and the daily digest (每日汇总).

Each kind has a ``{kind}.subject.j2`` and a ``{kind}.body.j2`` in ``templates/``. Output is
plain text (no HTML escaping), and a missing context key is an error rather than a blank,
so a notice never goes out with a hole in it.

Context of ``reminder`` and ``notice``: ``issue_id``, ``title`` (问题), ``deadline`` (a date,
an ISO date text, or an aware datetime shown as its Asia/Shanghai date), ``light``
(green/blue/yellow/red), ``level_label``, and ``days_left`` (reminder) or ``days_overdue``
(notice). Optional: ``number`` (序号), ``unit``, ``leader``, ``light_label``, ``link``,
``key_supervision`` and ``proposal`` (notice). Context of ``digest``: ``recipient``,
``date`` and ``items`` (dicts with ``subject`` and optionally ``issue_id`` or ``link``).
Context of ``lookback``: ``issue_id``, ``title``, ``cleared`` (when the issue entered the
state), ``state_label``, ``mark`` (the date the mark falls on) and ``months``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workflow.clock import local
from workflow.errors import InputError
from workflow.spec.timers import LIGHT_LABELS

TEMPLATE_DIR = Path(__file__).with_name("templates")
KINDS = ("reminder", "notice", "digest", "lookback")
LIGHT_COLOURS = {"green": "绿灯", "blue": "蓝灯", "yellow": "黄灯", "red": "红灯"}
BASE_URL_ENV = "RECTIFY_BASE_URL"
OFFICE_ENV = "RECTIFY_OFFICE_NAME"
DEFAULT_OFFICE = "整改办"
# The definition's escalation levels that carry 重点督办 and 问责建议 (rectification.yaml);
# a caller that knows better passes key_supervision / proposal itself.
KEY_SUPERVISION_LEVEL, PROPOSAL_LEVEL = "key_supervision", "accountability"


def zh_date(value: date | datetime | str) -> str:
    """A date as officials write it, e.g. ``2026年6月30日``; a datetime is shown as its
    Asia/Shanghai date."""
    if isinstance(value, datetime):
        value = local(value).date()
    elif isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.year}年{value.month}月{value.day}日"


def issue_link(issue_id: int | None, base_url: str | None = None) -> str | None:
    """The issue's page (``{base_url}/issues/{id}``); None without an id or a base URL.

    Args:
        issue_id: the issue.
        base_url: the web address of the system; ``RECTIFY_BASE_URL`` when None.
    """
    base = os.environ.get(BASE_URL_ENV, "") if base_url is None else base_url
    if issue_id is None or not base.strip():
        return None
    return f"{base.strip().rstrip('/')}/issues/{issue_id}"


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=False,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
    environment.filters["zh_date"] = zh_date
    return environment


_ENVIRONMENT = _environment()


def _complete(kind: str, context: Mapping[str, Any], base_url: str | None) -> dict[str, Any]:
    values = dict(context)
    values.setdefault("office", os.environ.get(OFFICE_ENV) or DEFAULT_OFFICE)
    if kind == "digest":
        values["items"] = [{**item, "link": item.get("link")
                            or issue_link(item.get("issue_id"), base_url)}
                           for item in values.get("items", [])]
        return values
    for optional in ("number", "unit", "leader"):
        values.setdefault(optional, None)
    values.setdefault("link", issue_link(values.get("issue_id"), base_url))
    light = values.get("light")
    if light in LIGHT_LABELS:
        values.setdefault("light_label", LIGHT_LABELS[light][0])
        values.setdefault("light_colour", LIGHT_COLOURS[light])
    level = values.get("level")
    values.setdefault("key_supervision", level == KEY_SUPERVISION_LEVEL)
    values.setdefault("proposal", level == PROPOSAL_LEVEL)
    return values


def render(kind: str, context: Mapping[str, Any], *,
           base_url: str | None = None) -> tuple[str, str]:
    """Subject and body of a notification.

    Args:
        kind: ``reminder``, ``notice``, ``digest`` or ``lookback``.
        context: the facts the templates show (see the module docstring).
        base_url: the system's web address for links; ``RECTIFY_BASE_URL`` when None, and
            no link when neither is set.

    Returns:
        The one-line subject and the plain-text body.

    Raises:
        InputError: ``kind`` is not a known kind.
        jinja2.UndefinedError: the context lacks a key a template needs.
    """
    if kind not in KINDS:
        raise InputError(f"unknown notification kind {kind!r}; allowed: {', '.join(KINDS)}")
    values = _complete(kind, context, base_url)
    subject = _ENVIRONMENT.get_template(f"{kind}.subject.j2").render(values)
    body = _ENVIRONMENT.get_template(f"{kind}.body.j2").render(values)
    # A subject is one header line; a body keeps at most one blank line between paragraphs.
    subject = " ".join(subject.split())
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    return subject, body
