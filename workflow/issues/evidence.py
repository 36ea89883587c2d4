"""Content-addressed evidence store (佐证材料): files are kept once, named by their sha256.

A file is checked before anything is copied: not empty, not over the size limit
(``RECTIFY_EVIDENCE_MAX_MB``), an allowed type by its extension, and content that is what
the extension says (the file's signature, sniffed by ``filetype`` from its first bytes;
plain text has none, so a .txt must hold no NUL byte there). A refused file leaves nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import filetype

from workflow.config import DEFAULT_EVIDENCE_MAX_MB
from workflow.errors import InputError, NotFoundError

CHUNK = 1 << 20
SNIFF_BYTES = 8192  # what filetype reads of a file's head
MB = 1_000_000

_ZIP = "application/zip"
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_OPEN_XML = (_DOCX, _XLSX, "application/vnd.openxmlformats-officedocument.presentationml"
             ".presentation", "application/epub+zip", "application/vnd.oasis.opendocument.text",
             "application/vnd.oasis.opendocument.spreadsheet")
# The types evidence may have, by extension: the content types its first bytes may show
# (None: a format without a signature, plain text). An Office file whose parts are ordered
# unusually is still a zip, so docx and xlsx also take a plain zip signature.
EVIDENCE_TYPES: Mapping[str, tuple[str | None, ...]] = {
    "pdf": ("application/pdf",),
    "jpg": ("image/jpeg",),
    "jpeg": ("image/jpeg",),
    "png": ("image/png",),
    "heic": ("image/heic",),
    "docx": (_DOCX, _ZIP),
    "xlsx": (_XLSX, _ZIP),
    "txt": (None,),
    "zip": (_ZIP, *_OPEN_XML),
    "mp4": ("video/mp4", "video/x-m4v", "video/3gpp", "video/quicktime"),
}
ALLOWED = ", ".join(EVIDENCE_TYPES)


def check_evidence(source: Path, *, max_bytes: int, name: str | None = None) -> int:
    """Refuse a file that may not be evidence; returns its size in bytes. ``name`` is the
    file's own name when ``source`` is a temporary copy of it (an upload).

    Raises:
        InputError: the file is missing, empty, over ``max_bytes``, of a type not allowed,
            or its content is not of the type its extension names (each names the rule and
            what is allowed).
    """
    if not source.is_file():
        raise InputError(f"evidence file {source} does not exist or is not a regular file")
    shown_name = name or source.name
    size = source.stat().st_size
    if size == 0:
        raise InputError(f"evidence file {shown_name} is empty (0 bytes); evidence must "
                         "have content")
    if size > max_bytes:
        raise InputError(f"evidence file {shown_name} is {size / MB:.1f} MB; the limit is "
                         f"{max_bytes / MB:g} MB (RECTIFY_EVIDENCE_MAX_MB)")
    extension = Path(shown_name).suffix.lower().lstrip(".")
    if extension not in EVIDENCE_TYPES:
        shown = f".{extension}" if extension else "no extension"
        raise InputError(f"evidence file {shown_name}: type {shown} is not allowed; allowed "
                         f"types: {ALLOWED}")
    with source.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    found = filetype.guess(head)
    content = found.mime if found else None
    if content is None and b"\0" in head:
        content = "binary data"
    if content not in EVIDENCE_TYPES[extension]:
        raise InputError(f"evidence file {shown_name}: its content is "
                         f"{content or 'plain text'}, not a .{extension} file; the content "
                         f"must match the extension (allowed types: {ALLOWED})")
    return size


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
        max_mb: the largest file it takes, in MB (``Settings.evidence_max_mb``).
    """

    def __init__(self, root: Path, *, max_mb: float = DEFAULT_EVIDENCE_MAX_MB):
        self.root = Path(root)
        self.max_bytes = int(max_mb * MB)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, source: Path | str, *, name: str | None = None) -> EvidenceRef:
        """Check a file (``check_evidence``), copy it into the store (atomically) and return
        its reference, under ``name`` when given (an upload's own file name), else the
        file's."""
        source = Path(source)
        size = check_evidence(source, max_bytes=self.max_bytes, name=name)
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
        return EvidenceRef(sha, name or source.name, size)

    def stored(self, sha256: str, name: str) -> EvidenceRef:
        """The reference to a file already in the store, its size read from the store.

        Raises:
            InputError: ``sha256`` is not a sha256 digest.
            NotFoundError: no such file in the store (upload it first).
        """
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InputError(f"evidence {sha256[:80]!r} is not a sha256 digest (64 lowercase "
                             "hex characters, as the upload returned it)")
        path = self.path_of(sha256)
        if not path.is_file():
            raise NotFoundError(f"evidence {sha256} is not in the store; upload the file "
                                "first and pass the sha256 the upload returned")
        return EvidenceRef(sha256, name, path.stat().st_size)

    def resolve(self, items: Iterable[EvidenceRef | Path | str]) -> list[EvidenceRef]:
        """Store paths and check references, returning references in the given order."""
        refs = []
        for item in items:
            if isinstance(item, EvidenceRef):
                sha = item.sha256  # os.path, not pathlib: every transition with evidence asks
                if not os.path.isfile(os.path.join(self.root, sha[:2], sha)):
                    raise NotFoundError(f"evidence {item.sha256} ({item.name}) is not in the "
                                        f"store {self.root}; store it with put() first")
                refs.append(item)
            else:
                refs.append(self.put(item))
        return refs
