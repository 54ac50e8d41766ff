"""Typed readers for settings: each names the variable and the rule it broke.

Every module that has settings reads them through these, from the merged
environment (process environment over env file), so a bad value is always a
``ConfigError`` (exit 2) raised before any work starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def get_str(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The value of ``name`` as given; unset or blank gives ``default``.

    Nothing is trimmed here: the env-file reader already trimmed unquoted values,
    and a quoted or exported ``'trail '`` means a name that ends in a space.
    """
    value = env.get(name, "")
    return value if value.strip() else default


def get_int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer within ``[minimum, maximum]``; unset or blank gives ``default``."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def get_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean written as true/false, yes/no, on/off or 1/0."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def get_choice(env: Mapping[str, str], name: str, choices: Sequence[str], default: str) -> str:
    """One of ``choices`` (case-insensitive); unset or blank gives ``default``."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    value = raw.lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value
