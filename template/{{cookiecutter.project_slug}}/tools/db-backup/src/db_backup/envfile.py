"""Read ``KEY=VALUE`` env files such as ``scripts/backup-config.env``.

The format is the common subset that docker compose, systemd and ``source``
agree on: comments, blank lines, an optional ``export`` prefix, and values
optionally wrapped in single or double quotes. Nothing is expanded, so a value
means what it says.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import ConfigError

_LINE = re.compile(r"^\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?P<value>.*?)\s*$")


def parse_env_text(text: str, source: str = "<env>") -> dict[str, str]:
    """Parse env-file text into a dict; a malformed line is a ``ConfigError``."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(raw)
        if not match:
            raise ConfigError(
                f"{source}:{number}: not a KEY=VALUE line",
                hint="comment it out with '#' or write it as NAME=value",
            )
        values[match["key"]] = _unquote(match["value"], f"{source}:{number}")
    return values


def _unquote(value: str, where: str) -> str:
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        if end == -1:
            raise ConfigError(f"{where}: unterminated {quote} quote")
        rest = value[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise ConfigError(f"{where}: unexpected text after the closing quote")
        return value[1:end]
    # An unquoted value ends at an inline comment introduced by " #".
    comment = re.search(r"\s+#", value)
    return value[: comment.start()] if comment else value


def read_env_file(path: Path) -> dict[str, str]:
    """Read an env file; an unreadable file is a ``ConfigError`` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read env file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"env file {path} is not UTF-8 text") from exc
    return parse_env_text(text, str(path))
