"""``db-restore``: restore a backup into a new database, prove it, swap it in on request.

Exit codes: 0 restored (and swapped with ``--replace``), 1 general (another
backup or restore holds the lock, interrupted), 2 configuration, 3 connection,
5 the backup failed its checks, 6 download from S3 failed, 8 the restore
failed (the new database was dropped), 9 the swap failed (the message says
which database holds what).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import __version__
from .command import Parser, UsageError, run_command, settings_for
from .config import Options
from .log import LOG_FORMATS
from .naming import BACKUP_TYPES
from .restore_run import RestoreRequest, run_restore
from .restore_source import LATEST, SOURCES

PROG = "db-restore"

DESCRIPTION = """\
Restores a backup made by db-backup into a new database, after checking its
checksum, decompression and completeness in the same pass, and compares what
landed with what the dump holds. The live database is not touched unless
--replace is given, and even then it is renamed aside, never dropped."""

EPILOG = """\
BACKUP is 'latest' (the default: the newest good backup, local first, then S3),
a file path, a file name in BACKUP_DIR, or s3://bucket/key.

Settings: the same variables and files as db-backup.sh (tools/db-backup/README.md).

Examples:
  db-restore.sh                                  # newest backup into <db>_restored_<time>
  db-restore.sh --type=weekly --dry-run          # which backup, and is it sound?
  db-restore.sh shop_daily_20260101_020000.sql.gz --target=shop_check
  db-restore.sh --from=s3 --replace --yes        # newest S3 backup in place of the live db
  db-restore.sh --with-roles                     # on a new server: its roles first

Exit codes:
  0 restored, 1 general error (or another run holds the lock, or interrupted),
  2 configuration error, 3 database connection error, 5 the backup failed its checks,
  6 download failed, 8 the restore failed (new database dropped), 9 the swap failed"""


@dataclass(frozen=True)
class RestoreOptions:
    """The parsed command line."""

    request: RestoreRequest
    listing: bool
    verbose: bool
    log_format: str | None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (no abbreviations)."""
    parser = Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("backup", nargs="?", default=LATEST, metavar="BACKUP")
    parser.add_argument(
        "--type",
        dest="backup_type",
        choices=BACKUP_TYPES,
        metavar="TYPE",
        help="with latest: the newest good backup of this type (daily, weekly, monthly)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        choices=SOURCES,
        metavar="WHERE",
        help="with latest: look only in local or s3 (default: local, then S3 if configured)",
    )
    parser.add_argument(
        "--target",
        metavar="NAME",
        help="database to restore into (default: <db>_restored_<YYYYmmdd_HHMMSS>); "
        "it must not exist, or be empty",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="after a proven restore, put it in place of the live database "
        "(the old one is kept as <db>_before_restore_<time>)",
    )
    parser.add_argument("--yes", action="store_true", help="confirm --replace without a prompt")
    parser.add_argument(
        "--with-roles",
        action="store_true",
        help="first create the roles recorded with the backup that the server lacks "
        "(existing roles are left as they are)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="name the backup and the target and check the backup; touch no database",
    )
    mode.add_argument(
        "--list", action="store_true", help="list the restorable backups, newest first"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print debug output")
    parser.add_argument("--log-format", choices=LOG_FORMATS, metavar="FORMAT", help="text or json")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def parse_options(argv: Sequence[str]) -> RestoreOptions:
    """Options from the command line; ``UsageError`` for anything unknown or malformed."""
    args = build_parser().parse_args(list(argv))
    if args.target is not None and not args.target:
        raise UsageError("--target is empty")
    if args.list and (args.replace or args.target is not None or args.backup != LATEST):
        raise UsageError("--list takes no backup, --target or --replace")
    request = RestoreRequest(
        backup=args.backup,
        backup_type=args.backup_type,
        source=args.source,
        target=args.target,
        replace=args.replace,
        confirmed=args.yes,
        dry_run=args.dry_run,
        with_roles=args.with_roles,
    )
    return RestoreOptions(request, args.list, args.verbose, args.log_format)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the restore; returns the exit code."""
    environ = os.environ if environ is None else environ

    def run(options: RestoreOptions) -> None:
        mode = "list" if options.listing else "restore"
        settings = settings_for(
            Options(mode=mode, verbose=options.verbose),
            environ,
            log_format_flag=options.log_format,
        )
        if options.listing:
            from .listing import list_backups, print_listing
            from .storage import configured_stores

            stores = configured_stores(settings.backup_dir, settings.s3)
            print_listing(list_backups(stores, settings.connection.dbname))
            return
        run_restore(options.request, settings)

    return run_command(
        sys.argv[1:] if argv is None else argv,
        environ,
        parse=parse_options,
        usage=build_parser().format_usage,
        verbose=lambda options: options.verbose,
        log_format_of=lambda options: options.log_format,
        run=run,
    )
