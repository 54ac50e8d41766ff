"""Command line: parse the flags, run the mode, and map every failure to its exit code.

This module is the only place that turns a ``BackupError`` into a process
exit status: 0 success, 1 general, 2 configuration, 3 database connection,
4 backup creation, 5 verification, 6 upload, 7 cleanup.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from . import __version__
from .config import Options, Settings, load_settings
from .errors import BackupError, ConfigError
from .log import add_secrets, configure, fields, log_format
from .naming import SCHEMA_SUFFIX, TYPE_CHOICES
from .signals import interrupts_raise
from .storage import configured_stores
from .variables import SECRETS
from .variables_docs import help_epilog

PROG = "db-backup"
log = logging.getLogger(__name__)

DESCRIPTION = """\
Creates PostgreSQL database backups with configurable retention policy:
pg_dump (plain SQL) compressed with pigz/gzip (or zstd), written atomically
with a .sha256 beside it, optionally verified, uploaded to S3 and pruned."""

EXAMPLES = """\
Examples:
  db-backup.sh                       # daily backup with defaults
  db-backup.sh --type=weekly         # weekly backup
  db-backup.sh --type=auto --verify  # one cron line for daily/weekly/monthly
  db-backup.sh --dry-run --type=daily
  BACKUP_DIR=/mnt/backups db-backup.sh

Exit codes:
  0 success, 1 general error (or another run holds the lock, or interrupted),
  2 configuration error, 3 database connection error, 4 backup creation error,
  5 verification error, 6 upload error, 7 cleanup error"""


class UsageError(ConfigError):
    """A bad flag or flag value: exit 2, with the usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--type=X`` and ``--type X`` both work; no abbreviations)."""
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=f"{help_epilog()}\n\n{EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--type",
        dest="backup_type",
        choices=TYPE_CHOICES,
        metavar="TYPE",
        help="daily, weekly, monthly, or auto: monthly on the 1st, weekly on "
        "BACKUP_WEEKLY_DAY, else daily (default: BACKUP_TYPE or daily)",
    )
    parser.add_argument(
        "--schema-only", action="store_true", help="back up the schema only (no data)"
    )
    parser.add_argument("--verify", action="store_true", help="verify the backup after creating it")
    parser.add_argument("-v", "--verbose", action="store_true", help="print debug output")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="print what retention would delete for the type; change nothing",
    )
    mode.add_argument(
        "--list", action="store_true", help="list backups, local and remote, newest first"
    )
    mode.add_argument(
        "--verify-file",
        metavar="PATH",
        type=Path,
        help="verify an existing backup file (same checks and exit codes as --verify)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def parse_options(argv: Sequence[str]) -> Options:
    """Options from the command line; ``UsageError`` for anything unknown or malformed."""
    args = build_parser().parse_args(list(argv))
    if args.dry_run:
        mode = "dry-run"
    elif args.list:
        mode = "list"
    elif args.verify_file is not None:
        mode = "verify-file"
    else:
        mode = "backup"
    return Options(
        mode=mode,
        backup_type=args.backup_type,
        schema_only=args.schema_only,
        verify=args.verify,
        verbose=args.verbose,
        verify_file=args.verify_file,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the tool; returns the exit code."""
    environ = os.environ if environ is None else environ
    json_logs = environ.get("BACKUP_LOG_FORMAT", "").strip().lower() == "json"
    configure(fmt="json" if json_logs else "text", verbose=False)
    add_secrets(*(environ.get(name) for name in SECRETS))
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        log.error(exc.msg)
        build_parser().print_usage(sys.stderr)
        return exc.exit_code
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0)
    configure(verbose=options.verbose)
    try:
        with interrupts_raise():
            settings = load_settings(options, environ)
            configure(fmt=settings.log_format)
            add_secrets(settings.connection.password, *settings.secrets)
            run_mode(settings)
        return 0
    except BackupError as exc:
        report(exc)
        return exc.exit_code
    except Exception as exc:  # a bug: say so plainly, full trace with -v
        log.error(f"unexpected error: {type(exc).__name__}: {exc}")
        for line in traceback.format_exc().splitlines():
            log.debug(line)
        return 1


def run_mode(settings: Settings) -> None:
    """Backup, dry run, listing or verification of a file."""
    mode = settings.options.mode
    if mode == "backup":
        from .backup import run_backup

        run_backup(settings)
    elif mode == "dry-run":
        from .dry_run import print_plan

        print_plan(
            configured_stores(settings.backup_dir, settings.s3),
            settings.retention,
            settings.backup_type,
            settings.connection.dbname,
            schema_only=settings.schema_only,
        )
    elif mode == "list":
        from . import listing

        backups = listing.list_backups(
            configured_stores(settings.backup_dir, settings.s3),
            settings.connection.dbname,
            verify_checksums=settings.options.verify,
        )
        listing.print_listing(backups)
    elif mode == "verify-file":
        from . import verify

        path = settings.options.verify_file
        assert path is not None
        verify.verify_backup(
            path.expanduser().resolve(),
            settings.connection,
            settings.verify_settings,
            schema_only=is_schema_only_name(path.name),
        )
    else:  # pragma: no cover - parse_options only makes the modes above
        raise ConfigError(f"unknown mode {mode!r}")


def is_schema_only_name(filename: str) -> bool:
    """Whether a backup's name marks it schema-only (``..._schema.sql.gz``)."""
    stem = filename.removesuffix(".failed")
    for extension in (".sql.gz", ".sql.zst"):
        if stem.endswith(extension):
            return stem[: -len(extension)].endswith(SCHEMA_SUFFIX)
    return False


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
