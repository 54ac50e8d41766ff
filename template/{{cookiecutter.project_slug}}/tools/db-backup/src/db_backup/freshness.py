"""``--check``: is the newest good backup younger than the age limit? For monitors and healthchecks.

Looks at every store (the backup directory and, when configured, the bucket)
and takes the newest *good* backup of any type: not quarantined, its
``.sha256`` beside it, schema-only ones counted only with ``--schema-only``.
It lists, never reads a backup, so it is fast enough for a container
healthcheck. Fresh: one SUCCESS line, exit 0. Too old, or none at all: one
ERROR line naming the age and the backup, exit 1. A store that cannot be
listed is a WARNING when another store holds a fresh backup, else its error.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from .durations import format_duration
from .errors import BackupError, GeneralError
from .log import SUCCESS, fields
from .storage.base import BackupStore, StoredBackup
from .table import format_age

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Newest:
    """The newest good backup found, and where."""

    backup: StoredBackup
    age: dt.timedelta


def newest_good(
    stores: Sequence[BackupStore],
    database: str,
    *,
    schema_only: bool,
    now: dt.datetime,
) -> tuple[Newest | None, list[BackupError]]:
    """The newest good backup over every store that could be listed, and the stores' errors."""
    errors: list[BackupError] = []
    candidates: list[StoredBackup] = []
    for store in stores:
        try:
            listed = store.list_backups(database)
        except BackupError as exc:
            errors.append(exc)
            continue
        candidates.extend(
            b
            for b in listed
            if b.good and b.parsed is not None and b.parsed.schema_only == schema_only
        )
    if not candidates:
        return None, errors
    newest = max(candidates, key=lambda b: b.modified)
    return Newest(newest, max(now - newest.modified, dt.timedelta(0))), errors


def check_freshness(
    stores: Sequence[BackupStore],
    database: str,
    max_age_seconds: float,
    *,
    schema_only: bool = False,
    now: dt.datetime | None = None,
) -> Newest:
    """The fresh newest backup; ``GeneralError`` (exit 1) when it is too old or there is none."""
    now = now or dt.datetime.now(dt.timezone.utc)
    limit = format_duration(max_age_seconds)
    found, errors = newest_good(stores, database, schema_only=schema_only, now=now)
    kind = "schema-only backup" if schema_only else "backup"
    if found is not None and found.age.total_seconds() <= max_age_seconds:
        for exc in errors:
            log.warning(f"not checked: {exc.msg}")
        age = format_age(found.age)
        log.log(
            SUCCESS,
            f"newest good {kind} is {age} old (limit {limit}): {found.backup.address}",
            extra=fields(
                event="freshness",
                fresh=True,
                age_seconds=round(found.age.total_seconds()),
                max_age_seconds=max_age_seconds,
                file=found.backup.address,
            ),
        )
        return found
    if errors:  # a store could not say: its error explains more than "stale"
        for exc in errors[1:]:
            log.warning(f"not checked: {exc.msg}")
        raise errors[0]
    where = ", ".join(store.where() for store in stores)
    if found is None:
        raise GeneralError(f"no good {kind} of {database} in {where} (limit {limit})")
    raise GeneralError(
        f"newest good {kind} is {format_age(found.age)} old, older than {limit}: "
        f"{found.backup.address}"
    )
