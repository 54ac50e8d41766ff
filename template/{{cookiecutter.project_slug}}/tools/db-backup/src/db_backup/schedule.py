"""When scheduled backups run: cron expressions, their ``@`` macros, and ``@every <duration>``.

Cron expressions (five fields, or ``@hourly``, ``@daily``, ``@weekly``,
``@monthly``, ``@yearly``) are read by croniter, an optional extra imported only
for them; ``@every 30s`` / ``@every 6h`` needs no library and counts from the
scheduler's start. The clock is ``BACKUP_TZ``, else ``TZ``, else local time.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .durations import format_duration, parse_duration
from .errors import ConfigError

EVERY = "@every"
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
CRON_FIELDS = 5


class Schedule(Protocol):
    """A sequence of times."""

    text: str

    def next_after(self, when: dt.datetime) -> dt.datetime:
        """The first time of the schedule strictly after ``when`` (same time zone)."""
        ...


@dataclass(frozen=True)
class Every:
    """``@every <duration>``: a fixed interval, counted from the previous slot."""

    text: str
    seconds: float

    def next_after(self, when: dt.datetime) -> dt.datetime:
        """``when`` plus the interval, in elapsed time (across a daylight saving change too)."""
        later = when.astimezone(dt.timezone.utc) + dt.timedelta(seconds=self.seconds)
        return later.astimezone(when.tzinfo)


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression or a macro, evaluated by croniter."""

    text: str
    croniter: Any  # the croniter class

    def next_after(self, when: dt.datetime) -> dt.datetime:
        """The next matching minute after ``when``, in ``when``'s time zone."""
        following: dt.datetime = self.croniter(self.text, when).get_next(dt.datetime)
        return following


def parse_schedule(text: str, name: str = "BACKUP_SCHEDULE") -> Schedule:
    """The schedule ``text`` names; ``ConfigError`` (one line, naming ``name``) when bad."""
    expression = " ".join(text.split())
    if not expression:
        raise ConfigError(f"{name} is empty: give a cron expression or @every <duration>")
    if expression.split(" ", 1)[0].lower() == EVERY:
        _, _, duration = expression.partition(" ")
        if not duration:
            raise ConfigError(f"{name} {expression!r} needs a duration, such as @every 6h")
        seconds = parse_duration(duration, f"{name} {EVERY}")
        return Every(f"{EVERY} {format_duration(seconds)}", seconds)
    macro = expression.lower()
    if expression.startswith("@"):
        if macro not in MACROS:
            raise ConfigError(
                f"{name} {expression!r} is not a schedule: use {', '.join(MACROS[2:-2])}, "
                "@hourly, @every <duration> or five cron fields"
            )
        expression = macro
    elif len(expression.split(" ")) != CRON_FIELDS:
        raise ConfigError(
            f"{name} {expression!r} must have five fields (minute hour day month weekday), "
            "a macro such as @daily, or be @every <duration>"
        )
    croniter = _croniter(name, expression)
    if not croniter.is_valid(expression):
        raise ConfigError(f"{name} {expression!r} is not a valid cron expression")
    return Cron(expression, croniter)


def _croniter(name: str, expression: str) -> Any:
    """croniter's class, or the one-line ``ConfigError`` saying how to install it."""
    try:
        from croniter import croniter
    except ImportError:
        raise ConfigError(
            f"{name} {expression!r} needs the Python package croniter: pip install croniter "
            "(Debian/Ubuntu: apt-get install python3-croniter), or use @every <duration>"
        ) from None
    return croniter


def clock_zone(env: Mapping[str, str]) -> dt.tzinfo | None:
    """The schedule's time zone: ``BACKUP_TZ`` (must exist), else ``TZ`` when it names a zone.

    None means the system's local time (which already follows a ``TZ`` such as
    ``EST5EDT`` that is not a zone name).
    """
    named = env.get("BACKUP_TZ", "").strip()
    if named:
        try:
            return ZoneInfo(named)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"BACKUP_TZ {named!r} is not a time zone (use a name such as Europe/Berlin or UTC)"
            ) from None
    fallback = (env.get("TZ") or os.environ.get("TZ") or "").strip().lstrip(":")
    if fallback:
        try:
            return ZoneInfo(fallback)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None


def now_in(zone: dt.tzinfo | None) -> dt.datetime:
    """The current time, aware, in ``zone`` (local time for None)."""
    return dt.datetime.now(zone) if zone is not None else dt.datetime.now().astimezone()


def zone_name(zone: dt.tzinfo | None) -> str:
    """How log lines name the clock."""
    if zone is None:
        return f"local time, {now_in(None).strftime('%Z')}"
    return str(getattr(zone, "key", zone))
