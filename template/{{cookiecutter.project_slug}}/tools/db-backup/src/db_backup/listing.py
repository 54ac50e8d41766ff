"""``--list``: every backup of this database, local and remote, newest first.

Each line shows where the backup is, its type, age, size and checksum state:
locally ``present`` or ``missing`` (the ``.sha256`` beside it), or with
``verify_checksums`` ``ok``, ``MISMATCH`` or ``unreadable``; remotely
``present`` or ``missing`` (the ``.sha256`` object); and whether its roles file
is beside it. Quarantined (``.failed``) backups are listed too, marked as such.
Other files are not shown.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .checksums import checksum_path_for, file_sha256, parse_checksum_text
from .naming import BackupName
from .storage.base import BackupStore, StoredBackup
from .table import describe_type, format_age, print_table
from .units import human_size

PRESENT = "present"
MISSING = "missing"
OK = "ok"
MISMATCH = "MISMATCH"
UNREADABLE = "unreadable"


@dataclass(frozen=True)
class ListedBackup:
    """One backup as the listing shows it."""

    location: str  # "local" or "s3"
    filename: str
    parsed: BackupName
    size: int
    modified: dt.datetime
    checksum: str  # PRESENT, MISSING, OK, MISMATCH or UNREADABLE
    address: str  # the local path, or the s3:// URL
    roles: bool = False  # its roles file is beside it (BACKUP_OWNERSHIP=keep)


def list_backups(
    stores: Sequence[BackupStore], database: str, *, verify_checksums: bool = False
) -> list[ListedBackup]:
    """``database``'s backups in every store, newest first.

    ``verify_checksums`` recomputes each local backup's SHA-256 and compares it
    with its ``.sha256`` file (reads every backup: slow on large directories).
    """
    listed = [
        _listed(store, backup, verify_checksums and store.location == "local")
        for store in stores
        for backup in store.list_backups(database)
    ]
    listed.sort(key=lambda b: (b.modified, b.filename, b.location), reverse=True)
    return listed


def _listed(store: BackupStore, backup: StoredBackup, verify: bool) -> ListedBackup:
    assert backup.parsed is not None  # stores list only this database's backups
    if not backup.has_checksum:
        state = MISSING
    elif verify:
        path = Path(backup.key)
        state = checksum_state(path, checksum_path_for(path))
    else:
        state = PRESENT
    return ListedBackup(
        store.location,
        backup.filename,
        backup.parsed,
        backup.size,
        backup.modified,
        state,
        backup.address,
        backup.has_roles,
    )


def checksum_state(path: Path, checksum_path: Path) -> str:
    """``ok`` when ``path`` hashes to the digest in ``checksum_path`` (``sha256sum`` format)."""
    try:
        line = parse_checksum_text(checksum_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return UNREADABLE
    if line is None:
        return UNREADABLE
    try:
        _, actual = file_sha256(path)
    except OSError:
        return UNREADABLE
    return OK if actual == line.digest else MISMATCH


def print_listing(
    backups: list[ListedBackup],
    *,
    out: TextIO | None = None,
    now: dt.datetime | None = None,
    title: str | None = None,
) -> None:
    """Print the listing as an aligned table, newest first, with a one-line summary."""
    out = out or sys.stdout
    now = now or dt.datetime.now(dt.timezone.utc)
    if title:
        print(title, file=out)
    if not backups:
        print("No backups found.", file=out)
        return
    rows = [("WHERE", "TYPE", "AGE", "SIZE", "CHECKSUM", "ROLES", "BACKUP")]
    for backup in backups:
        rows.append(
            (
                backup.location,
                describe_type(backup.parsed),
                format_age(now - backup.modified),
                human_size(backup.size),
                backup.checksum,
                "yes" if backup.roles else "-",
                backup.filename if backup.location == "local" else backup.address,
            )
        )
    print_table(rows, out)
    local = [b for b in backups if b.location == "local"]
    remote = [b for b in backups if b.location != "local"]
    directories = sorted({str(Path(b.address).parent) for b in local})
    where = f" in {', '.join(directories)}" if directories else ""
    print(
        f"{len(backups)} backup(s): {len(local)} local{where} "
        f"({human_size(sum(b.size for b in local))}), "
        f"{len(remote)} remote ({human_size(sum(b.size for b in remote))})",
        file=out,
    )
    problems = [b for b in backups if b.checksum in (MISSING, MISMATCH, UNREADABLE)]
    if problems:
        print(f"{len(problems)} backup(s) without a matching checksum.", file=out)
