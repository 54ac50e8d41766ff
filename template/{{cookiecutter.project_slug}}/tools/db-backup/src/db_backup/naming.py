"""Backup file names: the contract's ``{db}_{type}_{YYYYmmdd_HHMMSS}[_schema].sql.gz``.

An encrypted backup's name adds ``.age`` (``.sql.gz.age``), so no consumer of
the contract's glob mistakes sealed bytes for gzip; it is still a backup of
its type for listing and retention.

Pure functions only. ``backup_filename`` builds a name, ``parse_backup_name``
recognises one of *this* database's backups (the contract's glob
``{db}_{type}_*.sql.gz``, minus names that belong to a database whose name
extends ours), and ``resolve_auto_type`` picks the type for ``--type=auto``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .compression import EXTENSIONS
from .encryption import AGE_SUFFIX

BACKUP_TYPES = ("daily", "weekly", "monthly")
TYPE_CHOICES = (*BACKUP_TYPES, "auto")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
CHECKSUM_SUFFIX = ".sha256"
FAILED_SUFFIX = ".failed"
SCHEMA_SUFFIX = "_schema"
STAMP_FORMAT = "%Y%m%d_%H%M%S"

_STAMP = re.compile(r"^\d{8}_\d{6}$")


@dataclass(frozen=True)
class BackupName:
    """What a backup's file name says about it."""

    filename: str
    database: str
    backup_type: str
    stamp: str
    schema_only: bool
    compression: str
    failed: bool
    encrypted: bool = False  # sealed with age: the name ends in .age

    @property
    def timestamp(self) -> dt.datetime | None:
        """The time in the name, or None for a name like ``db_daily_old.sql.gz``."""
        if not _STAMP.match(self.stamp):
            return None
        try:
            return dt.datetime.strptime(self.stamp, STAMP_FORMAT)
        except ValueError:
            return None


def backup_filename(
    database: str,
    backup_type: str,
    when: dt.datetime,
    *,
    schema_only: bool = False,
    compression: str = "gzip",
    encrypted: bool = False,
) -> str:
    """The contract file name for a backup started at ``when`` (``.age`` added when encrypted)."""
    if backup_type not in BACKUP_TYPES:
        raise ValueError(f"unknown backup type {backup_type!r}")
    suffix = SCHEMA_SUFFIX if schema_only else ""
    stamp = when.strftime(STAMP_FORMAT)
    sealed = AGE_SUFFIX if encrypted else ""
    return f"{database}_{backup_type}_{stamp}{suffix}{EXTENSIONS[compression]}{sealed}"


def checksum_filename(backup_filename: str) -> str:
    """The ``sha256sum -c`` file beside a backup; a quarantined one's is quarantined too."""
    if backup_filename.endswith(FAILED_SUFFIX):
        return backup_filename[: -len(FAILED_SUFFIX)] + CHECKSUM_SUFFIX + FAILED_SUFFIX
    return backup_filename + CHECKSUM_SUFFIX


def parse_backup_name(database: str, filename: str) -> BackupName | None:
    """Recognise one of ``database``'s backups, encrypted or not (or a ``.failed`` one)."""
    failed = filename.endswith(FAILED_SUFFIX)
    name = filename[: -len(FAILED_SUFFIX)] if failed else filename
    encrypted = name.endswith(AGE_SUFFIX)
    name = name[: -len(AGE_SUFFIX)] if encrypted else name
    for compression, extension in EXTENSIONS.items():  # noqa: B007 (used after the loop)
        if name.endswith(extension):
            stem = name[: -len(extension)]
            break
    else:
        return None
    prefix = f"{database}_"
    if not stem.startswith(prefix):
        return None
    backup_type, sep, rest = stem[len(prefix) :].partition("_")
    if backup_type not in BACKUP_TYPES or not sep or not rest:
        return None
    if any(word in BACKUP_TYPES for word in rest.split("_")):
        # "shop_daily_daily_..." belongs to a database called "shop_daily", and
        # "shop_daily_stats_weekly_..." to one called "shop_daily_stats".
        return None
    schema_only = rest.endswith(SCHEMA_SUFFIX) and len(rest) > len(SCHEMA_SUFFIX)
    stamp = rest[: -len(SCHEMA_SUFFIX)] if schema_only else rest
    return BackupName(
        filename, database, backup_type, stamp, schema_only, compression, failed, encrypted
    )


def resolve_auto_type(today: dt.date, weekly_day: str) -> str:
    """``--type=auto``: monthly on the 1st, weekly on ``weekly_day``, else daily."""
    if today.day == 1:
        return "monthly"
    if WEEKDAYS[today.weekday()] == weekly_day:
        return "weekly"
    return "daily"
