"""Restore a backup into a new database, prove it, and put it in place of the live one on request.

The order is what makes it safe:

1. choose the backup (``restore_source``) and read its expected checksum;
2. preflight: the role may create databases (and, for ``--replace``, owns the
   live one); databases left by killed restores are dropped (``databases``);
3. create the target database (marked as a restore in progress) or take an
   existing empty one;
4. one pass over the backup (``backup_stream``): hash, decompress, scan, and
   psql loading it inside a transaction that is committed only after the
   checksum, decompression and completeness verdicts are in;
5. compare rows and objects with what the dump promises, then ``ANALYZE``;
6. with ``--replace``: refuse new connections to the live database, end its
   sessions, rename it aside, rename the restored one into its place (undoing
   the first rename if the second fails).

A failed check (exit 5) or load (exit 8) drops the database this run created;
the live database is never touched before step 6, and never dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import psql
from .atomic import make_dirs
from .backup_stream import StreamReport, read_backup
from .config import Settings
from .connection import ConnectionInfo
from .databases import (
    RESTORED,
    Server,
    check_database_name,
    quote_ident,
    quote_literal,
    stamped_name,
)
from .deadline import RESTORE, RunDeadline
from .errors import BackupError, ConfigError, DatabaseConnectionError, RestoreError, SwapError
from .load import Comparison, DumpLoad, compare
from .lock import BackupLock
from .log import SUCCESS, fields
from .ownership import hint_for
from .restore_source import LATEST, ChosenBackup, choose_backup
from .roles_restore import apply_roles, plan_for, read_roles
from .signals import signals_held

logger = logging.getLogger(__name__)

RENAME_ATTEMPTS = 50  # sessions ended by pg_terminate_backend take a moment to go
RENAME_PAUSE_SECONDS = 0.1


@dataclass(frozen=True)
class RestoreRequest:
    """What the command line asked for."""

    backup: str = LATEST
    backup_type: str | None = None
    source: str | None = None  # local or s3, for latest
    target: str | None = None
    replace: bool = False
    confirmed: bool = False  # --yes
    dry_run: bool = False
    with_roles: bool = False  # first create the roles recorded with the backup


Confirm = Callable[[str], bool]


def run_restore(
    request: RestoreRequest, settings: Settings, confirm: Confirm | None = None
) -> None:
    """Carry out ``request``; every failure is a ``BackupError`` with its exit code."""
    live = settings.connection.dbname
    now = dt.datetime.now()
    target = request.target if request.target is not None else stamped_name(live, "restored", now)
    check_database_name(target, "--target")
    if target == live and request.replace:
        raise ConfigError(f"--target and --replace both name the live database {live}")
    unconfirmed = request.replace and not request.dry_run and not request.confirmed
    if unconfirmed and not sys.stdin.isatty():
        raise ConfigError(
            "--replace needs --yes when stdin is not a terminal",
            hint="add --yes to confirm that the live database is to be replaced",
        )
    chosen = choose_backup(
        request.backup,
        database=live,
        backup_dir=settings.backup_dir,
        s3=settings.s3,
        backup_type=request.backup_type,
        source=request.source,
    )
    logger.info(f"Backup to restore: {chosen.name} ({chosen.address})")
    expected = chosen.expected_sha256()
    identity = settings.verify_settings.identity_file
    chosen = chosen.with_identity(identity)
    if target == live:
        _refuse_live_target(Server(settings.connection), live)
    if request.dry_run:
        _dry_run(chosen, expected, target, live if request.replace else None, identity)
        if request.with_roles:
            _dry_run_roles(Server(settings.connection), chosen)
        return
    aside = stamped_name(live, "before_restore", now)
    if request.replace and not request.confirmed:
        question = (
            f"Replace database {live} with the restore of {chosen.name}? "
            f"The current {live} is kept as {aside}. [y/N] "
        )
        if not (confirm or _ask)(question):
            raise ConfigError("--replace not confirmed: nothing was changed")
    _ensure_lock_dir(settings.backup_dir)
    with BackupLock(settings.backup_dir, live):
        server = Server(settings.connection)
        _preflight(server, settings.connection, replace=request.replace)
        server.drop_orphans()
        # The swap below runs without a deadline: it is short, and must not stop halfway.
        with RunDeadline(settings.run_timeout_seconds) as deadline:
            deadline.enter_step(RESTORE)
            if request.with_roles:
                apply_roles(server, chosen)
            comparison, seconds = _restore_into(server, chosen, expected, target, identity)
        logger.log(
            SUCCESS,
            f"Restored {chosen.name} into database {target}: {comparison.matched} "
            f"match the dump ({seconds:.1f} s)",
            extra=fields(database=target, backup=chosen.name, rows=comparison.rows),
        )
        if request.replace:
            with signals_held():
                _swap(server, live, target, aside)
            logger.log(
                SUCCESS,
                f"Database {live} now holds the restore of {chosen.name}; the previous "
                f"{live} is kept as {aside}",
            )
            logger.info(f'when satisfied, drop the old copy: DROP DATABASE "{aside}";')
        elif target == live:
            logger.info(f"database {live} did not exist on this server; it now holds the restore")
        else:
            logger.info(
                f"the live database {live} was not touched; to put the restore in its place "
                f"run: scripts/db-restore.sh {chosen.name} --replace --yes (or rename by hand)"
            )


def _refuse_live_target(server: Server, live: str) -> None:
    """``--target`` may name the live database only where it does not exist (a new server)."""
    if server.exists(live):
        raise ConfigError(
            f"--target is the live database {live}",
            hint="restore into a new database and add --replace to put it in place of the live one",
        )


def _ask(question: str) -> bool:
    """Ask on the terminal; only ``y``/``yes`` confirms."""
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _dry_run(
    chosen: ChosenBackup,
    expected: str,
    target: str,
    replaces: str | None,
    identity: Path | None = None,
) -> None:
    started = time.monotonic()
    with contextlib.closing(chosen.store.open(chosen.backup)) as source:
        report = read_backup(source, chosen.name, expected, identity=identity)
    plan = f"would be restored into a new database {target}"
    if replaces:
        plan += f" and put in place of {replaces}"
    logger.log(
        SUCCESS,
        f"Dry run: {chosen.name} passes its checks ({_checked(report)}, "
        f"{time.monotonic() - started:.1f} s); it {plan}; no database was touched",
    )


def _dry_run_roles(server: Server, chosen: ChosenBackup) -> None:
    plan = plan_for(server, read_roles(chosen))
    created = ", ".join(plan.created) or "none"
    logger.info(
        f"Dry run: --with-roles would create role(s): {created}; "
        f"{len(plan.existing)} existing left as they are"
    )


def _checked(report: StreamReport) -> str:
    scan = report.scan
    return (
        f"checksum, decompression, completeness: {scan.total_rows} rows in {len(scan.rows)} tables"
    )


def _ensure_lock_dir(backup_dir: Path) -> None:
    try:
        make_dirs(backup_dir)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the backup directory {backup_dir}: {exc.strerror or exc}"
        ) from None


def _preflight(server: Server, connection: ConnectionInfo, *, replace: bool) -> None:
    _, may_create = server.role_may()
    if not may_create:
        raise ConfigError(
            f"role {connection.user} may not create databases",
            hint=f"ALTER ROLE {connection.user} CREATEDB, or restore as a role that may",
        )
    if replace and not server.owns(connection.dbname):
        raise ConfigError(
            f"--replace: role {connection.user} does not own database {connection.dbname}, "
            "so it cannot rename it",
            hint="run the restore as the database's owner or a superuser",
        )


def _restore_into(
    server: Server,
    chosen: ChosenBackup,
    expected: str,
    target: str,
    identity: Path | None = None,
) -> tuple[Comparison, float]:
    """Steps 3 to 5; the database this run created is dropped on any failure."""
    started = time.monotonic()
    created = False
    if server.exists(target):
        if not server.is_empty(target):
            raise ConfigError(
                f"database {target} exists and is not empty",
                hint="choose another --target, or drop that database first",
            )
        logger.info(f"restoring into the existing, empty database {target}")
    else:
        logger.info(f"creating database {target}")
        server.create_marked(target)
        created = True
    connection = server.connection.with_dbname(target)
    load = DumpLoad(connection)
    try:
        with contextlib.closing(chosen.store.open(chosen.backup)) as source:
            load.start()
            report = read_backup(source, chosen.name, expected, sink=load.write, identity=identity)
        logger.info(
            f"read {report.size} bytes: checksum ok, {report.scan.bytes_scanned} bytes of SQL, "
            "complete dump; committing"
        )
        try:
            load.commit()
        except psql.PsqlFailed as exc:
            if exc.connection_failed:  # the server went away: no verdict on the backup
                raise DatabaseConnectionError(
                    f"restore: the connection to the server was lost: {exc.first}",
                    detail=exc.detail,
                ) from None
            raise RestoreError(
                f"restore: psql stopped with status {exc.returncode}: {exc.first}",
                detail=exc.detail,
                hint="nothing was committed; "
                + (hint_for(exc.first) or "the statement that failed is in the detail"),
            ) from None
        comparison = _compare(connection, report, load.copied_rows())
        stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        _analyze_and_mark(connection, target, f"{RESTORED} from {chosen.name} at {stamp}")
    except BaseException:
        with signals_held():
            load.close()
            if created:
                _drop_quietly(server, target)
        raise
    load.close()
    return comparison, time.monotonic() - started


def _compare(connection: ConnectionInfo, report: StreamReport, copied: list[int]) -> Comparison:
    try:
        comparison = compare(connection, report.scan, copied)
    except (psql.PsqlFailed, psql.PsqlTimeout) as exc:
        raise RestoreError(f"restore: comparing the restored database failed: {exc}") from None
    if comparison.problems:
        raise RestoreError(
            f"restore: {comparison.problems[0]}",
            detail="\n".join(comparison.problems[1:21]) or None,
            hint="the dump loaded without an error but did not recreate what it holds",
        )
    return comparison


def _analyze_and_mark(connection: ConnectionInfo, target: str, mark: str) -> None:
    """``ANALYZE`` (planner statistics before anyone queries it), then the database's comment.

    One session for both: the comment saying it was restored comes only after ``ANALYZE``.
    """
    sql = f"ANALYZE;\nCOMMENT ON DATABASE {quote_ident(target)} IS {quote_literal(mark)};"
    try:
        psql.query(connection, sql)
    except (psql.PsqlFailed, psql.PsqlTimeout) as exc:
        raise RestoreError(
            f"restore: ANALYZE and marking {target} restored failed: {exc}"
        ) from None


def _drop_quietly(server: Server, name: str) -> None:
    try:
        server.drop(name)
    except BackupError as exc:
        logger.error(f"the new database {name} could not be dropped: {exc.msg}")
        logger.error(f'hint: drop it by hand: DROP DATABASE "{name}" WITH (FORCE);')
        return
    logger.info(f"dropped the new database {name}")


def _swap(server: Server, live: str, restored: str, aside: str) -> None:
    """Step 6: ``live`` -> ``aside``, ``restored`` -> ``live``; ``SwapError`` (exit 9) if not."""
    try:
        server.allow_connections(live, False)
        ended = server.terminate_sessions(live)
        logger.info(f"ended {ended} session(s) on {live}; new connections to it are refused")
        _rename(server, live, aside)
    except BackupError as exc:
        with contextlib.suppress(BackupError):
            server.allow_connections(live, True)
        raise SwapError(
            f"replace: {exc.msg}",
            detail=f"{live} is unchanged; {restored} holds the proven restore",
            hint=f"end the sessions on {live} and run the rename by hand, or retry",
        ) from None
    try:
        _rename(server, restored, live)
    except BackupError as exc:
        try:
            _rename(server, aside, live)
            server.allow_connections(live, True)
        except BackupError as undo:
            raise SwapError(
                f"replace: {exc.msg}; putting {live} back failed too: {undo.msg}",
                detail=f"{aside} holds the previous {live}; {restored} holds the restore",
                hint=f'ALTER DATABASE "{aside}" RENAME TO "{live}"; then '
                f'ALTER DATABASE "{live}" WITH ALLOW_CONNECTIONS true;',
            ) from None
        raise SwapError(
            f"replace: {exc.msg}",
            detail=f"{live} is back under its name; {restored} holds the proven restore",
        ) from None
    with contextlib.suppress(BackupError):
        server.allow_connections(aside, True)


def _rename(server: Server, old: str, new: str) -> None:
    """Rename, retrying while ended sessions are still on their way out."""
    for attempt in range(RENAME_ATTEMPTS):
        try:
            server.rename(old, new)
            return
        except BackupError as exc:
            if "being accessed by other users" not in exc.msg or attempt == RENAME_ATTEMPTS - 1:
                raise
            server.terminate_sessions(old)
            time.sleep(RENAME_PAUSE_SECONDS)
