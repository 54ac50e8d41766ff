"""``--dry-run``: what retention after the next backup of the type would do, store by store."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from typing import TextIO

from .naming import BackupName
from .retention import IGNORE, KEEP_MIN_VARIABLE, NEXT_BACKUP, Decision, RetentionPolicy, plan
from .storage.base import BackupStore, StoredBackup
from .table import describe_type, format_age, print_table
from .units import human_size


def print_plan(
    stores: Sequence[BackupStore],
    policy: RetentionPolicy,
    backup_type: str,
    database: str,
    *,
    schema_only: bool = False,
    out: TextIO | None = None,
    now: dt.datetime | None = None,
) -> list[Decision]:
    """Print each store's plan; change nothing. Returns the decisions, store after store.

    The backup the run would make is shown as a protected entry, so the plan is
    the one a real run applies (it takes one of the ``BACKUP_KEEP_MIN`` places).
    """
    out = out or sys.stdout
    now = now or dt.datetime.now(dt.timezone.utc)
    schema = "_schema" if schema_only else ""
    upcoming = StoredBackup(
        NEXT_BACKUP,
        BackupName(
            f"{database}_{backup_type}_{NEXT_BACKUP}{schema}",
            database,
            backup_type,
            "next",
            schema_only,
            "",
            False,
        ),
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
    decisions: list[Decision] = []
    for store in stores:
        backups = store.list_backups(database, backup_type)
        planned = plan([upcoming, *backups], policy, backup_type, now, protect={NEXT_BACKUP})
        _print_decisions(f"{store.label} {store.where(backup_type)}", planned, out)
        decisions += planned
    return decisions


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
    print_table(rows, out, indent="  ")
