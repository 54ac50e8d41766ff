"""The ``.sha256`` beside every backup: its name, its one line, and the file hash it holds.

The line is ``sha256sum``'s own format (``HEX  name``) with the base name, so
``sha256sum -c`` checks the pair wherever it is copied. Every module that
writes, reads or compares a checksum does it here.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .naming import checksum_filename

CHUNK_SIZE = 1 << 20
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ChecksumLine:
    """What a ``.sha256`` file says: the digest (lower case) and the file name, if any."""

    digest: str
    filename: str | None


def checksum_line(sha256_hex: str, filename: str) -> str:
    """A ``sha256sum -c`` line with the base name, so it checks wherever the pair is copied."""
    return f"{sha256_hex}  {filename}\n"


def parse_checksum_text(text: str) -> ChecksumLine | None:
    """The digest and name of a ``sha256sum`` line; None when the text holds no digest."""
    fields = text.split()
    if not fields or not _HEX_DIGEST.match(fields[0]):
        return None
    name = fields[1].lstrip("*") if len(fields) > 1 else None
    return ChecksumLine(fields[0].lower(), name)


def checksum_path_for(path: Path) -> Path:
    """``x.sql.gz.sha256`` beside ``x.sql.gz``; ``x.sql.gz.sha256.failed`` for a quarantined one."""
    return path.with_name(checksum_filename(path.name))


def file_sha256(path: Path) -> tuple[int, str]:
    """The size and hex sha256 of a file, read in 1 MiB chunks."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        file_digest = getattr(hashlib, "file_digest", None)  # Python 3.11+
        if file_digest is not None:
            return size, file_digest(handle, "sha256").hexdigest()
        digest = hashlib.sha256()
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
        return size, digest.hexdigest()
