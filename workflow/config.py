"""Settings read from the environment, once, with defaults that need no servers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from workflow.errors import ConfigurationError

_CHECKOUT = Path(__file__).resolve().parent.parent
_SHARED = ("share", "rectify", "definitions")


def _project_root() -> Path:
    """The folder that holds ``definitions/`` and ``examples/``.

    In a source checkout (an editable install included) that is the repository itself. A wheel
    carries the two folders as setuptools data-files (see pyproject.toml), which pip puts under
    the environment's data prefix as ``share/rectify/``. That prefix is ``sys.prefix`` in a venv
    but not for ``--user`` or system installs, so the folder is taken from the distribution's
    RECORD, which lists every installed file relative to site-packages.
    """
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "definitions").is_dir():
        return _CHECKOUT
    try:
        files = metadata.distribution("rectify").files or []
    except metadata.PackageNotFoundError:
        return _CHECKOUT
    for file in files:
        if file.parts[-4:-1] == _SHARED:
            return Path(file.locate()).resolve().parent.parent
    return _CHECKOUT


PROJECT_ROOT = _project_root()
"""Where ``definitions/`` and ``examples/`` are: the repository, or ``share/rectify`` of the
installation (see ``_project_root``)."""

DEFAULT_DATABASE_URL = "sqlite:///./rectify.db"
DEFAULT_OFFICE_NAME = "整改办"
DEFAULT_QUEUE = "rectify"
DEFAULT_REMINDER_HOUR = 9
DEFAULT_EVIDENCE_MAX_MB = 50.0
# The group robots' hosts: DingTalk, WeCom, Feishu and Lark.
ROBOT_HOSTS = ("oapi.dingtalk.com", "qyapi.weixin.qq.com", "open.feishu.cn",
               "open.larksuite.com")


@dataclass(frozen=True)
class WebhookHosts:
    """The hosts webhook contacts may point at (``RECTIFY_WEBHOOK_HOSTS``).

    Attributes:
        names: host names, lower case, compared with a URL's host (any port).
        plain_http: whether ``http://`` is allowed too: only for hosts the operator listed
            in ``RECTIFY_WEBHOOK_HOSTS``; the default robot hosts take ``https://`` alone.
    """

    names: tuple[str, ...] = ROBOT_HOSTS
    plain_http: bool = False

    @classmethod
    def parse(cls, text: str, variable: str = "RECTIFY_WEBHOOK_HOSTS") -> WebhookHosts:
        """The comma-separated host names in ``text``; empty text keeps the robot hosts.

        Raises:
            ConfigurationError: an entry is not a bare host name (a scheme, path or blank).
        """
        if not text.strip():
            return cls()
        names = []
        for entry in text.split(","):
            name = entry.strip().lower()
            bracketed = name.startswith("[") and name.endswith("]")  # an IPv6 address
            name = name[1:-1] if bracketed else name
            if not name or any(mark in name for mark in "/@?# []") or \
                    (":" in name and not bracketed):
                raise ConfigurationError(
                    f"{variable}={text!r}: {entry.strip()!r} is not a host name; list bare "
                    "host names separated by commas, e.g. oapi.dingtalk.com,127.0.0.1 "
                    "([::1] for IPv6)")
            names.append(name)
        return cls(tuple(dict.fromkeys(names)), plain_http=True)


@dataclass(frozen=True)
class Settings:
    """Where the data lives and how the system names itself, read once from the environment
    (``from_env``) and passed on; the defaults need no environment at all.

    Attributes:
        database_url: SQLAlchemy URL; ``DATABASE_URL``, default ``sqlite:///./rectify.db``.
        evidence_dir: content-addressed evidence store; ``RECTIFY_EVIDENCE_DIR``, default
            ``./evidence``.
        definitions_dir: process definitions; ``RECTIFY_DEFINITIONS``, default the repository's
            ``definitions/`` (an installed wheel's copy when there is no repository).
        office_name: the office as a recipient of notices and their signature;
            ``RECTIFY_OFFICE_NAME``, default ``整改办``.
        base_url: the system's web address, for links to issues in notices;
            ``RECTIFY_BASE_URL``, default none (no links).
        queue: the broker queue workers take tasks from; ``RECTIFY_QUEUE``, default
            ``rectify``.
        webhook_hosts: the hosts webhook contacts may point at; ``RECTIFY_WEBHOOK_HOSTS``,
            default the DingTalk, WeCom, Feishu and Lark robot hosts (https only).
        evidence_max_mb: the largest evidence file in MB (10⁶ bytes);
            ``RECTIFY_EVIDENCE_MAX_MB``, default 50.
        reminder_hour: the Asia/Shanghai hour (0 to 23) at which reminders and notices
            counted in days fall due; ``RECTIFY_REMINDER_HOUR``, default 9 (09:00).
    """

    database_url: str = DEFAULT_DATABASE_URL
    evidence_dir: Path = Path("evidence")
    definitions_dir: Path = PROJECT_ROOT / "definitions"
    office_name: str = DEFAULT_OFFICE_NAME
    base_url: str | None = None
    queue: str = DEFAULT_QUEUE
    webhook_hosts: WebhookHosts = WebhookHosts()
    evidence_max_mb: float = DEFAULT_EVIDENCE_MAX_MB
    reminder_hour: int = DEFAULT_REMINDER_HOUR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            evidence_dir=Path(env.get("RECTIFY_EVIDENCE_DIR") or "evidence"),
            definitions_dir=Path(env.get("RECTIFY_DEFINITIONS")
                                 or PROJECT_ROOT / "definitions"),
            office_name=env.get("RECTIFY_OFFICE_NAME") or DEFAULT_OFFICE_NAME,
            base_url=env.get("RECTIFY_BASE_URL", "").strip() or None,
            queue=env.get("RECTIFY_QUEUE", "").strip() or DEFAULT_QUEUE,
            webhook_hosts=WebhookHosts.parse(env.get("RECTIFY_WEBHOOK_HOSTS", "")),
            evidence_max_mb=positive_number(env, "RECTIFY_EVIDENCE_MAX_MB",
                                            DEFAULT_EVIDENCE_MAX_MB, what="a number of MB"),
            reminder_hour=_hour(env, "RECTIFY_REMINDER_HOUR", DEFAULT_REMINDER_HOUR),
        )


def _hour(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) > 23:
        raise ConfigurationError(f"{name}={text!r} must be a whole hour from 0 to 23 "
                                 "(Asia/Shanghai), e.g. 9 for 09:00")
    return int(text)


def positive_number(environ: Mapping[str, str], name: str, default: float, *,
                    what: str = "a number") -> float:
    """The positive number in variable ``name``, or ``default`` when it is unset or empty.

    Raises:
        ConfigurationError: the value is not a number greater than 0 (the message names the
            variable and its value).
    """
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not {what}") from None
    if value <= 0:
        raise ConfigurationError(f"{name}={text!r} must be greater than 0")
    return value


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    return positive_number(environ, name, default, what="a number of seconds")


def _count(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise ConfigurationError(f"{name}={text!r} must be a whole number greater than 0")
    return int(text)


LEADER_LOCKS = ("auto", "postgres", "redis", "file")


@dataclass(frozen=True)
class RunSettings:
    """How the background work runs: broker, intervals, leases and batch sizes.

    Attributes:
        broker_url: ``BROKER_URL`` (Redis); unset = embedded mode, tasks run in-process.
        sweep_interval: ``RECTIFY_SWEEP_INTERVAL`` seconds between timer sweeps (15).
        relay_interval: ``RECTIFY_RELAY_INTERVAL`` seconds between outbox relays (5).
        lease: ``RECTIFY_LEASE`` seconds a dispatched batch holds its rows (60), renewed
            before each send; rows of a batch whose worker stopped are handed out again once
            it ran out. At least 2 × (the longest channel timeout + 1 s), checked at start.
        batch: ``RECTIFY_BATCH`` rows per task (100).
        max_in_flight: ``RECTIFY_MAX_IN_FLIGHT`` rows handed out and not yet settled (5000);
            the relay waits while more are out.
        lock_period: ``RECTIFY_LOCK_PERIOD`` seconds (10): a standby scheduler takes over
            within this long after the leader is gone.
        leader_lock: ``RECTIFY_LEADER_LOCK``: ``auto`` (PostgreSQL advisory lock for a
            PostgreSQL database, else a file lock next to the SQLite file), ``postgres``,
            ``redis`` (needs ``BROKER_URL`` or ``RECTIFY_LOCK_REDIS_URL``) or ``file``.
        threads: ``RECTIFY_THREADS`` in-process workers in embedded mode (4).
        max_lag: ``RECTIFY_DOCTOR_MAX_LAG`` seconds a due row may wait before ``doctor``
            calls it unhealthy (300).
    """

    broker_url: str | None = None
    sweep_interval: float = 15.0
    relay_interval: float = 5.0
    lease: float = 60.0
    batch: int = 100
    max_in_flight: int = 5000
    lock_period: float = 10.0
    leader_lock: str = "auto"
    lock_redis_url: str | None = None
    threads: int = 4
    max_lag: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunSettings:
        env = os.environ if environ is None else environ
        lock = env.get("RECTIFY_LEADER_LOCK", "").strip() or "auto"
        if lock not in LEADER_LOCKS:
            raise ConfigurationError(f"RECTIFY_LEADER_LOCK={lock!r} is unknown; allowed: "
                                     f"{', '.join(LEADER_LOCKS)}")
        return cls(
            broker_url=env.get("BROKER_URL", "").strip() or None,
            sweep_interval=_seconds(env, "RECTIFY_SWEEP_INTERVAL", cls.sweep_interval),
            relay_interval=_seconds(env, "RECTIFY_RELAY_INTERVAL", cls.relay_interval),
            lease=_seconds(env, "RECTIFY_LEASE", cls.lease),
            batch=_count(env, "RECTIFY_BATCH", cls.batch),
            max_in_flight=_count(env, "RECTIFY_MAX_IN_FLIGHT", cls.max_in_flight),
            lock_period=_seconds(env, "RECTIFY_LOCK_PERIOD", cls.lock_period),
            leader_lock=lock,
            lock_redis_url=env.get("RECTIFY_LOCK_REDIS_URL", "").strip() or None,
            threads=_count(env, "RECTIFY_THREADS", cls.threads),
            max_lag=_seconds(env, "RECTIFY_DOCTOR_MAX_LAG", cls.max_lag),
        )
