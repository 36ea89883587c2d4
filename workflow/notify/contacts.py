"""Who is reached where: the contacts of recipients (units, leaders, the office), the
names behind a definition's recipient roles, and the per-run cache producers look them up in.

A name without contacts is reached on the log channel, with the name as the address, so no
notice is lost before contacts are entered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from sqlalchemy import select

from workflow.clock import SystemClock
from workflow.config import WebhookHosts
from workflow.db import Database
from workflow.errors import InputError
from workflow.models import Contact
from workflow.notify.channels import LOG, mask_options, mask_secrets, webhook_refusal
from workflow.org.directory import OfficeAct

CONTACT_CHANNELS = ("log", "email", "webhook")
WEBHOOK_OPTIONS = ("preset", "secret")
WEBHOOK_PRESETS = ("json", "dingtalk", "wecom")

# One way to reach a recipient: (channel, address, options, contact id or None).
Route = tuple[str, str, dict[str, Any], int | None]


def recipients(db: Database, name: str) -> list[Route]:
    """Where ``name`` is reached: ``(channel, address, options, contact id)`` for each of its
    contacts, or the log channel (address = the name, no contact) when it has none."""
    with db.session() as session:
        contacts = session.scalars(select(Contact).where(Contact.name == name)
                                   .order_by(Contact.id)).all()
        found = [(c.channel, c.address, dict(c.options or {}), c.id) for c in contacts]
    return found or [(LOG, name, {}, None)]


def add_contact(db: Database, name: str, channel: str, address: str,
                options: Mapping[str, str] | None = None, *, by: OfficeAct,
                hosts: WebhookHosts | None = None) -> int:
    """Record where ``name`` (a unit, a leader, the office) is reached (an office act, on the
    audit trail); returns its id.

    Args:
        hosts: the webhook allowlist (``Settings.webhook_hosts``); default the robot hosts.

    Raises:
        InputError: an unknown channel, option or preset, an empty name or address, a
            webhook address off the allowlist or not https, or an empty directory (nothing
            is stored). ActionDeniedError: ``by`` is not the office.
    """
    options = dict(options or {})
    if not name.strip() or not address.strip():
        raise InputError("a contact needs a name and an address")
    if channel not in CONTACT_CHANNELS:
        raise InputError(f"unknown channel {channel!r}; channels: {', '.join(CONTACT_CHANNELS)}")
    allowed = WEBHOOK_OPTIONS if channel == "webhook" else ()
    unknown = [key for key in options if key not in allowed]
    if unknown:
        raise InputError(f"unknown option(s) {', '.join(unknown)} for channel {channel}; "
                         f"allowed: {', '.join(allowed) or 'none'}")
    if options.get("preset", "json") not in WEBHOOK_PRESETS:
        raise InputError(f"unknown webhook preset {options['preset']!r}; presets: "
                         f"{', '.join(WEBHOOK_PRESETS)}")
    refusal = webhook_refusal(address.strip(), hosts or WebhookHosts()) \
        if channel == "webhook" else None
    if refusal:
        raise InputError(refusal)
    with db.session(write=True) as session:
        by.check(session, "register contacts")
        contact = Contact(name=name.strip(), channel=channel, address=address.strip(),
                          options=options)
        session.add(contact)
        session.flush()
        by.record(session, "contact_add", f"contact {contact.id} {contact.name}",
                  at=SystemClock().now(), channel=channel, address=mask_secrets(contact.address),
                  options=sorted(options))
        return contact.id


def list_contacts(db: Database) -> list[Contact]:
    with db.session() as session:
        return list(session.scalars(select(Contact).order_by(Contact.name, Contact.id)))


def shown_contacts(db: Database) -> list[dict[str, Any]]:
    """The contacts as listings show them: tokens in addresses and secret options masked."""
    return [{"id": c.id, "name": c.name, "channel": c.channel,
             "address": mask_secrets(c.address), "options": mask_options(c.options or {})}
            for c in list_contacts(db)]


def recipient_names(roles: Iterable[str], *, unit: str | None, leader: str | None,
                    office: str) -> tuple[str, ...]:
    """The names behind a definition's recipient roles (``unit``, ``leader``, ``office``),
    each once and in the order of ``roles``; a role with nobody behind it is left out."""
    names = {"unit": unit, "leader": leader, "office": office}
    return tuple(dict.fromkeys(name for role in roles if (name := names[role])))


class Routes(Protocol):
    """Anything that says where a recipient is reached."""

    def of(self, name: str) -> list[Route]: ...


class Contacts:
    """Recipients' routes, looked up once per run (a sweep, a job) rather than once per
    notice."""

    def __init__(self, db: Database):
        self._db = db
        self._known: dict[str, list[Route]] = {}

    def of(self, name: str) -> list[Route]:
        if name not in self._known:
            self._known[name] = recipients(self._db, name)
        return self._known[name]


class FixedRoute:
    """One route for every name: a digest goes back on the very route its reminders were
    held for, not on each of the recipient's contacts."""

    def __init__(self, channel: str, address: str, contact_id: int | None = None):
        self._route: Route = (channel, address, {}, contact_id)

    def of(self, name: str) -> list[Route]:
        return [self._route]
