"""``Idempotency-Key`` on write requests: the first request with a key reserves it, runs, and
stores its answer; a repeat of the same request gets the stored answer back without running
again (``Idempotent-Replayed: true``); the same key with another request is refused.

A key belongs to the account that sent it and is kept ``KEEP`` (24 hours); after that it
may be used again. A repeat while the first is still running is told to retry (409 with
``Retry-After``), so two copies sent at once still act once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from workflow.db import Database
from workflow.errors import InputError, RequestInProgressError
from workflow.models import IdempotencyKey

HEADER = "Idempotency-Key"
KEEP = timedelta(hours=24)
MAX_KEY = 200


@dataclass(frozen=True)
class Stored:
    """The answer a request with a key got: status, JSON body, media type and ETag."""

    status: int
    body: Any
    media_type: str
    etag: str | None

    def response(self, *, replayed: bool) -> JSONResponse:
        headers = {"ETag": self.etag} if self.etag else {}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(self.body, status_code=self.status, media_type=self.media_type,
                            headers=headers)


def _in_use(key: str) -> RequestInProgressError:
    return RequestInProgressError(f"a request with {HEADER} {key!r} is still running; send "
                                  "it again in a moment to get its answer")


def request_hash(method: str, path: str, body: Any, if_match: str | None) -> str:
    """sha256 of what makes two requests the same request."""
    text = json.dumps([method, path, body, if_match], sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_key(key: str) -> str:
    """The key as sent, or InputError when it cannot be one."""
    if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        raise InputError(f"{HEADER} must be 1–{MAX_KEY} printable ASCII characters (a UUID "
                         "is a good key); got " + repr(key[:80]))
    return key


def run_once(db: Database, *, account_id: int, key: str, fingerprint: str, now: datetime,
             run: Callable[[], Stored]) -> JSONResponse:
    """Answer a request with ``key``: the stored answer of an earlier identical request, or
    ``run()``'s answer, stored for the next repeat. ``run`` gives problems as ``Stored``
    too (a repeat of a refused request is refused the same way); an unexpected error frees
    the key.

    Raises:
        InputError: the key was used with another request.
        RequestInProgressError: the first request with the key is still running.
    """
    earlier = _reserve(db, account_id=account_id, key=key, fingerprint=fingerprint, now=now)
    if earlier is not None:
        return earlier.response(replayed=True)
    try:
        answer = run()
    except BaseException:
        with db.session(write=True) as session:
            session.execute(delete(IdempotencyKey).where(
                IdempotencyKey.account_id == account_id, IdempotencyKey.key == key))
        raise
    with db.session(write=True) as session:
        row = session.scalar(select(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key == key))
        if row is not None:
            row.status_code, row.etag = answer.status, answer.etag
            row.response = json.dumps({"body": answer.body, "media_type": answer.media_type},
                                      ensure_ascii=False)
    return answer.response(replayed=False)


def _reserve(db: Database, *, account_id: int, key: str, fingerprint: str,
             now: datetime) -> Stored | None:
    """Reserve ``key`` (None), or the stored answer of the identical request that had it."""
    for _ in range(2):
        try:
            with db.session(write=True) as session:
                session.execute(delete(IdempotencyKey).where(
                    IdempotencyKey.account_id == account_id, IdempotencyKey.key == key,
                    IdempotencyKey.created_at < now - KEEP))
                session.add(IdempotencyKey(account_id=account_id, key=key,
                                           request_hash=fingerprint, created_at=now))
            return None
        except IntegrityError:
            pass
        with db.session() as session:
            row = session.scalar(select(IdempotencyKey).where(
                IdempotencyKey.account_id == account_id, IdempotencyKey.key == key))
        if row is None:  # freed in between: try again
            continue
        if row.request_hash != fingerprint:
            raise InputError(f"{HEADER} {key!r} was used with another request (another issue, "
                             "trigger, version or body); a key names one request — use a new "
                             "key for a new request")
        if row.status_code is None or row.response is None:
            raise _in_use(key)
        stored = json.loads(row.response)
        return Stored(row.status_code, stored["body"], stored["media_type"], row.etag)
    raise _in_use(key)
