"""Delivery channels for outbox messages: the log, SMTP e-mail and webhooks (plain JSON,
DingTalk and WeCom group robots).

A channel sends one ``OutgoingMessage`` and raises ``DeliveryError`` when it could not; it
never touches the database. The outbox decides what is due, records the outcome and retries.
Delivery is at-least-once, so every channel passes the message's dedupe key along
(``Idempotency-Key`` header, ``X-Idempotency-Key`` and a stable ``Message-ID`` in e-mail)
for the receiver to drop a repeat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import smtplib
import threading
import urllib.parse
from collections import deque
from collections.abc import Collection, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any

from workflow.clock import Clock, SystemClock
from workflow.config import Settings, WebhookHosts, positive_number
from workflow.errors import ConfigurationError, DeliveryError, PermanentDeliveryError
from workflow.notify.replies import reply_excerpt

logger = logging.getLogger(__name__)

LOG, EMAIL, WEBHOOK = "log", "email", "webhook"
PRESETS = ("json", "dingtalk", "wecom")
DEFAULT_TIMEOUT = 10.0
# WeCom refuses markdown content over 4096 bytes (errcode 40058); DingTalk allows 20000.
WECOM_MARKDOWN_LIMIT = 4096
DINGTALK_MARKDOWN_LIMIT = 20000
USER_AGENT = "rectify-notify/1"
TRUE_WORDS, FALSE_WORDS = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class OutgoingMessage:
    """One claimed outbox row, ready to send.

    Attributes:
        id: the outbox row id.
        dedupe_key: unique key of the notice; sent along as the idempotency key.
        recipient: who it is for (a unit, a leader, the office).
        channel: name of the channel that sends it (``log``, ``email``, ``webhook``).
        address: where the channel delivers it (an e-mail address, a webhook URL, a name).
        subject: one-line subject.
        body: plain-text body.
        kind: ``reminder``, ``notice`` or ``digest``.
        level: the timer level that produced it (``reminder:3 days``, ``red``...).
        issue_id: the issue it is about (None for a digest).
        attempt: 1-based number of this delivery attempt.
        options: the recipient's contact options (webhook ``preset`` and ``secret``).
    """

    id: int
    dedupe_key: str
    recipient: str
    channel: str
    address: str | None
    subject: str
    body: str
    kind: str
    level: str
    issue_id: int | None
    attempt: int = 1
    options: Mapping[str, Any] = field(default_factory=dict)


def idempotency_key(dedupe_key: str) -> str:
    """The dedupe key as an ASCII header value (percent-encoded, so names in Chinese and
    URLs survive HTTP and mail headers; ``urllib.parse.unquote`` gives the key back)."""
    return urllib.parse.quote(dedupe_key, safe=":@")


# Query parameters that carry a robot's token or signature, and contact options that are
# secrets: masked wherever an address or its options are shown (listings, logs, errors).
SECRET_PARAMETERS = ("access_token", "key", "token", "sign", "secret")
SECRET_OPTIONS = ("secret",)
HIDDEN = "（已隐藏）"
_SECRET_QUERY = re.compile(r"(?i)([?&;](?:" + "|".join(SECRET_PARAMETERS) + r")=)([^&#\s'\"]+)")
_HOOK_PATH = re.compile(r"(/hook/)([^/?#\s'\"]+)")  # Feishu and Lark: the token is the path
_PASSWORD = re.compile(r"(://[^/\s:@]+:)([^/\s@]+)(@)")


def hidden(value: str) -> str:
    """A secret as shown: its first two characters when it is long enough to keep the rest
    unguessable, then the marker."""
    return f"{value[:2]}…{HIDDEN}" if len(value) >= 8 else HIDDEN


def mask_secrets(text: str) -> str:
    """``text`` (a URL, an error, a dedupe key) with every token in it masked: the query
    parameters ``SECRET_PARAMETERS``, a Feishu or Lark hook token, a password in a URL."""
    text = _SECRET_QUERY.sub(lambda m: m.group(1) + hidden(m.group(2)), text)
    text = _HOOK_PATH.sub(lambda m: m.group(1) + hidden(m.group(2)), text)
    return _PASSWORD.sub(lambda m: m.group(1) + HIDDEN + m.group(3), text)


def mask_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Contact options as shown: the secret ones masked."""
    return {key: hidden(str(value)) if key in SECRET_OPTIONS and value else value
            for key, value in options.items()}


def webhook_refusal(url: str, hosts: WebhookHosts) -> str | None:
    """Why ``url`` may not be a webhook address under the allowlist ``hosts`` (the rule and
    the allowed hosts named), or None when it may."""
    allowed = ", ".join(hosts.names)
    try:
        target = urllib.parse.urlsplit(url)
        host = (target.hostname or "").lower()
        target.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        host, target = "", None
    if target is None or target.scheme not in ("http", "https") or not host:
        return (f"webhook address {mask_secrets(url)!r} is not an https:// URL with a host; "
                f"allowed hosts (RECTIFY_WEBHOOK_HOSTS): {allowed}")
    if host not in hosts.names:
        return (f"webhook host {host!r} is not on the allowlist; allowed hosts "
                f"(RECTIFY_WEBHOOK_HOSTS): {allowed}")
    if target.scheme != "https" and not hosts.plain_http:
        return (f"webhook address for {host} must use https://; plain http:// is allowed only "
                "for hosts listed in RECTIFY_WEBHOOK_HOSTS")
    return None


class Channel:
    """A way to deliver a message. Subclasses set ``name`` and implement ``send``, and
    ``timeout``: the seconds one send may wait on a server (0 for one that waits on none)."""

    name: str = ""
    timeout: float = 0.0

    def send(self, message: OutgoingMessage) -> None:
        """Deliver ``message`` or raise.

        Raises:
            DeliveryError: the message was not accepted; the outbox retries it.
        """
        raise NotImplementedError


class LogChannel(Channel):
    """Writes messages to the log, keeps the last ``KEEP`` in ``messages`` and, when ``path``
    is given, appends each as one JSON line (the default channel, and what tests and demos
    read).

    Args:
        path: a JSON-lines file to append to; None keeps the messages in memory only.
    """

    name = LOG
    KEEP = 1000

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self.messages: deque[OutgoingMessage] = deque(maxlen=self.KEEP)
        self._lock = threading.Lock()

    def send(self, message: OutgoingMessage) -> None:
        logger.info("notification %s to %s: %s", message.id, message.recipient, message.subject)
        with self._lock:
            self.messages.append(message)
            if self.path is not None:
                record = {key: value for key, value in asdict(message).items()
                          if key != "options"}
                try:
                    with self.path.open("a", encoding="utf-8") as stream:
                        stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                except OSError as exc:
                    raise DeliveryError(f"cannot append to the notification log {self.path}: "
                                        f"{exc}") from exc

    def read(self) -> list[dict[str, Any]]:
        """The records appended to ``path`` so far (empty without a path)."""
        if self.path is None or not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as stream:
            return [json.loads(line) for line in stream if line.strip()]


class EmailChannel(Channel):
    """Sends plain-text UTF-8 e-mail through an SMTP server; ``message.address`` is the
    recipient's e-mail address.

    Args:
        host: SMTP server host.
        port: SMTP server port.
        sender: the ``From`` address, e.g. ``整改办 <rectify@example.gov.cn>``.
        starttls: upgrade the connection with STARTTLS (usually port 587).
        ssl: connect with implicit TLS (usually port 465).
        username: log in with this user (with ``password``) when given.
        password: the SMTP password.
        timeout: seconds to wait for the server.
    """

    name = EMAIL

    def __init__(self, host: str, port: int, sender: str, *, starttls: bool = False,
                 ssl: bool = False, username: str | None = None, password: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT):
        if starttls and ssl:
            raise ConfigurationError("SMTP: choose STARTTLS or implicit TLS (SSL), not both")
        self.host, self.port, self.sender = host, port, sender
        self.starttls, self.ssl = starttls, ssl
        self.username, self.password, self.timeout = username, password, timeout

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        """The e-mail for ``message``; its ``Message-ID`` depends only on the dedupe key, so
        a repeated delivery carries the same id and mail clients show it once."""
        if not message.address:
            raise DeliveryError(f"notification {message.id}: no e-mail address for "
                                f"{message.recipient}")
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = Address(display_name=message.recipient, addr_spec=message.address)
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False, usegmt=True)
        digest = hashlib.sha256(message.dedupe_key.encode("utf-8")).hexdigest()[:40]
        domain = self.sender.rpartition("@")[2].strip(" >") if "@" in self.sender else ""
        email["Message-ID"] = f"<rectify.{digest}@{domain or 'rectify.invalid'}>"
        email["X-Idempotency-Key"] = idempotency_key(message.dedupe_key)
        email["X-Rectify-Notification"] = str(message.id)
        email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        # base64 keeps Chinese text intact through relays that are not 8-bit clean.
        email.set_content(message.body, charset="utf-8", cte="base64")
        return email

    def send(self, message: OutgoingMessage) -> None:
        email = self.compose(message)
        try:
            if self.ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port,
                                                        timeout=self.timeout)
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.starttls:
                    client.starttls()
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(email)
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port} did not accept notification "
                                f"{message.id} for {message.address}: {exc}") from exc


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """``url`` with DingTalk's ``timestamp`` and ``sign`` query parameters: the base64
    HMAC-SHA256 of ``"{timestamp}\\n{secret}"`` keyed with the secret, URL-encoded."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={sign}"


def _clip_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = "\n……（内容过长，已截断）"
    room = limit - len(marker.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + marker


def webhook_payload(message: OutgoingMessage, preset: str) -> dict[str, Any]:
    """The JSON body a webhook preset posts.

    ``json`` posts the message fields; ``dingtalk`` and ``wecom`` post the group robots'
    markdown message formats.
    """
    if preset == "dingtalk":
        # DingTalk markdown needs a blank line for a line break.
        text = f"#### {message.subject}\n\n" + message.body.replace("\n", "\n\n")
        return {"msgtype": "markdown",
                "markdown": {"title": message.subject,
                             "text": _clip_utf8(text, DINGTALK_MARKDOWN_LIMIT)}}
    if preset == "wecom":
        content = f"**{message.subject}**\n{message.body}"
        return {"msgtype": "markdown",
                "markdown": {"content": _clip_utf8(content, WECOM_MARKDOWN_LIMIT)}}
    if preset == "json":
        return {"id": message.id, "dedupe_key": message.dedupe_key, "kind": message.kind,
                "level": message.level, "issue_id": message.issue_id,
                "recipient": message.recipient, "subject": message.subject,
                "body": message.body}
    raise DeliveryError(f"notification {message.id}: unknown webhook preset {preset!r}; "
                        f"allowed: {', '.join(PRESETS)}")


class WebhookChannel(Channel):
    """POSTs a message as JSON with an ``Idempotency-Key`` header.

    The URL, preset and secret given here are defaults: a message's ``address`` is its URL,
    and its contact options ``preset`` and ``secret`` override the others, so one channel
    serves every group robot.

    Args:
        url: URL used when a message has no address.
        preset: ``json``, ``dingtalk`` or ``wecom``.
        secret: DingTalk signing secret (``SEC…``); adds ``timestamp`` and ``sign``.
        timeout: seconds to wait for the reply.
        clock: the time DingTalk's signature carries (it refuses one older than an hour).
        hosts: the allowlist every URL is checked against before it is sent (a contact
            whose host was taken off it is refused for good, ``PermanentDeliveryError``).
        reply_hosts: hosts whose replies may be kept in an error (``notify.replies``);
            default the allowlist's.
    """

    name = WEBHOOK

    def __init__(self, url: str | None = None, *, preset: str = "json",
                 secret: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                 clock: Clock | None = None, hosts: WebhookHosts | None = None,
                 reply_hosts: Collection[str] | None = None):
        if preset not in PRESETS:
            raise ConfigurationError(f"webhook preset {preset!r} is unknown; allowed: "
                                     f"{', '.join(PRESETS)}")
        self.url, self.preset, self.secret = url, preset, secret
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self.hosts = hosts or WebhookHosts()
        self.reply_hosts = self.hosts.names if reply_hosts is None else reply_hosts
        # One kept-alive connection per thread and host: http.client costs a third of the
        # CPU of a pooling client per request (docs/performance.md), and the outbox
        # already decides retries, so no pool logic is needed on top.
        self._local = threading.local()

    def prepare(self, message: OutgoingMessage) -> tuple[str, bytes, dict[str, str]]:
        """The HTTP request for ``message``: URL (with signature), JSON body and headers."""
        url = message.address or self.url
        if not url:
            raise DeliveryError(f"notification {message.id}: no webhook URL for "
                                f"{message.recipient}")
        refusal = webhook_refusal(url, self.hosts)
        if refusal:
            raise PermanentDeliveryError(f"notification {message.id} not sent: {refusal}")
        preset = str(message.options.get("preset") or self.preset)
        secret = message.options.get("secret") or self.secret
        if preset == "dingtalk" and secret:
            timestamp_ms = int(self.clock.now().timestamp() * 1000)
            url = dingtalk_signed_url(url, str(secret), timestamp_ms)
        data = json.dumps(webhook_payload(message, preset), ensure_ascii=False).encode()
        return url, data, {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": idempotency_key(message.dedupe_key),
            "User-Agent": USER_AGENT,
        }

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        cache: dict[tuple[str, str], http.client.HTTPConnection] = \
            self._local.__dict__.setdefault("connections", {})
        connection = cache.get((scheme, netloc))
        if connection is None:
            kind = http.client.HTTPSConnection if scheme == "https" else \
                http.client.HTTPConnection
            connection = cache[(scheme, netloc)] = kind(netloc, timeout=self.timeout)
        return connection

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self._local.__dict__.get("connections", {}).pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def _post(self, url: str, data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """POST over this thread's kept-alive connection to the host; once more on a fresh
        connection when the server had closed an idle one (nothing was answered)."""
        target = urllib.parse.urlsplit(url)
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        for attempt in (1, 2):
            connection = self._connection(target.scheme, target.netloc)
            reused = connection.sock is not None
            try:
                connection.request("POST", path, body=data, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop(target.scheme, target.netloc)
                if not reused or attempt == 2:
                    raise
            except BaseException:
                self._drop(target.scheme, target.netloc)
                raise
        raise AssertionError("unreachable")

    def send(self, message: OutgoingMessage) -> None:
        url, data, headers = self.prepare(message)
        preset = str(message.options.get("preset") or self.preset)
        target = urllib.parse.urlsplit(url)
        where = mask_secrets(f"{target.scheme}://{target.netloc}{target.path}")
        try:
            status, reply = self._post(url, data, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"webhook {where} unreachable: {exc}") from exc
        if status >= 300:
            raise DeliveryError(f"webhook {where} answered HTTP {status}: "
                                f"{reply_excerpt(target.hostname, reply, self.reply_hosts)}")
        if preset in ("dingtalk", "wecom"):
            # The robots answer 200 even when they refuse; the verdict is in errcode.
            try:
                answer = json.loads(reply or b"{}")
            except ValueError as exc:
                raise DeliveryError(f"webhook {where} answered non-JSON: "
                                    f"{reply_excerpt(target.hostname, reply, self.reply_hosts)}"
                                    ) from exc
            code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
            if code != 0:
                message_text = str(answer.get("errmsg", ""))
                raise DeliveryError(
                    f"webhook {where} refused the message: errcode {str(code)[:20]} "
                    f"{reply_excerpt(target.hostname, message_text, self.reply_hosts)}")


class ChannelRegistry(Mapping[str, Channel]):
    """Channels by name, as the outbox looks them up.

    Args:
        channels: the channels to register; a later one replaces an earlier of the same name.
    """

    def __init__(self, channels: list[Channel] | tuple[Channel, ...] = ()):
        self._channels: dict[str, Channel] = {}
        for channel in channels:
            self.register(channel)

    def register(self, channel: Channel) -> None:
        if not channel.name:
            raise ConfigurationError(f"{type(channel).__name__} has no name; set Channel.name")
        self._channels[channel.name] = channel

    def __getitem__(self, name: str) -> Channel:
        return self._channels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a yes/no value; use 1/0, true/false, "
                             "yes/no or on/off")


def channels_from_env(environ: Mapping[str, str] | None = None) -> ChannelRegistry:
    """The channels the environment configures.

    ``log`` and ``webhook`` are always there; ``email`` only when ``RECTIFY_SMTP_HOST`` is
    set. Variables: ``RECTIFY_NOTIFY_LOG`` (JSON-lines file of the log channel),
    ``RECTIFY_SMTP_HOST``, ``RECTIFY_SMTP_PORT`` (default 465 with SSL, 587 with STARTTLS,
    else 25), ``RECTIFY_SMTP_USER``, ``RECTIFY_SMTP_PASSWORD``, ``RECTIFY_SMTP_STARTTLS``,
    ``RECTIFY_SMTP_SSL``, ``RECTIFY_SMTP_SENDER`` (default the user, else
    ``rectify@localhost``), ``RECTIFY_SMTP_TIMEOUT``, ``RECTIFY_WEBHOOK_TIMEOUT``
    (seconds, default 10) and ``RECTIFY_WEBHOOK_HOSTS`` (the webhook allowlist, read
    through ``Settings``).

    Args:
        environ: the variables to read; ``os.environ`` when None.

    Raises:
        ConfigurationError: a variable has a value that cannot be used.
    """
    env = os.environ if environ is None else environ
    registry = ChannelRegistry([
        LogChannel(env.get("RECTIFY_NOTIFY_LOG") or None),
        WebhookChannel(timeout=positive_number(env, "RECTIFY_WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT),
                       hosts=Settings.from_env(env).webhook_hosts),
    ])
    host = env.get("RECTIFY_SMTP_HOST", "").strip()
    if host:
        starttls, ssl = _flag(env, "RECTIFY_SMTP_STARTTLS"), _flag(env, "RECTIFY_SMTP_SSL")
        port_text = env.get("RECTIFY_SMTP_PORT", "").strip()
        if port_text and not port_text.isdigit():
            raise ConfigurationError(f"RECTIFY_SMTP_PORT={port_text!r} is not a port number")
        port = int(port_text) if port_text else 465 if ssl else 587 if starttls else 25
        user = env.get("RECTIFY_SMTP_USER") or None
        registry.register(EmailChannel(
            host, port, env.get("RECTIFY_SMTP_SENDER") or user or "rectify@localhost",
            starttls=starttls, ssl=ssl, username=user,
            password=env.get("RECTIFY_SMTP_PASSWORD") or None,
            timeout=positive_number(env, "RECTIFY_SMTP_TIMEOUT", DEFAULT_TIMEOUT)))
    return registry
