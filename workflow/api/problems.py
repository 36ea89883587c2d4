"""Errors as RFC 9457 ``application/problem+json``: the engine's message as ``detail``, and a
stable ``type`` per error class of ``workflow.errors``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from workflow import errors

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:rectify:problem:"

# Most specific first: the first class an error is an instance of gives its answer.
PROBLEMS: tuple[tuple[type[errors.RectifyError], int, str, str], ...] = (
    (errors.LockedOutError, 429, "locked-out", "登录已锁定 / sign-in locked"),
    (errors.AuthenticationError, 401, "unauthenticated", "未登录 / not signed in"),
    (errors.RequestRefusedError, 403, "refused", "请求被拒绝 / request refused"),
    (errors.OutOfScopeError, 404, "not-found", "未找到 / not found"),
    (errors.NotFoundError, 404, "not-found", "未找到 / not found"),
    (errors.VersionRequiredError, 428, "version-required", "需要版本号 / version required"),
    (errors.StaleVersionError, 412, "stale-version", "版本已变 / changed by someone else"),
    (errors.RequestInProgressError, 409, "in-progress", "请求处理中 / still running"),
    (errors.ConflictError, 409, "conflict", "版本冲突 / changed by someone else"),
    (errors.IllegalTriggerError, 409, "illegal-trigger", "当前状态不允许 / not allowed now"),
    (errors.PermissionDeniedError, 403, "permission-denied", "无权操作 / role not allowed"),
    (errors.RequirementError, 422, "requirement", "缺少必要材料 / requirements missing"),
    (errors.ActionDeniedError, 403, "action-denied", "无权操作 / role not allowed"),
    (errors.DefinitionError, 422, "definition", "流程定义有误 / definition faults"),
    (errors.InputError, 422, "bad-input", "输入有误 / bad input"),
    (errors.ConfigurationError, 503, "configuration", "服务未就绪 / not configured"),
    (errors.DeliveryError, 502, "delivery", "投递失败 / delivery failed"),
    (errors.RectifyError, 500, "error", "错误 / error"),
)
HTTP_TITLES = {401: "unauthenticated", 403: "refused", 404: "not-found",
               405: "method-not-allowed", 422: "bad-input"}


class Problem(BaseModel):
    """An RFC 9457 problem, as every error is answered."""

    type: str
    title: str
    status: int
    detail: str
    instance: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route answering ``statuses`` as problems, for the OpenAPI
    document."""
    schema = Problem.model_json_schema()
    return {status: {"content": {MEDIA_TYPE: {"schema": schema}},
                     "description": HTTP_DESCRIPTIONS.get(status, "problem")}
            for status in statuses}


HTTP_DESCRIPTIONS = {401: "not signed in", 403: "refused", 404: "no such thing",
                     409: "not allowed in the current state", 422: "bad input",
                     429: "too many requests; see Retry-After"}


def problem(status: int, slug: str, title: str, detail: str, request: Request,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """One problem response."""
    body = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": detail,
            "instance": request.url.path, **extra}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def engine_problem(request: Request, exc: Exception) -> JSONResponse:
    """The answer to an engine error. An issue outside the caller's scope is answered
    exactly like one that does not exist, so existence does not leak."""
    assert isinstance(exc, errors.RectifyError)
    status, slug, title = next((s, g, t) for cls, s, g, t in PROBLEMS if isinstance(exc, cls))
    detail = str(exc)
    if isinstance(exc, errors.OutOfScopeError):
        detail = f"issue {exc.issue_id} does not exist"
    headers = {}
    if isinstance(exc, errors.RequestInProgressError):
        headers["Retry-After"] = "1"
    if isinstance(exc, errors.LockedOutError):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, errors.AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="rectify"'
    return problem(status, slug, title, detail, request, headers)


def internal_problem(request: Request, exc: Exception) -> JSONResponse:
    """An error nobody foresaw: logged with its traceback on the server, answered as a
    problem that says only that — never the traceback."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(500, "internal", "内部错误 / internal error",
                   "the server failed to answer this request; it is logged — tell the "
                   "office's administrator the time and the path", request)


def http_problem(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (no such route, method not allowed) as problems."""
    assert isinstance(exc, HTTPException)
    slug = HTTP_TITLES.get(exc.status_code, "http")
    return problem(exc.status_code, slug, slug.replace("-", " "), str(exc.detail), request,
                   dict(exc.headers or {}))


def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """A request whose parameters or body do not parse: every problem, where it was."""
    assert isinstance(exc, RequestValidationError)
    faults = [f"{'.'.join(str(p) for p in fault['loc'])}: {fault['msg']}"
              for fault in exc.errors()]
    return problem(422, "bad-input", "输入有误 / bad input", "; ".join(faults), request,
                   errors=faults)
