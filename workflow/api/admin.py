"""The office's administration over HTTP, by the same functions as the CLI: the directory
(``rectify units``, ``rectify people``), the contacts (``rectify contacts``), the dead letters
(``rectify outbox dead|retry``) and the health checks (``rectify doctor --json``).

Every resource is the office's: a caller in another role is refused by the directory's own
office check (``OfficeAct.check``). A change is an ``OfficeAct`` of the caller, so the domain
function checks it inside its write transaction and puts it on the audit trail, as the CLI's
changes are. Addresses, options and errors are shown masked, as the CLI shows them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field, StringConstraints

from workflow.api.problems import problem_responses
from workflow.api.security import MAX_ID, CallerDep
from workflow.config import RunSettings
from workflow.doctor import as_json as checks_json
from workflow.doctor import diagnose
from workflow.issues.engine import Engine
from workflow.notify.contacts import add_contact, shown_contacts
from workflow.notify.delivery import retry
from workflow.notify.shown import message_detail, message_rows
from workflow.org.directory import OfficeAct, add_person, add_unit, people, units
from workflow.org.ranks import rank_label

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Short = Annotated[str, StringConstraints(max_length=200)]
Word = Annotated[str, StringConstraints(max_length=32)]
Address = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Option = Annotated[str, StringConstraints(max_length=500)]
MessageId = Annotated[int, Path(ge=1, le=MAX_ID, description="the outbox message's id")]


class UnitIn(BaseModel):
    """The body of ``POST /directory/units`` (``rectify units add``)."""

    name: Name = Field(description="unit name, e.g. 相山区人民政府")
    parent: Name | None = Field(default=None, description="the registered unit above it")


class PersonIn(BaseModel):
    """The body of ``POST /directory/people`` (``rectify people add``)."""

    name: Name
    roles: list[Word] = Field(
        max_length=10, description="office, unit, acceptor, leader, discipline, public")
    unit: Name | None = Field(default=None, description="their (registered) unit")
    title: Short | None = Field(default=None, description="职务, e.g. 副市长")
    rank: Word | None = Field(
        default=None, description="职级: 省部级 厅局级 县处级 乡科级 其他")
    sectors: list[Name] = Field(default_factory=list, max_length=50,
                                description="包保领域 (问题类别) of a leader")


class ContactIn(BaseModel):
    """The body of ``POST /contacts`` (``rectify contacts add``)."""

    recipient: Name = Field(description="unit, leader or office name, as on issues")
    channel: Word = Field(description="log, email or webhook")
    address: Address = Field(description="e-mail address or webhook URL")
    options: dict[Word, Option] = Field(
        default_factory=dict, max_length=10,
        description="webhook options: preset (dingtalk, wecom, json), secret")


def _engine(request: Request) -> Engine:
    return request.app.state.engine


def _act(engine: Engine, caller: CallerDep) -> OfficeAct:
    return OfficeAct(caller.actor, engine.keys.current)


def _office_only(engine: Engine, caller: CallerDep, action: str) -> OfficeAct:
    """The caller's office act, refused (403) now unless the caller is the office."""
    act = _act(engine, caller)
    with engine.db.session() as session:
        act.check(session, action)
    return act


def _unit_row(unit: Any) -> dict[str, Any]:
    return {"name": unit.name, "parent": unit.parent}


def _person_row(person: Any) -> dict[str, Any]:
    return {"name": person.name, "title": person.title, "rank": person.rank,
            "rank_label": rank_label(person.rank), "unit": person.unit,
            "roles": person.roles, "sectors": person.sectors}


def router() -> APIRouter:
    """The administration routes."""
    routes = APIRouter()

    @routes.get("/directory/units", summary="Registered units",
                responses=problem_responses(401, 403))
    def list_units(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
        """Registered units (name, parent), as `rectify units list --json`."""
        engine = _engine(request)
        _office_only(engine, caller, "read the directory")
        return [_unit_row(u) for u in units(engine.db)]

    @routes.post("/directory/units", status_code=201, summary="Register a unit",
                 responses=problem_responses(401, 403, 422))
    def create_unit(request: Request, caller: CallerDep, body: UnitIn) -> dict[str, Any]:
        """Register a unit under a registered parent (or none), as `rectify units add`."""
        engine = _engine(request)
        unit_id = add_unit(engine.db, body.name, parent=body.parent, by=_act(engine, caller))
        shown = next(_unit_row(u) for u in units(engine.db) if u.id == unit_id)
        return {"id": unit_id, **shown}

    @routes.get("/directory/people", summary="Registered people",
                responses=problem_responses(401, 403))
    def list_people(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
        """Registered people with their roles, unit, title, rank and sectors, as
        `rectify people list --json`."""
        engine = _engine(request)
        _office_only(engine, caller, "read the directory")
        return [_person_row(p) for p in people(engine.db)]

    @routes.post("/directory/people", status_code=201, summary="Register a person",
                 responses=problem_responses(401, 403, 422))
    def create_person(request: Request, caller: CallerDep, body: PersonIn) -> dict[str, Any]:
        """Register a person with the roles they act in, as `rectify people add`."""
        engine = _engine(request)
        person_id = add_person(engine.db, body.name, roles=body.roles, unit=body.unit,
                               title=body.title, rank=body.rank, sectors=body.sectors,
                               by=_act(engine, caller))
        shown = next(_person_row(p) for p in people(engine.db) if p.id == person_id)
        return {"id": person_id, **shown}

    @routes.get("/contacts", summary="Recipients' contacts (masked)",
                responses=problem_responses(401, 403))
    def list_contacts(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
        """Recipients and their channels, tokens in addresses and secret options masked, as
        `rectify contacts list --json`."""
        engine = _engine(request)
        _office_only(engine, caller, "read contacts")
        return shown_contacts(engine.db)

    @routes.post("/contacts", status_code=201, summary="Add a contact",
                 responses=problem_responses(401, 403, 422))
    def create_contact(request: Request, caller: CallerDep, body: ContactIn) -> dict[str, Any]:
        """Say where a recipient is reached, as `rectify contacts add`: a webhook's host must
        be on the allowlist (RECTIFY_WEBHOOK_HOSTS). Answers the contact, masked."""
        engine = _engine(request)
        contact_id = add_contact(engine.db, body.recipient, body.channel, body.address,
                                 body.options, by=_act(engine, caller),
                                 hosts=engine.settings.webhook_hosts)
        return next(c for c in shown_contacts(engine.db) if c["id"] == contact_id)

    @routes.get("/outbox/dead", summary="Dead letters (masked)",
                responses=problem_responses(401, 403, 422))
    def dead_letters(request: Request, caller: CallerDep,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        """Dead letters, newest first: messages that failed every attempt (addresses and
        errors masked), as `rectify outbox dead --json`."""
        engine = _engine(request)
        _office_only(engine, caller, "read dead letters")
        return message_rows(engine.db, status="dead", limit=limit)

    @routes.post("/outbox/{message_id}/retry", summary="Retry a dead letter",
                 responses=problem_responses(401, 403, 404, 422))
    def retry_dead_letter(request: Request, caller: CallerDep,
                          message_id: MessageId) -> dict[str, Any]:
        """Put a dead letter back in the queue, due now, as `rectify outbox retry ID`.
        Answers the message as it is now."""
        engine = _engine(request)
        act = _office_only(engine, caller, "retry dead letters")
        message_detail(engine.db, message_id)  # 404 for a message that does not exist
        revived = retry(engine.db, [message_id], by=act, now=engine.clock.now())
        return {"revived": revived, "message": message_detail(engine.db, message_id)}

    @routes.get("/doctor", summary="Health checks (rectify doctor)",
                responses=problem_responses(401, 403))
    def doctor(request: Request, caller: CallerDep) -> dict[str, Any]:
        """The health checks of `rectify doctor --json` (database, broker, scheduler leader,
        leases, dead letters, contacts, lag): 200 with ``healthy`` false when any fails."""
        engine = _engine(request)
        _office_only(engine, caller, "read the health checks")
        checks = diagnose(engine.settings, RunSettings.from_env(), engine.clock.now())
        return checks_json(checks)

    return routes
