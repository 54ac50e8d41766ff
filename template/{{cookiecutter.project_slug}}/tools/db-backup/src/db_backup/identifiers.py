"""Database and role names, checked before any work: PostgreSQL must keep them as given.

PostgreSQL cuts a name longer than 63 bytes (a notice, then a different
database or role), and a control character in a name breaks every line a
person or a program reads it from. Both are refused up front with one line
(exit 2). The database name also becomes part of file names: the longest one
the tool writes must fit the backup directory's file system.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from .errors import ConfigError

MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
DEFAULT_NAME_MAX = 255
# The longest file name a backup run writes around the database's name:
# ".{db}_monthly_YYYYmmdd_HHMMSS_schema.sql.zst.partial-<pid>", or the same
# name with ".sha256.failed" and without the leading dot and pid.
_LONGEST_TAIL = len("_monthly_20250101_000000_schema.sql.zst.sha256.failed")
_LONGEST_PARTIAL = len("._monthly_20250101_000000_schema.sql.zst.partial-4194304")


def byte_length(value: str) -> int:
    """Bytes of ``value`` as it reaches the server and the file system (UTF-8)."""
    return len(value.encode("utf-8", "surrogateescape"))


def check_identifier(variable: str, value: str) -> None:
    """``ConfigError`` (one line) for a control character or more than 63 bytes."""
    controls = [ch for ch in value if unicodedata.category(ch) == "Cc"]
    if controls:
        raise ConfigError(
            f"{variable} holds a control character ({controls[0]!a}): "
            f"refusing {_shortened(value)!a}"
        )
    size = byte_length(value)
    if size > MAX_IDENTIFIER_BYTES:
        raise ConfigError(
            f"{variable} is {size} bytes long; PostgreSQL keeps only the first "
            f"{MAX_IDENTIFIER_BYTES} bytes of a name: {_shortened(value)!a}"
        )


def check_file_name_room(directory: Path, database: str) -> None:
    """``ConfigError`` when the longest backup file name would not fit ``directory``'s limit."""
    try:
        name_max = os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = DEFAULT_NAME_MAX
    needed = byte_length(database) + max(_LONGEST_TAIL, _LONGEST_PARTIAL)
    if needed > name_max:
        raise ConfigError(
            f"POSTGRES_DB is too long for backup file names in {directory}: names up to "
            f"{needed} bytes, the file system allows {name_max}"
        )


def _shortened(value: str, keep: int = 40) -> str:
    return value if len(value) <= keep else value[:keep] + "..."
