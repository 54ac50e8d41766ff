"""The frame every command runs in: logging set up, secrets masked, interrupts, exit codes.

``run_command`` is the only place that turns a ``BackupError`` into a process
exit status (its ``exit_code``) and an unexpected exception into exit 1 with
one line (the trace with ``-v``); an observer (the notifications) hears of the
start and the end of every run. ``db-backup`` and ``db-restore`` differ only
in how they parse their arguments and what they run.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn, Protocol, TypeVar

from .config import Options, Settings, load_settings
from .errors import BackupError, ConfigError
from .log import add_secrets, configure, fields, log_format
from .signals import signals_held
from .variables import SECRETS

log = logging.getLogger(__name__)

Parsed = TypeVar("Parsed")


class RunObserver(Protocol):
    """Told when a run starts and how it ended (exit code, error message)."""

    def started(self) -> None:
        """The run begins."""
        ...

    def finished(self, exit_code: int, error: str | None) -> None:
        """The run ended with ``exit_code``; ``error`` is its error line, if any."""
        ...


class UsageError(ConfigError):
    """A bad flag or flag value: exit 2, with the usage."""


class Parser(argparse.ArgumentParser):
    """argparse that raises ``UsageError`` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def run_command(
    argv: Sequence[str],
    environ: Mapping[str, str],
    *,
    parse: Callable[[Sequence[str]], Parsed],
    usage: Callable[[], str],
    verbose: Callable[[Parsed], bool],
    log_format_of: Callable[[Parsed], str | None],
    run: Callable[[Parsed], None],
    observe: Callable[[Parsed], RunObserver | None] | None = None,
) -> int:
    """Parse ``argv``, run, and return the exit code (see the module docstring).

    ``observe`` gives the run's observer (None: nobody to tell); a bad setting it
    reads is the run's ``ConfigError``. Its ``finished`` runs with signals held.
    """
    json_logs = environ.get("BACKUP_LOG_FORMAT", "").strip().lower() == "json"
    configure(fmt="json" if json_logs else "text", verbose=False)
    add_secrets(*(environ.get(name) for name in SECRETS))
    try:
        parsed = parse(argv)
    except UsageError as exc:
        log.error(exc.msg)
        sys.stderr.write(usage())
        return exc.exit_code
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    configure(verbose=verbose(parsed), fmt=log_format_of(parsed))
    from .signals import interrupts_raise

    observer: RunObserver | None = None
    error: str | None = None
    try:
        with interrupts_raise():
            observer = observe(parsed) if observe is not None else None
            if observer is not None:
                observer.started()
            run(parsed)
        exit_code = 0
    except BackupError as exc:
        report(exc)
        exit_code, error = exc.exit_code, exc.msg
    except Exception as exc:  # a bug: say so plainly, full trace with -v
        error = f"unexpected error: {type(exc).__name__}: {exc}"
        log.error(error)
        for line in traceback.format_exc().splitlines():
            log.debug(line)
        exit_code = 1
    if observer is not None:
        with signals_held():
            observer.finished(exit_code, error)
    return exit_code


def settings_for(
    options: Options, environ: Mapping[str, str], *, log_format_flag: str | None = None
) -> Settings:
    """Load the settings, then log in their format (a flag wins) and mask their secrets."""
    settings = load_settings(options, environ)
    configure(fmt=log_format_flag or settings.log_format)
    add_secrets(settings.connection.password, *settings.secrets)
    return settings


def report(exc: BackupError) -> None:
    """Log an error: message, then detail and hint lines (one JSON object in JSON mode)."""
    if log_format() == "json":
        told = {"detail": exc.detail, "hint": exc.hint}
        extra = {name: text for name, text in told.items() if text}
        log.error(exc.msg, extra=fields(exit_code=exc.exit_code, **extra))
        return
    log.error(exc.msg)
    if exc.detail:
        for index, line in enumerate(exc.detail.splitlines()):
            log.error(("detail: " if index == 0 else "  ") + line)
    if exc.hint:
        log.error(f"hint: {exc.hint}")
