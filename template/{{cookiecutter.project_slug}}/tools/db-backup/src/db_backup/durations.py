"""Durations as people write them: ``30s``, ``90m``, ``6h``, ``26h``, ``7d``, ``1h30m``.

Used by ``@every <duration>`` schedules and the ``--check`` age limit. A unit is
required (``26`` alone could mean hours or seconds); units are ``s``, ``m``,
``h``, ``d`` and ``w``, and several may follow each other (``1h30m``).
"""

from __future__ import annotations

import re

from .errors import ConfigError

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
MAX_SECONDS = 366 * 86_400  # a year and a day: more is a typo, not a schedule


def parse_duration(text: str, name: str) -> float:
    """Seconds in ``text``; ``ConfigError`` naming ``name`` when it is not a positive duration."""
    compact = re.sub(r"\s+", "", text).lower()
    if not _DURATION.fullmatch(compact):
        raise ConfigError(
            f"{name} must be a duration such as 30s, 15m, 6h or 7d, got {text.strip()!r}"
        )
    seconds = sum(float(number) * UNIT_SECONDS[unit] for number, unit in _PART.findall(compact))
    if not 1 <= seconds <= MAX_SECONDS:
        raise ConfigError(
            f"{name} must be between 1s and {MAX_SECONDS // 86_400}d, got {text.strip()!r}"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: ``30s``, ``6h``, ``1h30m``, ``26h``."""
    whole = round(seconds)
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    parts = []
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
