"""Log lines through the standard ``logging`` module, in the contract's format or as JSON lines.

Every module logs to ``logging.getLogger(__name__)``; ``configure`` (called by
``cli``) sets up the ``db_backup`` logger once. Text lines are
``[YYYY-mm-dd HH:MM:SS] [LEVEL] message``; JSON lines
(``BACKUP_LOG_FORMAT=json``) are ``{"ts": ..., "level": ..., "message": ...}``
plus the record's ``fields`` (``extra=fields(...)``). ERROR and WARNING go to
stderr, the rest to stdout, DEBUG only when verbose. ``SUCCESS`` is a level
between INFO and WARNING. A ``Redactor`` on both streams replaces every
registered secret by ``***``: a secret of 8 characters or more wherever it
appears, a shorter one only as a whole token, so a short password cannot
garble ordinary words.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

LOG_FORMATS = ("text", "json")
REDACTED = "***"
SUCCESS = logging.INFO + 5
logging.addLevelName(SUCCESS, "SUCCESS")
PACKAGE = "db_backup"
LONG_SECRET = 8  # characters: from here on a secret is masked wherever it appears

JsonValue = str | int | float | bool | None


def fields(**values: JsonValue) -> dict[str, dict[str, JsonValue]]:
    """``extra=`` for a record: fields a JSON line carries beside the message."""
    return {"fields": values}


def format_text(when: dt.datetime, level: str, message: str) -> str:
    """One line in the contract format."""
    return f"[{when.strftime('%Y-%m-%d %H:%M:%S')}] [{level}] {message}"


class TextFormatter(logging.Formatter):
    """The contract's ``[time] [LEVEL] message``, local time."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created)
        return format_text(when, record.levelname, record.getMessage())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (ISO 8601 with offset), ``level``, ``message``, fields."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created).astimezone()
        line: dict[str, object] = {
            "ts": when.isoformat(timespec="seconds"),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None) or {}
        line.update({k: v for k, v in extra.items() if k not in line})
        return json.dumps(line, default=str, ensure_ascii=False)


def _pattern(secret: str) -> str:
    escaped = re.escape(secret)
    return escaped if len(secret) >= LONG_SECRET else rf"(?<!\w){escaped}(?!\w)"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each non-empty secret replaced by ``***`` (short ones as whole tokens)."""
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not ordered:
        return text
    return re.sub("|".join(_pattern(s) for s in ordered), REDACTED, text)


class Redactor(logging.Filter):
    """Replaces registered secrets in the message and the fields of every record it passes."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, *secrets: str | None) -> None:
        """Never write these (empty values are ignored)."""
        self.secrets.update(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = ()
            extra = getattr(record, "fields", None)
            if extra:
                record.fields = {
                    k: redact(v, self.secrets) if isinstance(v, str) else v
                    for k, v in extra.items()
                }
        return True


class _StandardStream(logging.Handler):
    """Writes to the current ``sys.stdout`` or ``sys.stderr``; a closed reader is not an error."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def emit(self, record: logging.LogRecord) -> None:
        stream: TextIO | None = getattr(sys, self._name, None)
        if stream is None:
            return  # started with the stream closed (``>&-``): nowhere to write
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):
            pass  # a log that cannot be written must not turn a good backup into a failed one


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


_redactor = Redactor()
_state = {"format": "text"}


def add_secrets(*secrets: str | None) -> None:
    """Register values no log line may show."""
    _redactor.add(*secrets)


def attach(handler: logging.Handler) -> None:
    """Add ``handler`` to the ``db_backup`` logger: text lines, secrets masked as on the streams."""
    handler.addFilter(_redactor)
    handler.setFormatter(TextFormatter())
    logging.getLogger(PACKAGE).addHandler(handler)


def log_format() -> str:
    """The format lines are written in: ``text`` or ``json``."""
    return _state["format"]


def configure(*, fmt: str | None = None, verbose: bool | None = None) -> None:
    """Set up (or change) the ``db_backup`` logger's streams, format and verbosity."""
    logger = logging.getLogger(PACKAGE)
    if not logger.handlers:
        out, err = _StandardStream("stdout"), _StandardStream("stderr")
        out.addFilter(_Below(logging.WARNING))
        err.setLevel(logging.WARNING)
        for handler in (out, err):
            handler.addFilter(_redactor)
            logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    if fmt is not None:
        _state["format"] = fmt
    formatter = JsonFormatter() if _state["format"] == "json" else TextFormatter()
    for handler in logger.handlers:
        handler.setFormatter(formatter)
    if verbose is not None:
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)
