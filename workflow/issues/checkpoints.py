"""Checkpoints: signed digests of every history chain's head, kept outside the database.

A checkpoint is one JSON line appended to the checkpoint log: when it was taken, the number
of issues and events, the Merkle root (RFC 6962 hashing) over the leaves (issue id, version,
head hash) in issue order, each issue's version with the first 4 bytes of its head (packed,
to name an issue whose chain changed), the hash of the previous line, and an Ed25519
signature over all of it. Since an issue's head hash chains every earlier event, the root
pins every event up to the checkpoint: rewriting any of them — even consistently, with the
append-only triggers dropped and every later hash recomputed — or deleting an issue changes
the root, and `rectify verify --checkpoints` says so. ``inclusion_proof`` proves one issue
against a root without the others' chains.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from filelock import FileLock
from sqlalchemy import select

from workflow.db import Database
from workflow.errors import ConfigurationError
from workflow.issues.history import GENESIS, ChainProblem
from workflow.issues.keys import TrustFiles, load_public_keys, load_signing_key, public_key_id
from workflow.models import Issue

FORMAT = 1
FINGERPRINT = 4  # bytes of each head kept in the record

Head = tuple[int, int, str]  # issue id, version, head hash


# --- the Merkle tree (RFC 6962 §2.1) ---------------------------------------------------------

def leaf_hash(issue_id: int, version: int, head: str) -> bytes:
    return hashlib.sha256(b"\x00" + f"{issue_id}:{version}:{head}".encode("ascii")).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf ``index``: the sibling hashes from the leaf up to the root."""
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return [*inclusion_proof(leaves[:k], index), merkle_root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), merkle_root(leaves[:k])]


def root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root an audit path leads to (RFC 9162 §2.1.3.2), or None for a malformed one."""
    if index >= size:
        return None
    fn, sn, root = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            root = _node(sibling, root)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            root = _node(root, sibling)
        fn, sn = fn >> 1, sn >> 1
    return root if sn == 0 else None


# --- the packed heads: version and fingerprint of each issue --------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def pack_heads(heads: Sequence[Head]) -> str:
    out, previous = bytearray(), 0
    for issue_id, version, head in heads:
        out += _varint(issue_id - previous) + _varint(version)
        out += bytes.fromhex(head[:FINGERPRINT * 2])
        previous = issue_id
    return base64.b64encode(zlib.compress(bytes(out), 9)).decode("ascii")


def unpack_heads(text: str) -> list[tuple[int, int, str]]:
    """(issue id, version, head fingerprint as hex) of each issue, in issue order."""
    data, at, previous, found = zlib.decompress(base64.b64decode(text)), 0, 0, []

    def varint() -> int:
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while at < len(data):
        previous += varint()
        version = varint()
        found.append((previous, version, data[at:at + FINGERPRINT].hex()))
        at += FINGERPRINT
    return found


# --- the log ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Checkpoint:
    """One signed checkpoint as the log holds it."""

    seq: int
    at: datetime
    issues: int
    events: int
    root: str
    heads: str
    prev: str
    key: str
    signature: str

    def signed_part(self) -> bytes:
        body = {"format": FORMAT, "seq": self.seq, "at": self.at.isoformat(),
                "issues": self.issues, "events": self.events, "root": self.root,
                "heads": self.heads, "prev": self.prev, "key": self.key}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def line(self) -> str:
        record = json.loads(self.signed_part())
        record["signature"] = self.signature
        return json.dumps(record, sort_keys=True, separators=(",", ":"))

    @property
    def digest(self) -> str:
        """What reports print: the Merkle root, short."""
        return self.root[:16]

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        record = json.loads(line)
        if record.get("format") != FORMAT:
            raise ValueError(f"format {record.get('format')!r}, expected {FORMAT}")
        return cls(int(record["seq"]), datetime.fromisoformat(record["at"]),
                   int(record["issues"]), int(record["events"]), str(record["root"]),
                   str(record["heads"]), str(record["prev"]), str(record["key"]),
                   str(record["signature"]))


def line_hash(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def read_log(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-empty line of the log; nothing when there is none."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if text.strip():
                yield number, text.rstrip("\n")


def current_heads(db: Database) -> list[Head]:
    """Every issue's (id, version, head hash) in issue order, read in one statement."""
    with db.session() as session:
        return [(int(i), int(v), str(h)) for i, v, h in session.execute(
            select(Issue.id, Issue.version, Issue.head_hash).order_by(Issue.id))]


def write_checkpoint(db: Database, files: TrustFiles, now: datetime) -> Checkpoint:
    """Sign a digest of every chain head and append it to the checkpoint log.

    Raises:
        ConfigurationError: no signing key, or a log whose last line is not a checkpoint.
    """
    signer: Ed25519PrivateKey = load_signing_key(files)
    key = public_key_id(signer.public_key())
    heads = current_heads(db)
    root = merkle_root([leaf_hash(*head) for head in heads]).hex()
    log = files.checkpoint_log
    log.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(log) + ".lock"):
        last = None
        for _number, text in read_log(log):
            last = text
        seq, prev = 1, GENESIS
        if last is not None:
            try:
                seq, prev = Checkpoint.parse(last).seq + 1, line_hash(last)
            except (ValueError, KeyError, TypeError):
                raise ConfigurationError(f"the last line of the checkpoint log {log} is not a "
                                         "checkpoint; restore the log from its backup") from None
        unsigned = Checkpoint(seq, now.astimezone(UTC), len(heads),
                              sum(version for _, version, _ in heads), root, pack_heads(heads),
                              prev, key, "")
        signature = base64.b64encode(signer.sign(unsigned.signed_part())).decode("ascii")
        checkpoint = Checkpoint(**{**unsigned.__dict__, "signature": signature})
        with log.open("a", encoding="utf-8") as handle:
            handle.write(checkpoint.line() + "\n")
    return checkpoint


def signature_ok(checkpoint: Checkpoint, keys: dict[str, Ed25519PublicKey]) -> bool:
    public = keys.get(checkpoint.key)
    if public is None:
        return False
    try:
        public.verify(base64.b64decode(checkpoint.signature), checkpoint.signed_part())
    except (InvalidSignature, ValueError):
        return False
    return True


def latest_checkpoint(files: TrustFiles) -> Checkpoint | None:
    """The newest checkpoint of the log whose signature holds, for reports to print (its
    digest and time); None when there is none or it cannot be checked."""
    last = None
    for _number, text in read_log(files.checkpoint_log):
        last = text
    if last is None:
        return None
    try:
        checkpoint = Checkpoint.parse(last)
        keys = load_public_keys(files)
    except (ValueError, KeyError, TypeError, ConfigurationError):
        return None
    return checkpoint if signature_ok(checkpoint, keys) else None


def prove(checkpoint: Checkpoint, issue_id: int,
          head_of: dict[tuple[int, int], str]) -> dict[str, Any]:
    """An inclusion proof of one issue against ``checkpoint``: its leaf (issue, version,
    head hash as the database holds it now) and the audit path to the root.

    Args:
        head_of: (issue id, seq) → event hash, for the events the checkpoint names.

    Raises:
        ValueError: the issue is not in the checkpoint, or its event is not in the database.
    """
    entries = unpack_heads(checkpoint.heads)
    index = next((n for n, (i, _, _) in enumerate(entries) if i == issue_id), None)
    if index is None:
        raise ValueError(f"issue {issue_id} is not in checkpoint #{checkpoint.seq} "
                         f"({checkpoint.at.isoformat()}); it came later")
    leaves = []
    for i, version, _fingerprint in entries:
        head = GENESIS if version == 0 else head_of.get((i, version))
        if head is None:
            raise ValueError(f"issue {i} event #{version} named by checkpoint "
                             f"#{checkpoint.seq} is not in the database")
        leaves.append(leaf_hash(i, version, head))
    version = entries[index][1]
    path = inclusion_proof(leaves, index)
    derived = root_from_proof(leaves[index], index, len(leaves), path)
    return {"checkpoint": checkpoint.seq, "at": checkpoint.at.isoformat(),
            "root": checkpoint.root, "issue_id": issue_id, "version": version,
            "head": GENESIS if version == 0 else head_of[(issue_id, version)],
            "index": index, "size": len(leaves), "path": [p.hex() for p in path],
            "proves": derived is not None and derived.hex() == checkpoint.root}


class LogCheck:
    """What ``verify --checkpoints`` checks: the log itself on reading it (signatures, the
    link of each line to the one before, numbering), then each checkpoint against the chains
    with ``check``.

    Args:
        files: where the log and the public key are.
    """

    def __init__(self, files: TrustFiles):
        self.log = files.checkpoint_log
        self.problems: list[ChainProblem] = []
        self.checkpoints: list[Checkpoint] = []
        try:
            keys = load_public_keys(files)
        except ConfigurationError as exc:
            self._problem(str(exc))
            keys = {}
        prev, expected = GENESIS, 1
        for number, text in read_log(self.log):
            where = f"{self.log} line {number}"
            try:
                checkpoint = Checkpoint.parse(text)
                entries = unpack_heads(checkpoint.heads)
            except (ValueError, KeyError, TypeError, IndexError, zlib.error):
                self._problem(f"{where} is not a checkpoint; only lines `rectify checkpoint` "
                              "wrote belong in the log")
                prev = line_hash(text)
                continue
            where += f" (checkpoint #{checkpoint.seq})"
            if not signature_ok(checkpoint, keys):
                self._problem(f"{where}: its signature does not hold under key "
                              f"{checkpoint.key} (keys here: {', '.join(keys) or 'none'}): "
                              "the line was altered or signed elsewhere")
            if checkpoint.prev != prev:
                self._problem(f"{where} does not follow the line before it: a checkpoint "
                              "was removed, reordered or altered")
            if checkpoint.seq != expected:
                self._problem(f"{where}: expected checkpoint #{expected} here")
            if (len(entries), sum(v for _, v, _ in entries)) != (checkpoint.issues,
                                                                 checkpoint.events):
                self._problem(f"{where}: its heads list {len(entries)} issues, but it says "
                              f"{checkpoint.issues} issues and {checkpoint.events} events")
            self.checkpoints.append(checkpoint)
            prev, expected = line_hash(text), checkpoint.seq + 1
        if not self.checkpoints and not self.problems:
            self._problem(f"no checkpoint in {self.log}; take one with `rectify checkpoint` "
                          "(the scheduler takes one daily)")

    def _problem(self, message: str) -> None:
        self.problems.append(ChainProblem(None, None, message))

    def wanted(self) -> set[tuple[int, int]]:
        """(issue id, seq) of every event some checkpoint names as a head."""
        return {(issue_id, version) for checkpoint in self.checkpoints
                for issue_id, version, _ in unpack_heads(checkpoint.heads) if version}

    def check(self, head_of: dict[tuple[int, int], str], lengths: dict[int, int],
              unkeyed: dict[int, int]) -> list[ChainProblem]:
        """Each checkpoint against the chains as the database holds them now.

        Args:
            head_of: (issue id, seq) → event hash, for every pair ``wanted`` names.
            lengths: issue id → the number of events it has.
            unkeyed: issue id → the last event it has without a key id.
        """
        problems: list[ChainProblem] = []
        named: set[int] = set()
        for checkpoint in self.checkpoints:
            when = f"checkpoint #{checkpoint.seq} ({checkpoint.at.isoformat()})"
            leaves = []
            for issue_id, version, fingerprint in unpack_heads(checkpoint.heads):
                head = GENESIS if version == 0 else head_of.get((issue_id, version), "")
                leaves.append(leaf_hash(issue_id, version, head))
                if issue_id in named:
                    continue
                if issue_id not in lengths:
                    problem = ChainProblem(issue_id, None, f"deleted: {when} holds it at "
                                           f"version {version}; the database has no such issue")
                elif lengths[issue_id] < version:
                    problem = ChainProblem(issue_id, lengths[issue_id] + 1, (
                        f"missing: {when} holds {version} event(s); the database has "
                        f"{lengths[issue_id]}"))
                elif head[:FINGERPRINT * 2] != fingerprint:
                    problem = ChainProblem(issue_id, version, (
                        f"rewritten: its hash is not the one {when} signed, so the history up "
                        "to it was changed"))
                else:
                    continue
                named.add(issue_id)
                problems.append(problem)
            if merkle_root(leaves).hex() != checkpoint.root and not problems:
                problems.append(ChainProblem(None, None, (
                    f"{when}: the chains no longer lead to its root {checkpoint.root[:16]}…: "
                    "events up to it were changed")))
        if self.checkpoints:
            first = self.checkpoints[0]
            covered = {i: v for i, v, _ in unpack_heads(first.heads)}
            for issue_id, seq in sorted(unkeyed.items()):
                if seq > covered.get(issue_id, 0) and issue_id not in named:
                    problems.append(ChainProblem(issue_id, seq, (
                        "forged: it has no key id and is not covered by the first checkpoint "
                        f"(#{first.seq}, {first.at.isoformat()}); every event since keying "
                        "began carries one")))
        return problems
