"""What is kept of a webhook receiver's reply: its status code always, and at most
``REPLY_LIMIT`` characters of its text only from a host whose answers may be shown (the
hosts of ``RECTIFY_WEBHOOK_HOSTS``, the robot hosts unless set), never from any other host,
so a contact pointed at an internal service cannot read that service's answers back through
the outbox.
"""

from __future__ import annotations

from collections.abc import Collection

from workflow.config import ROBOT_HOSTS

REPLY_LIMIT = 200
NOT_KEPT = "(reply not kept: the host is not on the webhook allowlist)"


def may_show_reply(host: str | None, shown_hosts: Collection[str] = ROBOT_HOSTS) -> bool:
    """Whether replies from ``host`` may be stored and shown."""
    return bool(host) and host.lower().rstrip(".") in shown_hosts


def reply_excerpt(host: str | None, reply: bytes | str,
                  shown_hosts: Collection[str] = ROBOT_HOSTS) -> str:
    """The part of ``reply`` that may be kept: at most ``REPLY_LIMIT`` characters from a
    host in ``shown_hosts``, else a note that it was not kept."""
    if not may_show_reply(host, shown_hosts):
        return NOT_KEPT
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    return text[:REPLY_LIMIT]
