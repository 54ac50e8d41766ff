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
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .command import Parser, RunObserver, UsageError, run_command, settings_for
from .config import Options, Settings, project_root_from, read_sources
from .deadline import VERIFY, RunDeadline
from .errors import ConfigError
from .naming import SCHEMA_SUFFIX, TYPE_CHOICES
from .notify import RunReport
from .restore_source import LATEST
from .storage import configured_stores
from .variables_docs import help_epilog

__all__ = ["Command", "UsageError", "build_parser", "main", "parse_command", "parse_options"]

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
  db-backup.sh --schedule='30 2 * * *' --verify   # run forever, a backup at 02:30
  db-backup.sh --check --max-age=26h # exit 0 while the newest good backup is younger
  BACKUP_DIR=/mnt/backups db-backup.sh

Exit codes:
  0 success, 1 general error (or another run holds the lock, or interrupted;
  with --check: the newest good backup is too old, or there is none),
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
    mode.add_argument(
        "--check",
        action="store_true",
        help="exit 0 when the newest good backup (local or S3, any type) is younger than "
        "--max-age, else exit 1 with one line naming its age; lists only, dumps nothing",
    )
    parser.add_argument(
        "--max-age",
        metavar="DURATION",
        help="the age limit of --check, such as 26h or 8d (default: BACKUP_MAX_AGE or 26h)",
    )
    parser.add_argument(
        "--schedule",
        metavar="EXPR",
        nargs="?",
        const="",
        help="run forever, a backup (with the other flags; --type=auto unless given) at each "
        "time of EXPR: five cron fields, @hourly/@daily/@weekly/@monthly, or @every 6h "
        "(without EXPR: BACKUP_SCHEDULE)",
    )
    parser.add_argument(
        "--once", action="store_true", help="one backup now (the default; never a scheduler)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


@dataclass(frozen=True)
class Command:
    """The parsed command line: the options, plus what only the command line uses."""

    options: Options
    argv: tuple[str, ...] = ()  # as given, for the scheduler's runs
    schedule: str | None = None  # --schedule's expression; "" means BACKUP_SCHEDULE
    once: bool = False
    max_age: str | None = None
    report: RunReport = field(default_factory=lambda: RunReport("backup"), compare=False)


def parse_options(argv: Sequence[str]) -> Options:
    """Options from the command line; ``UsageError`` for anything unknown or malformed."""
    return parse_command(argv).options


def parse_command(argv: Sequence[str]) -> Command:
    """The command line; ``UsageError`` for anything unknown, malformed or contradictory."""
    args = build_parser().parse_args(list(argv))
    options = _options(args)
    if args.schedule is not None and options.mode not in ("backup", "verify-remote"):
        raise UsageError(f"--schedule runs backups or --verify-remote, not --{options.mode}")
    if args.once and args.schedule is not None:
        raise UsageError("--once and --schedule contradict each other")
    if args.max_age is not None and options.mode != "check":
        raise UsageError("--max-age goes with --check")
    return Command(
        options,
        tuple(argv),
        args.schedule,
        args.once,
        args.max_age,
        RunReport(options.mode, backup_type=options.backup_type),
    )


def _options(args: argparse.Namespace) -> Options:
    if args.check:
        mode = "check"
    elif args.dry_run:
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
        parse=parse_command,
        usage=build_parser().format_usage,
        verbose=lambda command: command.options.verbose,
        log_format_of=lambda command: None,
        run=lambda command: run_parsed(command, environ),
        observe=lambda command: observer_for(command, environ),
    )


NOTIFIED_MODES = ("backup", "verify-file", "verify-remote")


def merged_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """Every settings source merged (environment, config file, env files, ``.env``)."""
    return read_sources(environ, project_root_from(environ)).values


def schedule_of(command: Command, env: Mapping[str, str]) -> str | None:
    """The schedule this command runs on, or None for a single run.

    ``--schedule=EXPR``, or ``--schedule`` alone with ``BACKUP_SCHEDULE``. The
    variable alone never starts a scheduler: a host sharing ``.env`` with the compose
    service would turn every cron or manual run into a process that never ends.
    """
    if command.once:
        return None
    if command.schedule:
        return command.schedule
    configured = env.get("BACKUP_SCHEDULE", "").strip()
    if command.schedule == "":
        if not configured:
            raise ConfigError("--schedule without a value needs BACKUP_SCHEDULE")
        return configured
    return None


def observer_for(command: Command, environ: Mapping[str, str]) -> RunObserver | None:
    """The notifications of a backup or verification run (a scheduler's runs send their own)."""
    if command.options.mode not in NOTIFIED_MODES:
        return None
    env = merged_settings(environ)
    if schedule_of(command, env) is not None:
        return None
    from .notify import notifier_for

    report = command.report
    report.database = env.get("POSTGRES_DB", "").strip()
    report.backup_type = command.options.backup_type or env.get("BACKUP_TYPE", "").strip() or None
    return notifier_for(env, report)


def run_parsed(command: Command, environ: Mapping[str, str]) -> None:
    """The scheduler, the freshness check, or one run of a mode."""
    env = merged_settings(environ)
    expression = schedule_of(command, env)
    if expression is not None:
        run_scheduler(command, expression, environ, env)
        return
    settings = settings_for(command.options, environ)
    if command.options.mode == "check":
        run_check(command, settings, env)
        return
    command.report.database = settings.connection.dbname
    command.report.backup_type = settings.backup_type
    run_mode(settings, command.report)


def run_scheduler(
    command: Command, expression: str, environ: Mapping[str, str], env: Mapping[str, str]
) -> None:
    """``--schedule``: settings checked once up front, then one child run per slot."""
    from .notify import notifier_for
    from .schedule import clock_zone, parse_schedule
    from .scheduler import Scheduler

    name = "--schedule" if command.schedule else "BACKUP_SCHEDULE"
    schedule = parse_schedule(expression, name)
    zone = clock_zone(env)
    settings_for(command.options, environ)  # a bad setting is exit 2 now, not at every slot
    notifier_for(env, RunReport(command.options.mode))  # and so is a bad notification setting
    Scheduler(schedule, scheduled_arguments(command, env), zone).run()


def scheduled_arguments(command: Command, env: Mapping[str, str]) -> list[str]:
    """The flags of each scheduled run: as given, less ``--schedule``, plus ``--once``; a
    backup gets ``--type=auto`` unless ``--type`` or ``BACKUP_TYPE`` says otherwise."""
    arguments: list[str] = []
    tokens = iter(command.argv)
    for token in tokens:
        if token == "--schedule":
            following = next(tokens, None)
            if following is not None and following.startswith("-"):
                arguments.append(following)
            continue
        if not token.startswith("--schedule="):
            arguments.append(token)
    typed = command.options.backup_type or env.get("BACKUP_TYPE", "").strip()
    if command.options.mode == "backup" and not typed:
        arguments.append("--type=auto")
    return [*arguments, "--once"]


def run_check(command: Command, settings: Settings, env: Mapping[str, str]) -> None:
    """``--check``: the newest good backup must be younger than the age limit."""
    from .durations import parse_duration
    from .freshness import check_freshness
    from .variables import read_text

    if command.max_age is not None:
        max_age = parse_duration(command.max_age, "--max-age")
    else:
        max_age = parse_duration(read_text(env, "BACKUP_MAX_AGE"), "BACKUP_MAX_AGE")
    check_freshness(
        configured_stores(settings.backup_dir, settings.s3),
        settings.connection.dbname,
        max_age,
        schema_only=settings.schema_only,
    )


def run_mode(settings: Settings, report: RunReport | None = None) -> None:
    """Backup, dry run, listing or verification of a file; ``report`` learns what was made."""
    mode = settings.options.mode
    if mode == "backup":
        from .backup import run_backup

        result = run_backup(settings)
        if report is not None:
            report.file, report.size_bytes = str(result.path), result.size
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
        if report is not None:
            report.file = str(path.expanduser().resolve())
        with RunDeadline(settings.run_timeout_seconds) as deadline:
            deadline.enter_step(VERIFY)
            verify.verify_backup(
                path.expanduser().resolve(),
                settings.connection,
                settings.verify_settings,
                schema_only=is_schema_only_name(path.name),
            )
    elif mode == "verify-remote":
        with RunDeadline(settings.run_timeout_seconds) as deadline:
            deadline.enter_step(VERIFY)
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
    stem = filename.removesuffix(".failed").removesuffix(".age")
    for extension in (".sql.gz", ".sql.zst"):
        if stem.endswith(extension):
            return stem[: -len(extension)].endswith(SCHEMA_SUFFIX)
    return False
