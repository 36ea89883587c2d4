"""The secrets that make the history unforgeable from the database alone, kept outside it:
the history key (every event's hash is an HMAC-SHA256 under it) and the checkpoint signing
key (Ed25519), with the files they live in.

Files sit beside the SQLite database (``rectify.db.history-key``, ``rectify.db.checkpoint-key``
and its ``.pub``, ``rectify.db.checkpoints.jsonl``); for PostgreSQL they are named after the
database in the working directory. ``RECTIFY_KEY_DIR`` moves them, ``RECTIFY_CHECKPOINT_LOG``
moves the log, and ``RECTIFY_HISTORY_KEY`` gives the current history key instead of the file.
Secret files are created mode 0600 and refused when others may read them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import make_url

from workflow.db import normalize_url
from workflow.errors import ConfigurationError

HISTORY_KEY_ENV = "RECTIFY_HISTORY_KEY"
KEY_DIR_ENV = "RECTIFY_KEY_DIR"
CHECKPOINT_LOG_ENV = "RECTIFY_CHECKPOINT_LOG"
MIN_SECRET = 32  # characters of a history key


@dataclass(frozen=True)
class TrustFiles:
    """Where the history key, the signing key pair and the checkpoint log are."""

    history_key: Path
    signing_key: Path
    public_key: Path
    checkpoint_log: Path

    @classmethod
    def for_database(cls, database_url: str,
                     environ: Mapping[str, str] | None = None) -> TrustFiles:
        """The files of the database ``database_url`` (see the module docstring)."""
        env = os.environ if environ is None else environ
        url = make_url(normalize_url(database_url))
        database = url.database or ""
        if url.get_backend_name() == "sqlite" and database not in ("", ":memory:"):
            folder, name = Path(database).parent, Path(database).name
        else:
            folder, name = Path("."), (database if database != ":memory:" else "") or "rectify"
        if env.get(KEY_DIR_ENV, "").strip():
            folder = Path(env[KEY_DIR_ENV].strip())
        base = str(folder / name)
        log = env.get(CHECKPOINT_LOG_ENV, "").strip() or f"{base}.checkpoints.jsonl"
        return cls(Path(f"{base}.history-key"), Path(f"{base}.checkpoint-key"),
                   Path(f"{base}.checkpoint-key.pub"), Path(log))


def mask(secret: str) -> str:
    """A secret as it may be shown: its length only."""
    return f"***({len(secret)} characters)"


@dataclass(frozen=True)
class HistoryKey:
    """One history key: its id (derived from the secret, safe to show) and the secret."""

    id: str
    secret: str = field(repr=False)
    _mac: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mac", hmac.new(self.secret.encode("utf-8"),
                                                  digestmod=hashlib.sha256))

    @classmethod
    def of(cls, secret: str) -> HistoryKey:
        if len(secret) < MIN_SECRET:
            raise ConfigurationError(f"a history key needs at least {MIN_SECRET} characters; "
                                     f"got {mask(secret)}")
        key_id = hmac.new(secret.encode("utf-8"), b"rectify history key id",
                          hashlib.sha256).hexdigest()[:16]
        return cls(key_id, secret)

    def digest(self, message: bytes) -> str:
        """HMAC-SHA256 of ``message`` under this key, as hex."""
        mac = self._mac.copy()
        mac.update(message)
        return mac.hexdigest()


class HistoryKeys:
    """The current history key (new events are hashed with it) and every older one that
    events may name.

    Args:
        current: the key of new events.
        older: keys of events written before a rotation.
    """

    def __init__(self, current: HistoryKey, older: Iterable[HistoryKey] = ()):
        self.current = current
        self._by_id = {key.id: key for key in older}
        self._by_id[current.id] = current

    def get(self, key_id: str) -> HistoryKey | None:
        return self._by_id.get(key_id)

    @property
    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def __repr__(self) -> str:
        return f"HistoryKeys(current={self.current.id}, known={self.ids})"

    @classmethod
    def of(cls, *secrets_: str) -> HistoryKeys:
        """Keys from secrets, the first one current (tests, scripts)."""
        keys = [HistoryKey.of(secret) for secret in secrets_]
        return cls(keys[0], keys[1:])

    @classmethod
    def load(cls, files: TrustFiles, environ: Mapping[str, str] | None = None) -> HistoryKeys:
        """``RECTIFY_HISTORY_KEY`` as the current key (the key file's keys still verify older
        events), else the key file's newest key.

        Raises:
            ConfigurationError: no key anywhere, or a key file others may read.
        """
        env = os.environ if environ is None else environ
        stored = read_history_keys(files.history_key) if files.history_key.exists() else []
        given = env.get(HISTORY_KEY_ENV, "")
        if given.strip():
            return cls(HistoryKey.of(given.strip()), stored)
        if not stored:
            raise ConfigurationError(
                f"no history key: {files.history_key} does not exist and {HISTORY_KEY_ENV} is "
                "unset; run `rectify init` to create the key file, or set "
                f"{HISTORY_KEY_ENV} (at least {MIN_SECRET} characters)")
        return cls(stored[-1], stored[:-1])


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(f"{path} may be read by others (mode {mode:04o}); a key file "
                                 f"must be mode 0600: chmod 600 {path}")


def _write_private(path: Path, text: str, *, replace: bool) -> None:
    """Write ``text`` to a new 0600 file (atomically over the old one when ``replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path.with_name(path.name + ".new") if replace else path
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if replace:
        os.replace(target, path)


def read_history_keys(path: Path) -> list[HistoryKey]:
    """The keys of a key file, oldest first.

    Raises:
        ConfigurationError: the file is readable by others or not a key file.
    """
    _check_private(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["keys"]
        keys = [HistoryKey.of(str(entry["secret"])) for entry in entries]
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(f"{path} is not a history key file (JSON with a 'keys' "
                                 "list); restore it from your backup") from None
    if not keys:
        raise ConfigurationError(f"{path} holds no key; restore it from your backup")
    return keys


def _key_file_text(keys: list[HistoryKey], created: dict[str, str]) -> str:
    return json.dumps({"keys": [{"id": key.id, "created": created.get(key.id),
                                 "secret": key.secret} for key in keys]}, indent=2) + "\n"


def create_history_key(path: Path, now: datetime) -> HistoryKey | None:
    """Create the key file with one new random key; None when it exists already."""
    if path.exists():
        return None
    key = HistoryKey.of(secrets.token_hex(32))
    _write_private(path, _key_file_text([key], {key.id: now.isoformat()}), replace=False)
    return key


def rotate_history_key(path: Path, now: datetime) -> HistoryKey:
    """Add a new current key to the key file; the older ones stay to verify old events.

    Raises:
        ConfigurationError: the file is missing or unreadable.
    """
    if not path.exists():
        raise ConfigurationError(f"{path} does not exist; `rectify init` creates it")
    keys = read_history_keys(path)
    entries = json.loads(path.read_text(encoding="utf-8"))["keys"]
    created = {str(entry.get("id")): entry.get("created") for entry in entries}
    key = HistoryKey.of(secrets.token_hex(32))
    created[key.id] = now.isoformat()
    _write_private(path, _key_file_text([*keys, key], created), replace=True)
    return key


def public_key_id(public: Ed25519PublicKey) -> str:
    """The id of a signing key: the start of the sha256 of its raw public bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def create_signing_key(files: TrustFiles) -> str | None:
    """Create the Ed25519 key pair (private 0600, public beside it); returns the key id, or
    None when the private key exists already."""
    if files.signing_key.exists():
        return None
    private = Ed25519PrivateKey.generate()
    _write_private(files.signing_key, private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode("ascii"), replace=False)
    files.public_key.write_bytes(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public_key_id(private.public_key())


def load_signing_key(files: TrustFiles) -> Ed25519PrivateKey:
    """The checkpoint signing key.

    Raises:
        ConfigurationError: missing, readable by others, or not an Ed25519 private key.
    """
    path = files.signing_key
    if not path.exists():
        raise ConfigurationError(f"no checkpoint signing key at {path}; run `rectify init` to "
                                 f"create it (or set {KEY_DIR_ENV} to the folder that holds it)")
    _check_private(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} is not an Ed25519 private key (PEM, PKCS#8); "
                                 "restore it from your backup")
    return key


def load_public_keys(files: TrustFiles) -> dict[str, Ed25519PublicKey]:
    """The public keys checkpoints may be signed with, by id: the ``.pub`` file's, and the
    private key's own when it is here.

    Raises:
        ConfigurationError: neither file exists, or the public file is not a public key.
    """
    found: dict[str, Ed25519PublicKey] = {}
    if files.public_key.exists():
        try:
            public = serialization.load_pem_public_key(files.public_key.read_bytes())
        except ValueError:
            public = None
        if not isinstance(public, Ed25519PublicKey):
            raise ConfigurationError(f"{files.public_key} is not an Ed25519 public key (PEM)")
        found[public_key_id(public)] = public
    if files.signing_key.exists():
        public = load_signing_key(files).public_key()
        found[public_key_id(public)] = public
    if not found:
        raise ConfigurationError(f"no checkpoint key at {files.public_key}; checkpoints "
                                 "cannot be checked without it")
    return found
