"""The office's administration pages (系统管理): the health checks and the checkpoints with
the history's verification, the ledger import, the directory (units, people, accounts, API
tokens), the contacts and the dead letters.

The office's only: another role is answered 403 and sees no link. Every form posts the
session's CSRF token to a route here that calls the domain function the CLI and the JSON
API call (``rectify doctor``, ``verify``, ``ledger import``, ``units|people add``,
``accounts add|disable|reset-password|totp``, ``tokens create|revoke``, ``contacts add``,
``outbox retry``), as an ``OfficeAct`` of the signed-in person: the change is checked and put
on the audit trail in its own transaction, as the CLI's are. What the domain says of a refusal
is shown as it says it, under a Chinese lead; nothing changes. Secrets are masked wherever
shown; a new API token, or a one-time-code set-up, is shown once, on the page that made
it."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from workflow.api.page_issue import refusal
from workflow.api.pages import (
    ROLE_LABELS,
    csrf_refusal,
    frame,
    render,
    sign_in_again,
    signed_in,
)
from workflow.api.security import MAX_ID, actor_of
from workflow.auth import accounts, tokens
from workflow.auth.sessions import LiveSession
from workflow.auth.settings import parse_span
from workflow.clock import local
from workflow.config import RunSettings
from workflow.doctor import FAIL, diagnose, healthy
from workflow.errors import InputError, RectifyError
from workflow.issues.checkpoints import Checkpoint, read_log
from workflow.issues.engine import Engine
from workflow.issues.keys import TrustFiles
from workflow.issues.verification import verify
from workflow.models import WebSession
from workflow.notify.contacts import CONTACT_CHANNELS, WEBHOOK_PRESETS, add_contact, shown_contacts
from workflow.notify.delivery import retry
from workflow.notify.shown import message_rows
from workflow.org.actors import Actor
from workflow.org.directory import OfficeAct, add_person, add_unit, people, units
from workflow.org.ranks import RANKS, rank_label

CHECK_LABELS = {"database": "数据库", "broker": "消息队列", "leader": "调度主节点",
                "leases": "租约", "dead letters": "死信", "contacts": "联系人",
                "lag": "积压与延迟"}
STATUS_LABELS = {"ok": "正常", "warn": "注意", "fail": "异常"}
CHECKPOINTS_SHOWN = 5
DEAD_SHOWN = 200
UPLOAD_SUFFIXES = (".xlsx", ".csv")
TEXT_MAX = 200
SECTIONS = (("总览", "/admin"), ("台账导入", "/admin/import"), ("组织与账号", "/admin/directory"),
            ("联系人", "/admin/contacts"), ("死信", "/admin/dead-letters"))


def _text(form: FormData, name: str, limit: int = TEXT_MAX) -> str:
    return str(form.get(name) or "").strip()[:limit]


def _office(request: Request) -> tuple[LiveSession, Actor] | Response:
    """The signed-in office person and their actor; a page refusing anyone else."""
    live = signed_in(request)
    if live is None:
        return sign_in_again()
    engine: Engine = request.app.state.engine
    if live.account.role != "office":
        return render("notfound.html", 403, title="无权访问",
                      message="系统管理仅限整改办使用。", **frame(request, live))
    return live, actor_of(engine, live)


async def _posted(request: Request) -> tuple[LiveSession, Actor, FormData] | Response:
    """The office's form, its CSRF token checked; a refusal page otherwise (nothing read
    further, nothing changed)."""
    found = _office(request)
    if isinstance(found, Response):
        return found
    live, actor = found
    form = await request.form()
    if (refused := csrf_refusal(request, live, form)) is not None:
        return refused
    return live, actor, form


def _act(request: Request, actor: Actor) -> OfficeAct:
    engine: Engine = request.app.state.engine
    return OfficeAct(actor, engine.keys.current)


def _page(request: Request, live: LiveSession, template: str, title: str, status: int = 200,
          **values: Any) -> Response:
    return render(template, status, title=title, sections=SECTIONS, **frame(request, live),
                  **values)


def _lines(exc: RectifyError) -> tuple[int, list[str]]:
    """A refusal as the issue page answers it: 200 with the form again and the lines, 403
    for what the person may not do."""
    return refusal(exc)


# ---- the hub: doctor, checkpoints, verify ------------------------------------------------

def _checks(engine: Engine) -> dict[str, Any]:
    """``rectify doctor``'s checks, each labelled in Chinese with the CLI's own detail."""
    checks = diagnose(engine.settings, RunSettings.from_env(), engine.clock.now())
    return {"healthy": healthy(checks),
            "checks": [{"name": CHECK_LABELS.get(c.name, c.name), "key": c.name,
                        "status": c.status, "status_label": STATUS_LABELS.get(c.status, c.status),
                        "detail": c.detail} for c in checks],
            "failed": sum(c.status == FAIL for c in checks)}


def _checkpoints(files: TrustFiles) -> tuple[list[dict[str, Any]], list[str]]:
    """The latest checkpoints of the log, newest first, and the lines that did not parse."""
    found, unreadable = [], []
    for number, line in read_log(files.checkpoint_log):
        try:
            found.append(Checkpoint.parse(line))
        except (ValueError, KeyError, TypeError) as exc:
            unreadable.append(f"第 {number} 行无法解析：{exc}")
    shown = [{"seq": c.seq, "at": f"{local(c.at):%Y-%m-%d %H:%M:%S}", "digest": c.digest,
              "root": c.root, "issues": c.issues, "events": c.events, "key": c.key}
             for c in reversed(found[-CHECKPOINTS_SHOWN:])]
    return shown, unreadable


def _hub(request: Request, live: LiveSession, **values: Any) -> Response:
    engine: Engine = request.app.state.engine
    files = TrustFiles.for_database(engine.db.url)
    checkpoints, unreadable = _checkpoints(files)
    return _page(request, live, "admin.html", "系统管理", doctor=_checks(engine),
                 checkpoints=checkpoints, unreadable=unreadable,
                 checkpoint_log=str(files.checkpoint_log), **{"verified": None, **values})


def _verified(engine: Engine, with_checkpoints: bool) -> dict[str, Any]:
    """``rectify verify`` (``--checkpoints`` when asked): what it found, as it says it."""
    files = TrustFiles.for_database(engine.db.url) if with_checkpoints else None
    report = verify(engine, None, checkpoints=files)
    audit = "" if report.audit_records is None else f"，审计记录 {report.audit_records} 条"
    proved = f"，并以 {report.checkpoints} 个检查点证明" if report.checkpoints is not None else ""
    return {"ok": report.ok,
            "summary": f"问题 {report.issues} 个，事件 {report.events} 个，佐证材料 "
                       f"{report.evidence} 份{audit}{proved}",
            "problems": [{"issue_id": p.issue_id, "seq": p.seq, "text": str(p)}
                         for p in report.problems],
            "more": report.more, "unchecked": report.unchecked}


# ---- the directory -------------------------------------------------------------------------

def _unit_tree(found: list[Any]) -> list[dict[str, Any]]:
    """The units as a tree by parent, each level sorted by name."""
    children: dict[str | None, list[str]] = {}
    names = {u.name for u in found}
    for unit in found:
        parent = unit.parent if unit.parent in names else None
        children.setdefault(parent, []).append(unit.name)

    def grow(parent: str | None, seen: frozenset[str]) -> list[dict[str, Any]]:
        return [{"name": name, "children": grow(name, seen | {name})}
                for name in sorted(children.get(parent, [])) if name not in seen]

    return grow(None, frozenset())


def _last_sign_ins(engine: Engine) -> dict[int, str]:
    """Each account's latest sign-in (its newest session's start), Asia/Shanghai."""
    with engine.db.session() as session:
        rows = session.execute(select(WebSession.account_id, func.max(WebSession.created_at))
                               .group_by(WebSession.account_id)).all()
    return {account_id: f"{local(at):%Y-%m-%d %H:%M}" for account_id, at in rows if at}


def _when(value: Any) -> str:
    return f"{local(value):%Y-%m-%d %H:%M}" if value is not None else ""


def _directory(request: Request, live: LiveSession, status: int = 200, *,
               failed: str | None = None, messages: list[str] | None = None,
               entered: dict[str, str] | None = None, **values: Any) -> Response:
    engine: Engine = request.app.state.engine
    found_units = units(engine.db)
    everyone = people(engine.db)
    signed = _last_sign_ins(engine)
    shown_accounts = [{"id": a.id, "login": a.login, "person": a.person,
                       "role": ROLE_LABELS.get(a.role, a.role), "totp": a.totp,
                       "disabled": a.disabled, "last_sign_in": signed.get(a.id, "")}
                      for a in accounts.list_accounts(engine.db)]
    shown_tokens = [{"id": t.id, "login": t.login, "scope": t.scope,
                     "created_at": _when(t.created_at), "expires_at": _when(t.expires_at),
                     "revoked_at": _when(t.revoked_at), "last_used_at": _when(t.last_used_at),
                     "masked": f"{tokens.PREFIX}••••••••"}
                    for t in tokens.list_tokens(engine.db)]
    return _page(
        request, live, "admin_directory.html", "组织与账号", status,
        tree=_unit_tree(found_units), unit_names=sorted(u.name for u in found_units),
        people=[{"name": p.name, "roles": "、".join(ROLE_LABELS.get(r, r) for r in p.roles),
                 "unit": p.unit or "", "title": p.title or "", "rank": rank_label(p.rank) or "",
                 "sectors": "、".join(p.sectors)} for p in everyone],
        person_names=sorted(p.name for p in everyone), roles=list(ROLE_LABELS.items()),
        ranks=list(RANKS.items()), accounts=shown_accounts, tokens=shown_tokens,
        scopes=tokens.SCOPES, logins=sorted(a["login"] for a in shown_accounts
                                            if not a["disabled"]),
        failed=failed, messages=messages or [], entered=entered or {},
        done=DONE.get(request.query_params.get("done", "")[:40]), **values)


DONE = {"unit": "单位已登记", "person": "人员已登记", "account": "账号已添加",
        "disabled": "账号已停用，其会话和令牌已立即失效", "password": "密码已重置，其会话已结束",
        "revoked": "令牌已吊销", "contact": "联系人已添加", "retried": "已重新排队，立即投递"}


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.replace("，", "、").replace(",", "、").split("、")
            if part.strip()]


def _parse_day(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"日期 {text!r} 格式有误，须为 YYYY-MM-DD，如 2027-06-30") from None


# ---- the import --------------------------------------------------------------------------

def _upload_name(upload: UploadFile) -> str:
    """The uploaded file's own name (no folders), checked to be a ledger's kind."""
    name = Path(str(upload.filename or "")).name[-120:]
    if not name or Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise InputError(f"请选择台账文件（.xlsx 或 .csv），收到的是 {name or '（无文件）'!r}")
    return name


async def _save(upload: UploadFile, path: Path) -> None:
    """Copy the upload to ``path``, refusing it past the import's size limit."""
    from workflow.documents.ledger_file import MAX_FILE_BYTES

    written = 0
    with path.open("wb") as out:
        while chunk := await upload.read(1 << 20):
            written += len(chunk)
            if written > MAX_FILE_BYTES:
                raise InputError(f"台账文件超过 {MAX_FILE_BYTES >> 20} MB，未导入；"
                                 "请拆分后分别导入")
            out.write(chunk)


def _run_import(engine: Engine, path: Path, actor: Actor, entered: dict[str, Any]
                ) -> dict[str, Any]:
    """``rectify ledger import``: the result as the page shows it, or the problems."""
    from workflow.documents.ledger_import import LedgerError, import_ledger

    try:
        result = import_ledger(engine, path, plan=entered["plan"], actor=actor,
                               sheet=entered["sheet"] or None,
                               as_of=_parse_day(entered["as_of"]),
                               facts_only=entered["facts_only"])
    except LedgerError as exc:
        return {"imported": False, "head": str(exc).splitlines()[0],
                "problems": [p.as_dict() for p in exc.problems],
                "conflicts": [str(c) for c in exc.conflicts]}
    return {"imported": True, "result": result.as_dict(),
            "line": f"{path.name} (sha256 {result.sha256[:12]}…, as of {result.as_of}) → "
                    f"{entered['plan']}: {result.rows} rows; {result.created} created, "
                    f"{result.updated} updated, {result.unchanged} unchanged"}


def router() -> APIRouter:
    """The administration pages (not in the OpenAPI document)."""
    routes = APIRouter(include_in_schema=False)

    @routes.get("/admin")
    def hub(request: Request) -> Response:
        """The health checks of ``rectify doctor``, the latest checkpoints, the links."""
        found = _office(request)
        if isinstance(found, Response):
            return found
        return _hub(request, found[0])

    @routes.post("/admin/verify")
    async def run_verify(request: Request) -> Response:
        """``rectify verify``: replays every chain and the audit trail (in a worker thread:
        the other requests go on meanwhile)."""
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        live, _actor, form = posted
        engine: Engine = request.app.state.engine
        try:
            verified = await run_in_threadpool(_verified, engine,
                                               form.get("checkpoints") == "1")
        except RectifyError as exc:
            return _hub(request, live, error=_lines(exc)[1])
        return _hub(request, live, verified=verified)

    @routes.get("/admin/import")
    def import_page(request: Request) -> Response:
        found = _office(request)
        if isinstance(found, Response):
            return found
        return _page(request, found[0], "admin_import.html", "台账导入", outcome=None,
                     messages=[], entered={})

    @routes.post("/admin/import")
    async def import_file(request: Request) -> Response:
        """Import the uploaded ledger, all or nothing, as ``rectify ledger import``."""
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        live, actor, form = posted
        engine: Engine = request.app.state.engine
        entered = {"plan": _text(form, "plan"), "sheet": _text(form, "sheet"),
                   "as_of": _text(form, "as_of", 10), "facts_only": form.get("facts_only") == "1"}
        upload = form.get("file")
        try:
            if not entered["plan"]:
                raise InputError("请填写整改方案名称（--plan）：导入的行归入该方案，"
                                 "方案不存在时新建")
            if not isinstance(upload, UploadFile):
                raise InputError("请选择台账文件（.xlsx 或 .csv）")
            name = _upload_name(upload)
            with tempfile.TemporaryDirectory(prefix="rectify-import-") as folder:
                path = Path(folder) / name
                await _save(upload, path)
                outcome = await run_in_threadpool(_run_import, engine, path, actor, entered)
        except RectifyError as exc:
            status, lines = _lines(exc)
            return _page(request, live, "admin_import.html", "台账导入", status, outcome=None,
                         messages=lines, entered=entered)
        return _page(request, live, "admin_import.html", "台账导入",
                     outcome=outcome, messages=[],
                     entered=entered)

    @routes.get("/admin/directory")
    def directory_page(request: Request) -> Response:
        found = _office(request)
        if isinstance(found, Response):
            return found
        return _directory(request, found[0])

    async def _change(request: Request, what: str, fields: tuple[str, ...], run: Any,
                      done: str) -> Response:
        """A directory form: ``run(engine, act, form, entered)`` does the change; a refusal
        shows the form again with what was typed (never a password)."""
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        live, actor, form = posted
        engine: Engine = request.app.state.engine
        entered = {name: _text(form, name) for name in fields}
        try:
            shown = run(engine, _act(request, actor), form, entered)
        except RectifyError as exc:
            status, lines = _lines(exc)
            return _directory(request, live, status, failed=what, messages=lines,
                              entered=entered)
        if shown is not None:
            return shown(live)
        return RedirectResponse(f"/admin/directory?done={done}#{what}", status_code=303)

    @routes.post("/admin/units")
    async def create_unit(request: Request) -> Response:
        """``rectify units add``."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> None:
            if not entered["name"]:
                raise InputError("请填写单位名称")
            add_unit(engine.db, entered["name"], parent=entered["parent"] or None, by=act)

        return await _change(request, "unit", ("name", "parent"), run, "unit")

    @routes.post("/admin/people")
    async def create_person(request: Request) -> Response:
        """``rectify people add``."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> None:
            if not entered["name"]:
                raise InputError("请填写姓名")
            roles = [str(r)[:32] for r in form.getlist("roles")][:10]
            if not roles:
                raise InputError("请至少选择一个角色：" + "、".join(ROLE_LABELS.values()))
            add_person(engine.db, entered["name"], roles=roles, unit=entered["unit"] or None,
                       title=entered["title"] or None, rank=entered["rank"] or None,
                       sectors=_split(entered["sectors"])[:50], by=act)

        return await _change(request, "person", ("name", "unit", "title", "rank", "sectors"),
                             run, "person")

    @routes.post("/admin/accounts")
    async def create_account(request: Request) -> Response:
        """``rectify accounts add``: the password at least 10 characters, not the login."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> None:
            accounts.add_account(engine.db, entered["login"], person=entered["person"],
                                 password=str(form.get("password") or "")[:4096], by=act,
                                 now=engine.clock.now(), role=entered["account_role"] or None)

        return await _change(request, "account", ("login", "person", "account_role"), run,
                             "account")

    @routes.post("/admin/accounts/{account_id}/disable")
    async def disable_account(request: Request, account_id: str) -> Response:
        """``rectify accounts disable``: its sessions and tokens end at once."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> None:
            accounts.disable_account(engine.db, _login(engine, account_id), by=act,
                                     now=engine.clock.now())

        return await _change(request, "accounts", (), run, "disabled")

    @routes.post("/admin/accounts/{account_id}/password")
    async def reset_password(request: Request, account_id: str) -> Response:
        """``rectify accounts reset-password``: its sessions end."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> None:
            accounts.reset_password(engine.db, _login(engine, account_id),
                                    password=str(form.get("password") or "")[:4096], by=act,
                                    now=engine.clock.now())

        return await _change(request, "accounts", (), run, "password")

    @routes.post("/admin/accounts/{account_id}/totp")
    async def set_up_totp(request: Request, account_id: str) -> Response:
        """``rectify accounts totp``: the provisioning URI is shown once, on the answer."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> Any:
            login = _login(engine, account_id)
            uri = accounts.set_up_totp(engine.db, login, by=act, now=engine.clock.now())
            return lambda live: _directory(request, live, totp_uri=uri, totp_login=login)

        return await _change(request, "accounts", (), run, "totp")

    @routes.post("/admin/tokens")
    async def create_token(request: Request) -> Response:
        """``rectify tokens create``: the token is shown once, on the answer to this form;
        only its hash is kept."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> Any:
            span = parse_span(entered["expires"], "有效期") if entered["expires"] else None
            token_id, secret = tokens.create_token(
                engine.db, entered["login"], scope=entered["scope"] or tokens.READ,
                expires=span, by=act, now=engine.clock.now())
            return lambda live: _directory(request, live, secret=secret, secret_id=token_id,
                                           secret_login=entered["login"])

        return await _change(request, "token", ("login", "scope", "expires"), run, "token")

    @routes.post("/admin/tokens/{token_id}/revoke")
    async def revoke_token(request: Request, token_id: str) -> Response:
        """``rectify tokens revoke``."""
        def run(engine: Engine, act: OfficeAct, form: FormData, entered: dict[str, str]) -> None:
            tokens.revoke_token(engine.db, _number(token_id, "令牌"), by=act,
                                now=engine.clock.now())

        return await _change(request, "tokens", (), run, "revoked")

    @routes.get("/admin/contacts")
    def contacts_page(request: Request) -> Response:
        found = _office(request)
        if isinstance(found, Response):
            return found
        return _contacts(request, found[0])

    @routes.post("/admin/contacts")
    async def create_contact(request: Request) -> Response:
        """``rectify contacts add``: a webhook's host must be on the allowlist."""
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        live, actor, form = posted
        engine: Engine = request.app.state.engine
        entered = {name: _text(form, name, 500) for name in
                   ("recipient", "channel", "address", "preset")}
        options = {k: v for k, v in (("preset", entered["preset"]),
                                     ("secret", _text(form, "secret", 500))) if v}
        try:
            add_contact(engine.db, entered["recipient"], entered["channel"], entered["address"],
                        options, by=_act(request, actor), hosts=engine.settings.webhook_hosts)
        except RectifyError as exc:
            status, lines = _lines(exc)
            return _contacts(request, live, status, messages=lines, entered=entered)
        return RedirectResponse("/admin/contacts?done=contact", status_code=303)

    @routes.get("/admin/dead-letters")
    def dead_letters_page(request: Request) -> Response:
        found = _office(request)
        if isinstance(found, Response):
            return found
        return _dead_letters(request, found[0])

    @routes.post("/admin/dead-letters/{message_id}/retry")
    async def retry_dead_letter(request: Request, message_id: str) -> Response:
        """``rectify outbox retry ID``: back in the queue, due now."""
        posted = await _posted(request)
        if isinstance(posted, Response):
            return posted
        live, actor, _form = posted
        engine: Engine = request.app.state.engine
        try:
            retry(engine.db, [_number(message_id, "通知")], by=_act(request, actor),
                  now=engine.clock.now())
        except RectifyError as exc:
            status, lines = _lines(exc)
            return _dead_letters(request, live, status, messages=lines)
        return RedirectResponse("/admin/dead-letters?done=retried", status_code=303)

    return routes


def _number(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise InputError(f"{what}编号 {text[:20]!r} 有误，须为正整数")
    return int(text)


def _login(engine: Engine, account_id: str) -> str:
    account = accounts.account_by_id(engine.db, _number(account_id, "账号"))
    if account is None:
        raise InputError(f"账号 {account_id[:20]} 不存在")
    return account.login


def _contacts(request: Request, live: LiveSession, status: int = 200,
              messages: list[str] | None = None, entered: dict[str, str] | None = None
              ) -> Response:
    engine: Engine = request.app.state.engine
    return _page(request, live, "admin_contacts.html", "联系人", status,
                 contacts=shown_contacts(engine.db), channels=CONTACT_CHANNELS,
                 presets=WEBHOOK_PRESETS, hosts=", ".join(engine.settings.webhook_hosts.names),
                 messages=messages or [], entered=entered or {},
                 done=DONE.get(request.query_params.get("done", "")[:40]))


def _dead_letters(request: Request, live: LiveSession, status: int = 200,
                  messages: list[str] | None = None) -> Response:
    engine: Engine = request.app.state.engine
    return _page(request, live, "admin_dead_letters.html", "死信", status,
                 letters=message_rows(engine.db, status="dead", limit=DEAD_SHOWN),
                 most=DEAD_SHOWN, messages=messages or [],
                 done=DONE.get(request.query_params.get("done", "")[:40]))
