"""One backup run, in order: preflight, lock, dump, checksum, verify, upload, retention, metrics.

Everything that can be checked before dumping is checked first (tools,
backup directory, login, client version, lock, S3 bucket), so a bad setting
costs seconds, not an hour of dumping. Metrics are written at the end of
every run, successful or not.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import defaults, retention
from .atomic import FILE_MODE, make_dirs, remove_quietly
from .compression import compress_command
from .config import Settings
from .deadline import DUMP, UPLOAD, VERIFY, RunDeadline
from .dump import PARTIAL_MARKER, DumpResult, write_dump
from .encryption import check_recipients
from .errors import (
    BackupError,
    CleanupError,
    ConfigError,
    DatabaseConnectionError,
    VerifyError,
)
from .identifiers import check_file_name_room
from .lock import BackupLock
from .log import SUCCESS, JsonValue, fields
from .metrics import RunMetrics, publish, publish_verified
from .naming import FAILED_SUFFIX, parse_backup_name
from .roles import RolesError, RolesFile, is_roles_filename, write_roles_file
from .server import ServerInfo, probe
from .storage import BackupStore, LocalStore, s3_store
from .tools import client_major_version, find_tool
from .units import human_duration, human_rate, human_size

if TYPE_CHECKING:
    from .storage.s3 import S3Store

DIR_MODE = 0o700

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackupResult:
    """A finished backup."""

    path: Path
    checksum_path: Path
    backup_type: str
    schema_only: bool
    size: int
    sha256: str
    uncompressed_bytes: int | None
    seconds: float
    verified: bool = False
    remote_key: str | None = None
    roles_path: Path | None = None  # the roles file beside it (BACKUP_OWNERSHIP=keep)

    @property
    def filename(self) -> str:
        """The backup's base name."""
        return self.path.name


def prepare_backup_dir(path: Path) -> None:
    """Create ``BACKUP_DIR`` (mode 0700) if missing and prove it writable; ``ConfigError`` if not.

    Writability is tested by creating a file, not with ``access()``, which says
    yes to root on a read-only mount.
    """
    try:
        make_dirs(path, DIR_MODE)
    except OSError as exc:
        raise ConfigError(
            f"BACKUP_DIR {path} cannot be created: {exc.strerror or exc}",
            hint="point BACKUP_DIR at a writable directory",
        ) from None
    if not path.is_dir():
        raise ConfigError(f"BACKUP_DIR {path} is not a directory")
    probe_file = path / f".write-test-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
    except OSError as exc:
        raise ConfigError(
            f"BACKUP_DIR {path} is not writable: {exc.strerror or exc}",
            hint="fix its permissions or mount, or point BACKUP_DIR elsewhere",
        ) from None
    finally:
        remove_quietly(probe_file)


def check_tools(settings: Settings) -> None:
    """pg_dump, psql and the compressor exist (``ConfigError`` saying what to install)."""
    find_tool("pg_dump")
    find_tool("psql")
    if settings.keep_ownership:
        find_tool("pg_dumpall")
    compress_command(settings.compression)
    if settings.encryption is not None:
        check_recipients(settings.encryption)


def check_client_version(server: ServerInfo) -> int:
    """pg_dump refuses servers newer than itself; say so before dumping, with the way out."""
    client_major = client_major_version(find_tool("pg_dump"))
    if client_major < server.major:
        raise ConfigError(
            f"pg_dump {client_major} cannot dump a PostgreSQL {server.major} server "
            f"({server.version})",
            hint=f"install postgresql-client-{server.major} (or newer), or run the backup in "
            "the compose db-backup service, whose image matches the server",
        )
    return client_major


def remove_stale_partials(backup_dir: Path, database: str) -> None:
    """Delete temporary files an interrupted earlier run of this database left behind.

    Only called while holding the lock, so no other run of this database can be writing.
    Only files (or links) are removed, and only what was removed is reported as such.
    """
    for entry in os.scandir(backup_dir):
        name = entry.name
        if not name.startswith(".") or PARTIAL_MARKER not in name:
            continue
        final = name[1:].rsplit(PARTIAL_MARKER, 1)[0]
        if parse_backup_name(database, final) is None and not is_roles_filename(database, final):
            continue
        if entry.is_dir(follow_symlinks=False):
            log.warning(f"{name} has the name of a partial file but is a directory: left alone")
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning(
                f"cannot remove {name}, a partial file left by an interrupted run: "
                f"{exc.strerror or exc}"
            )
            continue
        log.warning(f"removed {name}, a partial file left by an interrupted run")


def quarantine(result: DumpResult, roles: RolesFile | None = None) -> Path:
    """Rename a backup that failed verification (its checksum and roles file with it)
    out of every pattern."""
    failed = result.path.with_name(result.path.name + FAILED_SUFFIX)
    os.rename(result.path, failed)
    companions = [result.checksum_path]
    if roles is not None:
        companions += [roles.path, roles.checksum_path]
    for path in companions:
        if path.exists():
            os.rename(path, path.with_name(path.name + FAILED_SUFFIX))
    log.error(f"backup kept for inspection as {failed}")
    return failed


def run_backup(settings: Settings) -> BackupResult:
    """Make one backup and carry it through verify, upload and retention; metrics always."""
    clock = time.monotonic()
    dump: DumpResult | None = None
    exit_code = 1
    try:
        started = dt.datetime.now()
        with RunDeadline(settings.run_timeout_seconds) as deadline:
            server = _preflight(settings)
            connection = settings.connection
            with BackupLock(settings.backup_dir, connection.dbname):
                remove_stale_partials(settings.backup_dir, connection.dbname)
                store = _s3_store(settings)
                log.info(f"Creating {settings.backup_type} backup in {settings.backup_dir}")
                deadline.enter_step(DUMP)
                dump = write_dump(settings, started=started)
                log.log(SUCCESS, _created_line(dump), extra=fields(**_created_fields(dump)))
                roles = _write_roles(settings, dump, server)
                result, cleanup_error = _carry(settings, dump, roles, store, deadline)
        if cleanup_error is not None:
            raise cleanup_error
        log.log(SUCCESS, f"Backup completed successfully: {dump.filename}")
        exit_code = 0
        return result
    except BackupError as exc:
        exit_code = exc.exit_code
        raise
    finally:
        # Only verification fails after the dump with exit 5, and it quarantines the file.
        made = dump is not None and exit_code != VerifyError.exit_code
        size = dump.size if made and dump is not None else 0
        _write_metrics(settings, exit_code, time.monotonic() - clock, size, made)


def _preflight(settings: Settings) -> ServerInfo:
    """Say what runs, then check everything that can fail before a dump starts."""
    connection = settings.connection
    type_note = (
        f" (--type=auto, weekly on {settings.weekly_day})"
        if settings.requested_type == "auto"
        else ""
    )
    log.info(f"Starting {defaults.PROJECT_NAME} database backup")
    log.info(f"Database: {connection.dbname}@{connection.host}:{connection.port}")
    log.info(
        f"Backup type: {settings.backup_type}{type_note}"
        + (" (schema only)" if settings.schema_only else "")
    )
    if settings.env_file:
        log.debug(f"settings file: {settings.env_file}")
    for path in settings.env_files:
        log.debug(f"settings also read from {path}")
    log.debug(f"password from {settings.password_source}; backup directory {settings.backup_dir}")

    check_tools(settings)
    prepare_backup_dir(settings.backup_dir)
    check_file_name_room(settings.backup_dir, connection.dbname)
    server = probe(connection)
    client_major = check_client_version(server)
    log.debug(
        f"connected as {server.user} to {server.database}: PostgreSQL {server.version}, "
        f"pg_dump {client_major}"
    )
    return server


def _write_roles(settings: Settings, dump: DumpResult, server: ServerInfo) -> RolesFile | None:
    """The roles file beside the backup (``BACKUP_OWNERSHIP=keep``); a failure is a warning."""
    if not settings.keep_ownership:
        return None
    try:
        roles = write_roles_file(
            settings.connection,
            dump.path,
            with_passwords=server.superuser,
            encryption=settings.encryption,
        )
    except RolesError as exc:
        log.warning(f"backup kept without its roles file: pg_dumpall failed: {exc}")
        return None
    passwords = "with" if server.superuser else "without"
    log.info(f"Roles written: {roles.path.name} ({passwords} role passwords)")
    return roles


def _carry(
    settings: Settings,
    dump: DumpResult,
    roles: RolesFile | None,
    store: S3Store | None,
    deadline: RunDeadline,
) -> tuple[BackupResult, CleanupError | None]:
    """Verify (quarantining a failure), upload, apply retention; the result and any exit-7 error."""
    verified = False
    if settings.verify:
        deadline.enter_step(VERIFY)
        from . import verify

        try:
            report = verify.verify_backup(
                dump.path,
                settings.connection,
                settings.verify_settings,
                schema_only=settings.schema_only,
            )
        except verify.RestoreNotProven:
            # Encrypted, no identity here, BACKUP_VERIFY_RESTORE=always: nothing is wrong with it.
            log.warning(f"backup kept, unverified: {dump.path}")
            raise
        except VerifyError:
            quarantine(dump, roles)
            raise
        except DatabaseConnectionError:
            # The server failed the test restore, not the file: it keeps its name.
            log.warning(f"backup kept, unverified: {dump.path}")
            raise
        verified = True
        if report.restore is not None and not settings.schema_only:
            publish_verified(
                settings.metrics_file,
                settings.pushgateway_url,
                settings.connection.dbname,
                settings.backup_type,
                time.time(),
            )

    remote_key = None
    if store is not None:
        deadline.enter_step(UPLOAD)
        remote_key = store.put(dump.path, dump.checksum_path, settings.backup_type)
        if roles is not None:
            store.put(roles.path, roles.checksum_path, settings.backup_type)

    stores: list[BackupStore] = [LocalStore(settings.backup_dir)]
    if store is not None:
        stores.append(store)
    deadline.enter_step("applying retention")
    cleanup_error = _apply_retention(settings, stores, dump.filename)

    if store is not None and store.settings.delete_local_after_upload:
        store.delete_local_copy(dump.path, dump.checksum_path)
        if roles is not None:
            store.delete_local_copy(roles.path, roles.checksum_path)
    result = BackupResult(
        path=dump.path,
        checksum_path=dump.checksum_path,
        backup_type=settings.backup_type,
        schema_only=settings.schema_only,
        size=dump.size,
        sha256=dump.sha256,
        uncompressed_bytes=dump.uncompressed_bytes,
        seconds=dump.seconds,
        verified=verified,
        remote_key=remote_key,
        roles_path=roles.path if roles is not None else None,
    )
    return result, cleanup_error


def _s3_store(settings: Settings) -> S3Store | None:
    """The S3 store, checked writable and rid of earlier runs' unfinished uploads before
    any dump; None without S3. Called under the lock."""
    store = s3_store(settings.s3)
    if store is not None:
        store.preflight()
        store.abort_stale_uploads(settings.connection.dbname)
    return store


def _apply_retention(
    settings: Settings, stores: list[BackupStore], just_made: str
) -> CleanupError | None:
    """Retention on every store, each tried; the error to raise once the run is done."""
    errors: list[CleanupError] = []
    for store in stores:
        try:
            retention.apply(
                store,
                settings.retention,
                settings.backup_type,
                settings.connection.dbname,
                just_made=just_made,
            )
        except CleanupError as exc:
            errors.append(exc)
    if len(errors) == 1:
        return errors[0]
    if errors:
        return CleanupError(
            "retention could not delete old backups locally or remotely; "
            "the backup itself succeeded",
            detail="\n".join(line for exc in errors for line in exc.lines()),
        )
    return None


def _created_line(dump: DumpResult) -> str:
    parts = [human_size(dump.size)]
    if dump.uncompressed_bytes:
        ratio = dump.uncompressed_bytes / max(dump.size, 1)
        saved = 100 * (1 - dump.size / dump.uncompressed_bytes)
        parts.append(
            f"compression {ratio:.1f}x ({saved:.0f}% smaller than "
            f"{human_size(dump.uncompressed_bytes)} of SQL)"
        )
    parts.append(human_duration(dump.seconds))
    parts.append(human_rate(dump.uncompressed_bytes or dump.size, dump.seconds))
    return f"Backup created: {dump.path} ({', '.join(parts)})"


def _created_fields(dump: DumpResult) -> dict[str, JsonValue]:
    return {
        "file": str(dump.path),
        "size_bytes": dump.size,
        "uncompressed_bytes": dump.uncompressed_bytes,
        "duration_seconds": round(dump.seconds, 3),
        "sha256": dump.sha256,
    }


def _write_metrics(
    settings: Settings, exit_code: int, seconds: float, size: int, made: bool
) -> None:
    if settings.metrics_file is None and settings.pushgateway_url is None:
        return
    run = RunMetrics(
        database=settings.connection.dbname,
        backup_type=settings.backup_type,
        exit_code=exit_code,
        finished_at=time.time(),
        duration_seconds=seconds,
        size_bytes=size,
        # Exit 7: the backup is made and stored; only old ones could not be deleted.
        succeeded=exit_code in (0, CleanupError.exit_code) and made,
        schema_only=settings.schema_only,
    )
    publish(run, settings.metrics_file, settings.pushgateway_url)
