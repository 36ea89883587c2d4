"""Content-addressed evidence store (佐证材料): files are kept once, named by their sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workflow.errors import InputError, NotFoundError

CHUNK = 1 << 20


@dataclass(frozen=True)
class EvidenceRef:
    """A stored evidence file: its digest, the name it was given and its size in bytes."""

    sha256: str
    name: str
    size: int

    def as_dict(self) -> dict[str, object]:
        return {"sha256": self.sha256, "name": self.name, "size": self.size}


class EvidenceStore:
    """Files under ``root/ab/abcdef…``; storing the same content twice keeps one copy.

    Args:
        root: directory of the store; created on first write.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, source: Path | str) -> EvidenceRef:
        """Copy a file into the store (atomically) and return its reference."""
        source = Path(source)
        if not source.is_file():
            raise InputError(f"evidence file {source} does not exist or is not a regular file")
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        sha = digest.hexdigest()
        target = self.path_of(sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as out, \
                    source.open("rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    out.write(chunk)
            os.replace(out.name, target)
        return EvidenceRef(sha, source.name, source.stat().st_size)

    def resolve(self, items: Iterable[EvidenceRef | Path | str]) -> list[EvidenceRef]:
        """Store paths and check references, returning references in the given order."""
        refs = []
        for item in items:
            if isinstance(item, EvidenceRef):
                if not self.path_of(item.sha256).is_file():
                    raise NotFoundError(f"evidence {item.sha256} ({item.name}) is not in the "
                                        f"store {self.root}; store it with put() first")
                refs.append(item)
            else:
                refs.append(self.put(item))
        return refs
