"""``db-backup``'s command line: parse the flags and run the mode.

``command.run_command`` turns every ``BackupError`` into its exit status:
0 success, 1 general, 2 configuration, 3 database connection, 4 backup
creation, 5 verification, 6 upload, 7 cleanup.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import __version__
from .command import Parser, UsageError, run_command, settings_for
from .config import Options, Settings
from .errors import ConfigError
from .naming import SCHEMA_SUFFIX, TYPE_CHOICES
from .restore_source import LATEST
from .storage import configured_stores
from .variables_docs import help_epilog

__all__ = ["UsageError", "build_parser", "main", "parse_options"]

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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--type=X`` and ``--type X`` both work; no abbreviations)."""
    parser = Parser(
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
    mode.add_argument(
        "--verify-remote",
        metavar="BACKUP",
        nargs="?",
        const=LATEST,
        help="restore drill of a backup in S3 into a scratch database: latest (default, "
        "of --type when given) or s3://bucket/key; streamed, never written to disk",
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
    elif args.verify_remote is not None:
        mode = "verify-remote"
    else:
        mode = "backup"
    return Options(
        mode=mode,
        backup_type=args.backup_type,
        schema_only=args.schema_only,
        verify=args.verify,
        verbose=args.verbose,
        verify_file=args.verify_file,
        verify_remote=args.verify_remote,
    )


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the tool; returns the exit code."""
    environ = os.environ if environ is None else environ
    return run_command(
        sys.argv[1:] if argv is None else argv,
        environ,
        parse=parse_options,
        usage=build_parser().format_usage,
        verbose=lambda options: options.verbose,
        log_format_of=lambda options: None,
        run=lambda options: run_mode(settings_for(options, environ)),
    )


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
    elif mode == "verify-remote":
        verify_remote(settings)
    else:  # pragma: no cover - parse_options only makes the modes above
        raise ConfigError(f"unknown mode {mode!r}")


def verify_remote(settings: Settings) -> None:
    """``--verify-remote``: the checks and test restore of an S3 backup; metrics on success."""
    from . import verify
    from .metrics import publish_verified
    from .restore_source import choose_backup

    requested = settings.options.verify_remote or LATEST
    if settings.s3 is None:
        raise ConfigError("--verify-remote needs BACKUP_S3_BUCKET (and the S3 settings)")
    latest = requested == LATEST
    chosen = choose_backup(
        requested,
        database=settings.connection.dbname,
        backup_dir=settings.backup_dir,
        s3=settings.s3,
        backup_type=settings.backup_type if latest and settings.options.backup_type else None,
        source="s3" if latest else None,
    )
    report = verify.verify_stored(chosen, settings.connection, settings.verify_settings)
    parsed = chosen.backup.parsed
    if report.restore is not None and parsed is not None:
        publish_verified(
            settings.metrics_file,
            settings.pushgateway_url,
            parsed.database,
            parsed.backup_type,
            time.time(),
        )


def is_schema_only_name(filename: str) -> bool:
    """Whether a backup's name marks it schema-only (``..._schema.sql.gz``)."""
    stem = filename.removesuffix(".failed")
    for extension in (".sql.gz", ".sql.zst"):
        if stem.endswith(extension):
            return stem[: -len(extension)].endswith(SCHEMA_SUFFIX)
    return False
