"""Aligned text tables and the short cells the dry run and the listing share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TextIO

from .naming import BackupName


def print_table(rows: Sequence[Sequence[str]], out: TextIO, *, indent: str = "") -> None:
    """Rows (the first one the header) with every column but the last padded to its width."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print(indent + "  ".join([*cells, row[-1]]), file=out)


def describe_type(parsed: BackupName | None) -> str:
    """``daily``, ``weekly schema``, ``daily encrypted``, ``monthly failed``..."""
    if parsed is None:
        return "?"
    words = [parsed.backup_type]
    if parsed.schema_only:
        words.append("schema")
    if parsed.encrypted:
        words.append("encrypted")
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
