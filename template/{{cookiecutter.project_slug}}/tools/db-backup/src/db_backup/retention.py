"""Retention: which old backups to delete, decided by age, never at the cost of the last good one.

``plan`` is a pure function from a list of entries (local files or remote
objects) to one ``Decision`` per entry naming the rule that decided it;
``apply_local`` and ``apply_remote`` carry a plan out, and ``print_plan``
shows it for ``--dry-run``. The rules, in the order they are tried:

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
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import CleanupError, ConfigError, UploadError
from .naming import (
    BACKUP_TYPES,
    CHECKSUM_SUFFIX,
    FAILED_SUFFIX,
    BackupName,
    checksum_filename,
    parse_backup_name,
)
from .units import human_size

if TYPE_CHECKING:
    from .storage.remote import RemoteObject

DEFAULT_KEEP_MIN = 1
KEEP_MIN_VARIABLE = "BACKUP_KEEP_MIN"
DAYS_PER_WEEK = 7
DAYS_PER_MONTH = 30

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
class Entry:
    """One candidate for retention: a file in the backup directory or a remote object.

    ``parsed`` is None for a name that is not one of this database's backups.
    ``ref`` is what deletion needs (a ``Path`` or a ``RemoteObject``); the plan
    never looks at it.
    """

    filename: str
    parsed: BackupName | None
    modified: dt.datetime
    size: int
    has_checksum: bool
    ref: Any = field(default=None, compare=False)

    @classmethod
    def for_name(
        cls,
        database: str,
        filename: str,
        modified: dt.datetime,
        size: int,
        *,
        has_checksum: bool,
        ref: Any = None,
    ) -> Entry:
        """An entry whose name is parsed against ``database``'s naming pattern."""
        return cls(
            filename,
            parse_backup_name(database, filename),
            modified,
            size,
            has_checksum,
            ref,
        )

    @property
    def good(self) -> bool:
        """Whether this backup can count toward ``BACKUP_KEEP_MIN``."""
        return self.parsed is not None and not self.parsed.failed and self.has_checksum


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


# --- local directory -------------------------------------------------------


def local_entries(backup_dir: Path, database: str) -> list[Entry]:
    """Every regular file in ``backup_dir`` except checksums, each parsed against ``database``.

    Checksum files travel with their backup, so they are not entries of their own.
    A missing directory has no entries; an unreadable one is a ``ConfigError``.
    """
    entries = []
    try:
        scan = list(os.scandir(backup_dir))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError(
            f"cannot read the backup directory {backup_dir}: {exc.strerror or exc}",
            hint="check BACKUP_DIR and its permissions",
        ) from None
    names = {item.name for item in scan}
    for item in scan:
        if item.name.endswith(CHECKSUM_SUFFIX) or item.name.endswith(
            CHECKSUM_SUFFIX + FAILED_SUFFIX
        ):
            continue
        try:
            if not item.is_file(follow_symlinks=False):
                continue
            stat = item.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        entries.append(
            Entry.for_name(
                database,
                item.name,
                dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc),
                stat.st_size,
                has_checksum=checksum_filename(item.name) in names,
                ref=Path(item.path),
            )
        )
    return entries


def _delete_local(path: Path) -> str | None:
    """Delete a backup, then its checksum; None on success, else what is left and why.

    When the backup itself cannot be deleted its checksum stays too, so what is
    left can still be verified.
    """
    checksum = path.with_name(checksum_filename(path.name))
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if checksum.exists():
            return f"{path.name} ({reason}; its {CHECKSUM_SUFFIX} kept with it)"
        return f"{path.name} ({reason})"
    try:
        checksum.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        return f"{checksum.name} ({exc.strerror or exc}; its backup was deleted)"
    return None


def apply_local(settings: Any, just_made: str, log: Any, *, now: dt.datetime | None = None) -> None:
    """Delete this type's expired local backups after a successful backup.

    Raises ``CleanupError`` (exit 7) naming every file that could not be deleted;
    the backup itself has succeeded by then.
    """
    backup_type = settings.backup_type
    policy: RetentionPolicy = settings.retention
    database = settings.connection.dbname
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        entries = local_entries(Path(settings.backup_dir), database)
    except ConfigError as exc:  # the backup is made by now: this is a cleanup failure
        raise CleanupError(exc.msg, detail="no old backup was deleted", hint=exc.hint) from None
    decisions = plan(entries, policy, backup_type, now, protect={Path(just_made).name})
    doomed = [d for d in decisions if d.delete]
    if not doomed:
        log.debug(
            f"retention: no local {backup_type} backups older than {policy.describe(backup_type)}"
        )
        return
    left: list[str] = []
    removed = 0
    for decision in doomed:
        problem = _delete_local(decision.entry.ref)
        if problem:
            left.append(problem)
        else:
            removed += 1
            log.info(
                f"retention: deleted {decision.entry.filename}: {decision.rule}",
                event="retention_delete",
                location="local",
                file=decision.entry.filename,
            )
    if removed:
        log.info(
            f"retention: removed {removed} local {backup_type} backup(s) older than "
            f"{policy.describe(backup_type)}"
        )
    if left:
        raise CleanupError(
            f"retention could not delete {len(left)} of {len(doomed)} old {backup_type} "
            f"backup(s) in {settings.backup_dir}; the backup itself succeeded",
            detail="left: " + ", ".join(left),
            hint="check the permissions and attributes of those files (ls -l, lsattr), "
            "then delete them or rerun the backup",
        )


# --- remote storage ----------------------------------------------------------


def remote_entries(objects: Iterable[RemoteObject], database: str) -> list[Entry]:
    """Entries for remote objects; age comes from each object's LastModified."""
    return [
        Entry.for_name(
            database,
            obj.filename,
            obj.last_modified,
            obj.size,
            has_checksum=obj.has_checksum,
            ref=obj,
        )
        for obj in objects
    ]


def apply_remote(
    store: Any, settings: Any, just_made: str, log: Any, *, now: dt.datetime | None = None
) -> None:
    """Delete this type's expired remote backups (object and ``.sha256`` together).

    Raises ``CleanupError`` (exit 7) naming every key that could not be deleted.
    """
    if store is None:
        return
    backup_type = settings.backup_type
    policy: RetentionPolicy = settings.retention
    database = settings.connection.dbname
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        objects = store.list_backups(database, backup_type)
    except UploadError as exc:  # the backup is uploaded by now: this is a cleanup failure
        raise CleanupError(
            exc.msg, detail="no old remote backup was deleted", hint=exc.hint
        ) from None
    decisions = plan(
        remote_entries(objects, database), policy, backup_type, now, protect={Path(just_made).name}
    )
    doomed = [d.entry.ref for d in decisions if d.delete]
    if not doomed:
        log.debug(
            f"retention: no remote {backup_type} backups older than {policy.describe(backup_type)}"
        )
        return
    failed = list(store.delete(doomed))
    failed_set = set(failed)
    removed = [obj for obj in doomed if obj.key not in failed_set]
    for obj in removed:
        log.info(
            f"retention: deleted remote {obj.key}",
            event="retention_delete",
            location="s3",
            file=obj.filename,
        )
    if removed:
        log.info(
            f"retention: removed {len(removed)} remote {backup_type} backup(s) older than "
            f"{policy.describe(backup_type)}"
        )
    if failed:
        raise CleanupError(
            f"retention could not delete {len(failed)} of {len(doomed)} old remote "
            f"{backup_type} backup(s); the backup itself succeeded",
            detail="left: " + ", ".join(failed),
            hint="check that the credentials allow s3:DeleteObject on the bucket",
        )


# --- dry run -------------------------------------------------------------------


def print_plan(
    settings: Any,
    store: Any = None,
    *,
    out: TextIO | None = None,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """Print what retention after the next backup of the type would do; change nothing.

    The backup the run would make is shown as a protected entry, so the plan is
    the one a real run applies (it takes one of the ``BACKUP_KEEP_MIN`` places).
    Returns the decisions, local then remote.
    """
    out = out or sys.stdout
    now = now or dt.datetime.now(dt.timezone.utc)
    backup_type = settings.backup_type
    policy: RetentionPolicy = settings.retention
    database = settings.connection.dbname
    schema = "_schema" if getattr(settings, "schema_only", False) else ""
    upcoming_name = f"{database}_{backup_type}_{NEXT_BACKUP}{schema}"
    upcoming = Entry(
        NEXT_BACKUP,
        BackupName(upcoming_name, database, backup_type, "next", bool(schema), "", False),
        now,
        0,
        True,
    )
    print(
        f"Retention plan for {backup_type} backups of {database} (dry run: nothing is deleted)\n"
        f"  keep {policy.describe(backup_type)}; always keep the {policy.keep_min} newest good "
        f"backup(s) of each kind ({KEEP_MIN_VARIABLE}={policy.keep_min})",
        file=out,
    )
    local = plan(
        [upcoming, *local_entries(Path(settings.backup_dir), database)],
        policy,
        backup_type,
        now,
        protect={NEXT_BACKUP},
    )
    _print_decisions(f"local {settings.backup_dir}", local, out)
    remote: list[Decision] = []
    if store is not None:
        objects = store.list_backups(database, backup_type)
        remote = plan(
            [upcoming, *remote_entries(objects, database)],
            policy,
            backup_type,
            now,
            protect={NEXT_BACKUP},
        )
        _print_decisions(f"remote {_remote_location(store, backup_type)}", remote, out)
    return local + remote


def _remote_location(store: Any, backup_type: str) -> str:
    """``s3://bucket/prefix/type/`` when the store says where it is."""
    s3_settings = getattr(store, "settings", None)
    try:
        return s3_settings.url(s3_settings.type_prefix(backup_type))
    except AttributeError:
        return ""


def _print_decisions(where: str, decisions: Sequence[Decision], out: TextIO) -> None:
    shown = [d for d in decisions if d.action != IGNORE]
    deleting = sum(1 for d in shown if d.delete)
    print(f"\n{where}: {len(shown)} backup(s), {deleting} would be deleted", file=out)
    if not shown:
        return
    rows = [("ACTION", "TYPE", "AGE", "SIZE", "BACKUP", "RULE")]
    for decision in shown:
        entry = decision.entry
        upcoming = entry.filename == NEXT_BACKUP
        rows.append(
            (
                decision.action.upper() if decision.delete else decision.action,
                describe_type(entry.parsed),
                "-" if upcoming else format_age(decision.age),
                "-" if upcoming else human_size(entry.size),
                entry.filename,
                decision.rule,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  " + "  ".join([*cells, row[-1]]), file=out)


# --- formatting shared with the listing ------------------------------------------


def describe_type(parsed: BackupName | None) -> str:
    """``daily``, ``weekly schema``, ``monthly failed``..."""
    if parsed is None:
        return "?"
    words = [parsed.backup_type]
    if parsed.schema_only:
        words.append("schema")
    if parsed.failed:
        words.append("failed")
    return " ".join(words)


def format_age(age: dt.timedelta) -> str:
    """A short age such as ``10d 2h``, ``3h 5m`` or ``42s``; future times read ``in the future``."""
    seconds = int(age.total_seconds())
    if seconds < 0:
        return "in the future"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"
