"""Retention: which old backups to delete, decided by age, never at the cost of the last good one.

``plan`` is a pure function from a store's backups to one ``Decision`` per
backup naming the rule that decided it; ``apply`` carries a plan out on any
``BackupStore`` (the directory, a bucket) the same way. The rules, in the
order they are tried:

1. a name that is not one of this database's backups is never touched;
2. a backup of another type is left to that type's own retention;
3. a quarantined (``.failed``) backup is kept for inspection and never
   counts as a good backup;
4. the backup this run just made is kept;
5. a retention of 0 keeps every backup of the type;
6. the ``BACKUP_KEEP_MIN`` newest good backups are kept whatever their age
   (counted separately for full and schema-only backups, so a schema-only
   run never costs the last full backup);
7. a backup older than the retention is deleted, a younger one kept.

A good backup is one that is not quarantined and has its checksum beside it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import BackupError, CleanupError
from .log import fields
from .naming import BACKUP_TYPES
from .storage.base import BackupStore, StoredBackup

DEFAULT_KEEP_MIN = 1
KEEP_MIN_VARIABLE = "BACKUP_KEEP_MIN"
DAYS_PER_WEEK = 7
DAYS_PER_MONTH = 30

log = logging.getLogger(__name__)

KEEP = "keep"
DELETE = "delete"
IGNORE = "ignore"

# Stands for the backup a real run would make, in the dry run's plan.
NEXT_BACKUP = "(next backup)"

_RETENTION_VARIABLES = {
    "daily": "BACKUP_RETENTION_DAILY",
    "weekly": "BACKUP_RETENTION_WEEKLY",
    "monthly": "BACKUP_RETENTION_MONTHLY",
}
_UNITS = {"daily": "day", "weekly": "week", "monthly": "month"}
_UNIT_DAYS = {"daily": 1, "weekly": DAYS_PER_WEEK, "monthly": DAYS_PER_MONTH}

# A backup as retention sees it (a store's listing entry).
Entry = StoredBackup


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each type of backup is kept, and how many good ones always survive."""

    daily_days: int
    weekly_weeks: int
    monthly_months: int
    keep_min: int = DEFAULT_KEEP_MIN

    def count(self, backup_type: str) -> int:
        """The configured number of days, weeks or months for ``backup_type``."""
        if backup_type not in BACKUP_TYPES:
            raise ValueError(f"unknown backup type {backup_type!r}")
        return {
            "daily": self.daily_days,
            "weekly": self.weekly_weeks,
            "monthly": self.monthly_months,
        }[backup_type]

    def max_age(self, backup_type: str) -> dt.timedelta | None:
        """The age past which a backup of the type is deleted; None keeps everything."""
        count = self.count(backup_type)
        if count == 0:
            return None
        return dt.timedelta(days=count * _UNIT_DAYS[backup_type])

    def describe(self, backup_type: str) -> str:
        """Human wording such as ``4 weeks (BACKUP_RETENTION_WEEKLY=4)``."""
        count = self.count(backup_type)
        variable = _RETENTION_VARIABLES[backup_type]
        if count == 0:
            return f"keep all ({variable}=0)"
        unit = _UNITS[backup_type] + ("" if count == 1 else "s")
        return f"{count} {unit} ({variable}={count})"


@dataclass(frozen=True)
class Decision:
    """What retention does with one entry, and the rule that decided it."""

    entry: Entry
    action: str  # KEEP, DELETE or IGNORE
    rule: str
    age: dt.timedelta

    @property
    def delete(self) -> bool:
        """Whether the entry is to be deleted."""
        return self.action == DELETE


def plan(
    entries: Iterable[Entry],
    policy: RetentionPolicy,
    backup_type: str,
    now: dt.datetime,
    *,
    protect: set[str],
) -> list[Decision]:
    """Decide, for every entry, whether retention after a ``backup_type`` backup deletes it.

    Pure: no clock, no file system. ``protect`` holds file names that are never
    deleted (the backup just made). Decisions come back newest first.
    """
    max_age = policy.max_age(backup_type)
    ordered = sorted(entries, key=lambda e: (e.modified, e.filename), reverse=True)
    kept_for_min: set[int] = set()
    good_seen = {False: 0, True: 0}  # schema_only -> good backups of the type seen so far
    for index, entry in enumerate(ordered):
        if _is_ours(entry, backup_type) and entry.good:
            assert entry.parsed is not None
            kind = entry.parsed.schema_only
            if good_seen[kind] < policy.keep_min:
                kept_for_min.add(index)
            good_seen[kind] += 1

    decisions = []
    for index, entry in enumerate(ordered):
        age = now - entry.modified
        action, rule = _decide(
            entry, index in kept_for_min, age, max_age, policy, backup_type, protect
        )
        decisions.append(Decision(entry, action, rule, age))
    return decisions


def _is_ours(entry: Entry, backup_type: str) -> bool:
    return entry.parsed is not None and entry.parsed.backup_type == backup_type


def _decide(
    entry: Entry,
    kept_for_min: bool,
    age: dt.timedelta,
    max_age: dt.timedelta | None,
    policy: RetentionPolicy,
    backup_type: str,
    protect: set[str],
) -> tuple[str, str]:
    parsed = entry.parsed
    if parsed is None:
        return IGNORE, "not a backup of this database"
    if parsed.backup_type != backup_type:
        return KEEP, f"{parsed.backup_type} backup: pruned after {parsed.backup_type} runs"
    if parsed.failed:
        return KEEP, "quarantined (failed verification): kept for inspection"
    if entry.filename in protect:
        if entry.filename == NEXT_BACKUP:
            return KEEP, "the backup a real run makes first"
        return KEEP, "the backup just made"
    if max_age is None:
        return KEEP, policy.describe(backup_type)
    if kept_for_min:
        kind = "schema-only " if parsed.schema_only else ""
        return KEEP, (
            f"among the {policy.keep_min} newest good {kind}backups "
            f"({KEEP_MIN_VARIABLE}={policy.keep_min})"
        )
    if age > max_age:
        return DELETE, f"older than {policy.describe(backup_type)}"
    return KEEP, f"within {policy.describe(backup_type)}"


def apply(
    store: BackupStore,
    policy: RetentionPolicy,
    backup_type: str,
    database: str,
    *,
    just_made: str,
    now: dt.datetime | None = None,
) -> None:
    """Delete this type's expired backups in ``store`` after a successful backup.

    Raises ``CleanupError`` (exit 7) naming every backup that could not be
    deleted, or saying that the store could not be listed; the backup itself
    has succeeded by then.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    label = store.label
    try:
        backups = store.list_backups(database, backup_type)
    except BackupError as exc:  # the backup is made by now: this is a cleanup failure
        raise CleanupError(
            exc.msg, detail=f"no old {label} backup was deleted", hint=exc.hint
        ) from None
    decisions = plan(backups, policy, backup_type, now, protect={Path(just_made).name})
    doomed = [d.entry for d in decisions if d.delete]
    if not doomed:
        log.debug(
            f"retention: no {label} {backup_type} backups older than {policy.describe(backup_type)}"
        )
        return
    rules = {d.entry.filename: d.rule for d in decisions}
    left = store.delete(doomed)
    removed = [b for b in doomed if b.filename not in left]
    for backup in removed:
        log.info(
            f"retention: deleted {label} {backup.filename}: {rules[backup.filename]}",
            extra=fields(event="retention_delete", location=store.location, file=backup.filename),
        )
    if removed:
        log.info(
            f"retention: removed {len(removed)} {label} {backup_type} backup(s) older than "
            f"{policy.describe(backup_type)}"
        )
    if left:
        raise CleanupError(
            f"retention could not delete {len(left)} of {len(doomed)} old {label} "
            f"{backup_type} backup(s) in {store.where(backup_type)}; "
            "the backup itself succeeded",
            detail="left: " + ", ".join(left.values()),
            hint=store.deletion_hint,
        )
