"""``--list``: every backup of this database, local and remote, newest first.

Each line shows where the backup is, its type, age, size and checksum state:
locally ``present`` or ``missing`` (the ``.sha256`` beside it), or with
``verify_checksums`` ``ok``, ``MISMATCH`` or ``unreadable``; remotely
``present`` or ``missing`` (the ``.sha256`` object). Quarantined (``.failed``)
backups are listed too, marked as such. Other files are not shown.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .naming import BACKUP_TYPES, BackupName, checksum_filename, parse_backup_name
from .retention import Entry, describe_type, format_age, local_entries
from .units import human_size
from .verify import file_sha256

PRESENT = "present"
MISSING = "missing"
OK = "ok"
MISMATCH = "MISMATCH"
UNREADABLE = "unreadable"

_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ListedBackup:
    """One backup as the listing shows it."""

    location: str  # "local" or "s3"
    filename: str
    parsed: BackupName
    size: int
    modified: dt.datetime
    checksum: str  # PRESENT, MISSING, OK, MISMATCH or UNREADABLE
    address: str  # the local path, or the s3:// URL (the key without S3 settings)


def list_backups(
    settings: Any, store: Any = None, *, verify_checksums: bool = False
) -> list[ListedBackup]:
    """This database's backups in ``BACKUP_DIR`` and, with a store, in the bucket; newest first.

    ``verify_checksums`` recomputes each local backup's SHA-256 and compares it
    with its ``.sha256`` file (reads every backup: slow on large directories).
    """
    database = settings.connection.dbname
    listed = [
        _listed_local(entry, verify_checksums)
        for entry in local_entries(Path(settings.backup_dir), database)
        if entry.parsed is not None
    ]
    if store is not None:
        for backup_type in BACKUP_TYPES:
            for obj in store.list_backups(database, backup_type):
                listed.append(_listed_remote(store, obj, database))
    listed.sort(key=lambda b: (b.modified, b.filename, b.location), reverse=True)
    return listed


def _listed_local(entry: Entry, verify_checksums: bool) -> ListedBackup:
    assert entry.parsed is not None
    path: Path = entry.ref
    if not entry.has_checksum:
        state = MISSING
    elif verify_checksums:
        state = checksum_state(path, path.with_name(checksum_filename(path.name)))
    else:
        state = PRESENT
    return ListedBackup(
        "local", entry.filename, entry.parsed, entry.size, entry.modified, state, str(path)
    )


def _listed_remote(store: Any, obj: Any, database: str) -> ListedBackup:
    parsed = parse_backup_name(database, obj.filename)
    if parsed is None:  # the store lists only our names; be safe with any other store
        parsed = BackupName(obj.filename, database, "?", "", False, "", False)
    s3_settings = getattr(store, "settings", None)
    address = s3_settings.url(obj.key) if hasattr(s3_settings, "url") else obj.key
    return ListedBackup(
        "s3",
        obj.filename,
        parsed,
        obj.size,
        obj.last_modified,
        PRESENT if obj.has_checksum else MISSING,
        address,
    )


def checksum_state(path: Path, checksum_path: Path) -> str:
    """``ok`` when ``path`` hashes to the digest in ``checksum_path`` (``sha256sum`` format)."""
    try:
        first = checksum_path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return UNREADABLE
    if not first or not _HEX_DIGEST.match(first[0]):
        return UNREADABLE
    try:
        _, actual = file_sha256(path)
    except OSError:
        return UNREADABLE
    return OK if actual == first[0].lower() else MISMATCH


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
    rows = [("WHERE", "TYPE", "AGE", "SIZE", "CHECKSUM", "BACKUP")]
    for backup in backups:
        rows.append(
            (
                backup.location,
                describe_type(backup.parsed),
                format_age(now - backup.modified),
                human_size(backup.size),
                backup.checksum,
                backup.filename if backup.location == "local" else backup.address,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]), file=out)
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
