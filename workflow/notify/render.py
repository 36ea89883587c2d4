"""Message texts of notifications: every Chinese text a notice carries comes from the
Jinja2 templates in ``templates/`` — reminders (催办提醒), notices (督办通知), the daily
digest (每日汇总), look-back marks (回头看提醒), missing monthly reports (预警), leaders'
instructions (领导批示), the monthly progress notice (月度调度) and the office's chase
notices (催办通知).

Each template has a ``{name}.subject.j2`` and a ``{name}.body.j2``. Output is plain text (no
HTML escaping), and a missing context key is an error rather than a blank, so a notice never
goes out with a hole in it. The office's name (the signature) and the base URL for links are
passed in by the caller, from ``config.Settings``.

Context of ``reminder`` and ``notice``: ``issue_id``, ``title`` (问题), ``deadline`` (a date,
an ISO date text, or an aware datetime shown as its Asia/Shanghai date), ``light``
(green/blue/yellow/red), ``level_label``, and ``days_left`` (reminder) or ``days_overdue``
(notice). Optional: ``number`` (序号), ``unit``, ``leader``, ``light_label``, ``link``,
``milestone`` (a missed milestone's notice names it instead of ``level_label``),
``key_supervision`` and ``proposal`` (notice); ``deadline_label`` (what the deadline is
called, default 整改时限), ``rectification_deadline`` (the issue's 整改时限 when ``deadline``
is another one, shown above it), ``day_unit`` (天 or 个工作日), ``addressee`` (the recipient
role asked to act: unit, acceptor, leader, office; default unit), ``rectification`` (the
deadline is a rectification one: ask for progress; default true), ``action`` (the step to
take otherwise), ``acceptance_unit`` (shown when given) and ``covers`` (notice: labels of
passed rungs of the ladder this notice also stands for). Context of ``digest``: ``recipient``,
``date`` and ``items`` (dicts with ``subject`` and optionally ``issue_id`` or ``link``).
Context of ``lookback``: ``issue_id``, ``title``, ``cleared`` (when the issue entered the
state), ``state_label``, ``mark`` (the date the mark falls on) and ``months``. Context of
``missing_report``: ``unit``, ``title`` and ``month`` (``YYYY-MM``); of ``instruction``:
``instructed_by``, ``text`` and ``title``; of ``monthly``: ``month``, ``summary`` (the
report's sentence) and ``states`` (``(label, count)`` pairs); of ``chase`` (催办通知, the
office's 一键催办): ``unit``, ``title``, ``number``, ``deadline`` (or None), ``chased_by`` and
``link`` (or None).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from workflow.clock import local
from workflow.config import DEFAULT_OFFICE_NAME
from workflow.errors import InputError
from workflow.spec.definitions import RECTIFICATION_DEADLINE_ZH
from workflow.spec.timers import LIGHT_LABELS

TEMPLATE_DIR = Path(__file__).with_name("templates")
TEMPLATES = ("reminder", "notice", "digest", "lookback", "missing_report", "instruction",
             "monthly", "chase")
# Templates with optional lines are tidied after rendering (one-line subject, at most one
# blank line in a row); the others carry free text as typed (an instruction, a title) and
# are rendered verbatim.
TIDIED = frozenset({"reminder", "notice", "digest", "lookback"})
ISSUE_TEMPLATES = frozenset({"reminder", "notice", "lookback"})
LIGHT_COLOURS = {"green": "绿灯", "blue": "蓝灯", "yellow": "黄灯", "red": "红灯"}
# The definition's escalation levels that carry 重点督办 and 问责建议 (rectification.yaml);
# a caller that knows better passes key_supervision / proposal itself.
KEY_SUPERVISION_LEVEL, PROPOSAL_LEVEL = "key_supervision", "accountability"
# Whom a reminder asks to act, by recipient role (the office is named by its own name).
ADDRESSEES = {"unit": "责任单位", "acceptor": "验收单位", "leader": "责任领导"}


def zh_date(value: date | datetime | str) -> str:
    """A date as officials write it, e.g. ``2026年6月30日``; a datetime is shown as its
    Asia/Shanghai date."""
    if isinstance(value, datetime):
        value = local(value).date()
    elif isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value.year}年{value.month}月{value.day}日"


def zh_month(month: str) -> str:
    """A month ``YYYY-MM`` as officials write it, e.g. ``2026年1月``."""
    year, number = month.split("-")
    return f"{year}年{int(number)}月"


def issue_link(issue_id: int | None, base_url: str | None = None) -> str | None:
    """The issue's page (``{base_url}/issues/{id}``); None without an id or a base URL.

    Args:
        issue_id: the issue.
        base_url: the web address of the system (``Settings.base_url``).
    """
    if issue_id is None or base_url is None or not base_url.strip():
        return None
    return f"{base_url.strip().rstrip('/')}/issues/{issue_id}"


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=False,
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
    environment.filters["zh_date"] = zh_date
    environment.filters["zh_month"] = zh_month
    return environment


_ENVIRONMENT = _environment()


def _complete(template: str, context: Mapping[str, Any], office: str,
              base_url: str | None) -> dict[str, Any]:
    values = dict(context)
    values.setdefault("office", office)
    if template == "digest":
        values["items"] = [{**item, "link": item.get("link")
                            or issue_link(item.get("issue_id"), base_url)}
                           for item in values.get("items", [])]
        return values
    if template not in ISSUE_TEMPLATES:
        return values
    for optional in ("number", "unit", "leader", "milestone", "rectification_deadline",
                     "acceptance_unit", "action"):
        values.setdefault(optional, None)
    values.setdefault("deadline_label", RECTIFICATION_DEADLINE_ZH)
    values.setdefault("rectification", True)
    values.setdefault("day_unit", "天")
    values.setdefault("covers", [])
    addressee = values.setdefault("addressee", "unit")
    values.setdefault("addressee_label", ADDRESSEES.get(addressee, office))
    values.setdefault("link", issue_link(values.get("issue_id"), base_url))
    light = values.get("light")
    if light in LIGHT_LABELS:
        values.setdefault("light_label", LIGHT_LABELS[light][0])
        values.setdefault("light_colour", LIGHT_COLOURS[light])
    level = values.get("level")
    values.setdefault("key_supervision", level == KEY_SUPERVISION_LEVEL)
    values.setdefault("proposal", level == PROPOSAL_LEVEL)
    return values


def render(template: str, context: Mapping[str, Any], *, office: str = DEFAULT_OFFICE_NAME,
           base_url: str | None = None) -> tuple[str, str]:
    """Subject and body of a notification.

    Args:
        template: one of ``TEMPLATES``.
        context: the facts the templates show (see the module docstring).
        office: the office's name, the signature of every message.
        base_url: the system's web address for links to issues; no link when None.

    Returns:
        The one-line subject and the plain-text body.

    Raises:
        InputError: ``template`` is not a known template.
        jinja2.UndefinedError: the context lacks a key a template needs.
    """
    if template not in TEMPLATES:
        raise InputError(f"unknown notification template {template!r}; allowed: "
                         f"{', '.join(TEMPLATES)}")
    values = _complete(template, context, office, base_url)
    subject = _ENVIRONMENT.get_template(f"{template}.subject.j2").render(values)
    body = _ENVIRONMENT.get_template(f"{template}.body.j2").render(values)
    if template not in TIDIED:
        return subject.removesuffix("\n"), body
    # A subject is one header line; a body keeps at most one blank line between paragraphs.
    subject = " ".join(subject.split())
    body = re.sub(r"\n{3,}", "\n\n", body).strip() + "\n"
    return subject, body
