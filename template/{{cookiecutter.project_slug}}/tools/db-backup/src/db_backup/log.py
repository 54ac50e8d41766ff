"""Log lines in the contract's format, or one JSON object per line for log collectors.

Text: ``[YYYY-mm-dd HH:MM:SS] [LEVEL] message``; ERROR and WARNING go to
stderr, everything else to stdout, DEBUG only when verbose. JSON
(``BACKUP_LOG_FORMAT=json``): ``{"ts": ..., "level": ..., "message": ...}``
plus any extra fields, one object per line on the same streams. Every secret
the logger is told about is replaced by ``***`` before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
REDACTED = "***"

DEBUG = "DEBUG"
INFO = "INFO"
WARNING = "WARNING"
ERROR = "ERROR"
SUCCESS = "SUCCESS"

_TO_STDERR = {ERROR, WARNING}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each non-empty secret replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def format_text(when: dt.datetime, level: str, message: str) -> str:
    """One line in the contract format."""
    return f"[{when.strftime('%Y-%m-%d %H:%M:%S')}] [{level}] {message}"


def format_json(when: dt.datetime, level: str, message: str, fields: dict[str, Any]) -> str:
    """One JSON object: ``ts`` (ISO 8601 with offset), ``level``, ``message``, then fields."""
    record: dict[str, Any] = {
        "ts": when.astimezone().isoformat(timespec="seconds"),
        "level": level,
        "message": message,
    }
    record.update({k: v for k, v in fields.items() if k not in record})
    return json.dumps(record, default=str, ensure_ascii=False)


class Logger:
    """Writes log lines; reconfigurable once the settings are known."""

    def __init__(
        self,
        *,
        verbose: bool = False,
        fmt: str = "text",
        out: TextIO | None = None,
        err: TextIO | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.verbose = verbose
        self.fmt = fmt
        self._out = out
        self._err = err
        self._clock = clock or dt.datetime.now
        self._secrets: set[str] = set()

    def configure(self, *, verbose: bool | None = None, fmt: str | None = None) -> None:
        """Change verbosity or format (after the settings have been read)."""
        if verbose is not None:
            self.verbose = verbose
        if fmt is not None:
            self.fmt = fmt

    def add_secret(self, secret: str | None) -> None:
        """Never write ``secret``: it is replaced by ``***`` in every later line."""
        if secret:
            self._secrets.add(secret)

    def debug(self, msg: str, **fields: Any) -> None:
        """Detail for ``-v`` runs only."""
        if self.verbose:
            self._emit(DEBUG, msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        """A normal step of the run."""
        self._emit(INFO, msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        """Something an operator should look at; the run goes on."""
        self._emit(WARNING, msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        """A failure (stderr)."""
        self._emit(ERROR, msg, fields)

    def success(self, msg: str, **fields: Any) -> None:
        """A completed backup or check."""
        self._emit(SUCCESS, msg, fields)

    def _emit(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        when = self._clock()
        msg = redact(msg, self._secrets)
        if self.fmt == "json":
            clean = {
                k: redact(v, self._secrets) if isinstance(v, str) else v for k, v in fields.items()
            }
            line = format_json(when, level, msg, clean)
        else:
            line = format_text(when, level, msg)
        stream = (self._err or sys.stderr) if level in _TO_STDERR else (self._out or sys.stdout)
        try:
            stream.write(line + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError):
            # A closed log reader must not turn a good backup into a failed one.
            pass
