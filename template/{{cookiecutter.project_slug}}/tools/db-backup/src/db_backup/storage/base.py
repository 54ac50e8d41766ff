"""What every backup store offers: list this database's backups, read one, put one, delete some.

A ``StoredBackup`` is one backup as a store sees it. ``BackupStore`` is the
interface that ``LocalStore`` (the backup directory) and ``S3Store`` (a bucket)
implement; listing, retention, upload and restore speak only to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from ..naming import BackupName, parse_backup_name


@dataclass(frozen=True)
class StoredBackup:
    """One backup in a store (or, for retention, any file there: ``parsed`` is then None)."""

    filename: str
    parsed: BackupName | None  # None: not one of this database's backups
    modified: dt.datetime  # timezone-aware
    size: int
    has_checksum: bool  # its .sha256 is beside it
    key: str = ""  # the store's handle: a path, an object key
    address: str = ""  # where it is, for people: a path, an s3:// URL
    has_roles: bool = False  # its roles file (``.roles.sql``) is beside it

    @classmethod
    def for_name(
        cls,
        database: str,
        filename: str,
        modified: dt.datetime,
        size: int,
        *,
        has_checksum: bool,
        key: str = "",
        address: str = "",
        has_roles: bool = False,
    ) -> StoredBackup:
        """A backup whose name is parsed against ``database``'s naming pattern."""
        parsed = parse_backup_name(database, filename)
        return cls(filename, parsed, modified, size, has_checksum, key, address or key, has_roles)

    @property
    def good(self) -> bool:
        """Not quarantined and with its checksum: it counts toward ``BACKUP_KEEP_MIN``."""
        return self.parsed is not None and not self.parsed.failed and self.has_checksum


class BackupStore(Protocol):
    """A place that holds backups, each with its ``.sha256``."""

    location: str  # "local" or "s3": the listing's WHERE column
    label: str  # "local" or "remote": how messages name the store

    def where(self, backup_type: str | None = None) -> str:
        """Where the store (or one type's backups) lives, for messages."""
        ...

    def list_backups(self, database: str, backup_type: str | None = None) -> list[StoredBackup]:
        """``database``'s backups, oldest first; with ``backup_type``, at least that type's.

        A store that keeps every type in one place (a directory) returns them all;
        retention's plan keeps the other types. Unreachable store: a ``BackupError``.
        """
        ...

    def open(self, backup: StoredBackup) -> BinaryIO:
        """The backup's bytes as a stream (a file, a download); the caller closes it."""
        ...

    def expected_sha256(self, backup: StoredBackup) -> str | None:
        """The digest its ``.sha256`` records; None when it has none."""
        ...

    def put(self, path: Path, checksum_path: Path, backup_type: str) -> str:
        """Store a local backup and its ``.sha256``, proven to match; returns its key.

        Raises a ``BackupError`` when the copy cannot be proven (nothing partial is left).
        """
        ...

    def delete(self, backups: Sequence[StoredBackup]) -> dict[str, str]:
        """Delete each backup with its ``.sha256`` and roles file; returns
        ``{filename: what is left, why}``."""
        ...

    def companion(self, backup: StoredBackup, filename: str) -> StoredBackup | None:
        """The file ``filename`` kept beside ``backup`` (its roles file), or None."""
        ...

    @property
    def deletion_hint(self) -> str:
        """What to check when a deletion fails."""
        ...
