"""Prove a backup restores: checksum, whole-file decompression, completeness, test restore.

The checks are reported in this order and the first failure is a
``VerifyError`` (exit 5) that names the check:

1. ``checksum``: the file's sha256 matches its ``.sha256``.
2. ``decompress``: every byte decompresses (the decompressor's exit status).
3. ``completeness``: a plain pg_dump with its header and, last, its
   ``-- PostgreSQL database dump complete`` trailer.
4. ``test restore``: psql restores it into a scratch database in one
   transaction; rows per table and the tables, views, sequences and routines
   that landed match what the dump's own COPY blocks and headers promise.

All four share one pass over the file (``backup_stream``): it is read once,
hashed as it is read, decompressed once, and the SQL goes to the scanner and to
psql together; the test restore is committed only after checks 1 to 3 have
passed at the end of the stream. ``BACKUP_VERIFY_RESTORE`` (auto|always|never)
decides about check 4. A test restore the server cannot carry out (connection
lost, scratch database not created, privilege missing) is a
``DatabaseConnectionError`` (exit 3): it says nothing about the file.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .backup_stream import Sink, StreamReport, read_backup
from .checksums import checksum_path_for, parse_checksum_text
from .config import VerifySettings
from .dumpscan import ScanResult
from .errors import BackupError, DatabaseConnectionError, VerifyError
from .log import SUCCESS, fields

if TYPE_CHECKING:
    from .connection import ConnectionInfo
    from .restore import RestoreReport
    from .restore_source import ChosenBackup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyReport:
    """A backup that passed, and what was checked."""

    path: Path
    size: int
    sha256: str
    compression: str
    uncompressed_bytes: int
    scan: ScanResult
    restore: RestoreReport | None  # None: the test restore was skipped
    restore_skipped: str | None  # why it was skipped
    seconds: float


def verify_backup(
    path: Path,
    connection: ConnectionInfo,
    settings: VerifySettings,
    *,
    schema_only: bool,
) -> VerifyReport:
    """Run the checks on the file ``path``; ``VerifyError`` naming the first one that fails."""
    what = "schema-only backup" if schema_only else "backup"
    log.info(f"Verifying {what} {path.name}")
    expected = read_expected_checksum(checksum_path_for(path))
    return _verify(path, lambda sink: _read(path, expected, sink=sink), connection, settings)


def verify_stored(
    chosen: ChosenBackup, connection: ConnectionInfo, settings: VerifySettings
) -> VerifyReport:
    """The same checks on a backup in a store (an S3 object, streamed, never on disk)."""
    log.info(f"Verifying {chosen.address}")
    digest = chosen.expected_sha256()

    def read(sink: Sink | None) -> StreamReport:
        with contextlib.closing(chosen.store.open(chosen.backup)) as source:
            return _reported(read_backup(source, chosen.name, digest, sink=sink))

    return _verify(Path(chosen.name), read, connection, settings)


def _verify(
    path: Path,
    read: Callable[[Sink | None], StreamReport],
    connection: ConnectionInfo,
    settings: VerifySettings,
) -> VerifyReport:
    """Checks 1 to 3 by ``read`` in one pass, its SQL into the test restore when there is one."""
    started = time.monotonic()
    # A test restore that cannot happen is reported only after checks 1 to 3, which
    # come first: a damaged file is a damaged file whoever may create databases.
    deferred: BackupError | None = None
    restore_skipped: str | None = None
    try:
        restore_skipped = _restore_decision(connection, settings)
    except (VerifyError, DatabaseConnectionError) as exc:
        deferred = exc
    report = None
    with contextlib.ExitStack() as cleanup:
        restore = None
        if deferred is None and restore_skipped is None:
            from .restore import ScratchRestore

            try:
                restore = cleanup.enter_context(ScratchRestore(connection))
            except (VerifyError, DatabaseConnectionError) as exc:
                deferred = exc
            else:
                log.info(f"verify: test restore into the scratch database {restore.name}")
        stream = read(restore.write if restore is not None else None)
        if deferred is not None:
            raise deferred
        if restore is not None:
            restore.finish()
            report = restore.compare(stream.scan)

    seconds = time.monotonic() - started
    _log_passed(path, report, restore_skipped, seconds)
    return VerifyReport(
        path=path,
        size=stream.size,
        sha256=stream.sha256,
        compression=stream.compression,
        uncompressed_bytes=stream.scan.bytes_scanned,
        scan=stream.scan,
        restore=report,
        restore_skipped=restore_skipped,
        seconds=seconds,
    )


def _read(path: Path, expected: str, *, sink: Sink | None) -> StreamReport:
    """Checks 1 to 3 in one pass over the file; the SQL also goes to ``sink``."""
    try:
        source = path.open("rb")
    except FileNotFoundError:
        raise VerifyError(f"checksum: {path} does not exist") from None
    except OSError as exc:
        raise VerifyError(f"checksum: cannot read {path}: {exc.strerror}") from None
    with source:
        return _reported(read_backup(source, path.name, expected, sink=sink))


def _reported(stream: StreamReport) -> StreamReport:
    """Log what checks 1 to 3 found."""
    scan = stream.scan
    log.info(f"verify: checksum ok (sha256 {stream.sha256[:16]}...)")
    log.info(
        f"verify: decompressed {scan.bytes_scanned} bytes: complete dump "
        f"(pg_dump {scan.pg_dump_version or 'unknown version'}), {len(scan.rows)} tables "
        f"with {scan.total_rows} rows, {sum(scan.objects.values())} objects"
    )
    return stream


def _log_passed(
    path: Path,
    report: RestoreReport | None,
    restore_skipped: str | None,
    seconds: float,
) -> None:
    """The SUCCESS line: what matched after the test restore, or which checks ran."""
    if report is not None:
        matched = f"{report.objects_compared} objects"
        if report.tables_compared:
            matched = (
                f"{report.rows_compared} rows in {report.tables_compared} tables and " + matched
            )
        log.log(
            SUCCESS,
            f"Backup verification passed: {path.name} restores: {matched} match the dump "
            f"({seconds:.1f} s)",
            extra=fields(
                checks="checksum,decompress,completeness,restore",
                rows=report.rows_compared,
                seconds=round(seconds, 3),
            ),
        )
    else:
        log.log(
            SUCCESS,
            f"Backup verification passed: {path.name} (checksum, decompression, "
            f"completeness; test restore skipped: {restore_skipped}) ({seconds:.1f} s)",
            extra=fields(checks="checksum,decompress,completeness", seconds=round(seconds, 3)),
        )


# -- check 1: checksum ---------------------------------------------------------------------


def read_expected_checksum(checksum_path: Path) -> str:
    """The hex digest from a ``sha256sum`` line (``HEX  name``); ``VerifyError`` if unusable."""
    try:
        text = checksum_path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise VerifyError(
            f"checksum: {checksum_path.name} is missing",
            detail=f"every backup is written with a .sha256 beside it ({checksum_path})",
            hint="copy the .sha256 together with the backup; if you trust the file, "
            "recreate it with: sha256sum FILE > FILE.sha256",
        ) from None
    except OSError as exc:
        raise VerifyError(f"checksum: cannot read {checksum_path}: {exc.strerror}") from None
    line = parse_checksum_text(text)
    if line is None:
        raise VerifyError(f"checksum: {checksum_path.name} holds no sha256 digest")
    return line.digest


# -- check 4 or not: BACKUP_VERIFY_RESTORE ---------------------------------------------------


def _restore_decision(connection: ConnectionInfo, settings: VerifySettings) -> str | None:
    """None to test-restore, else why not (``always`` without the privilege fails)."""
    if settings.restore_mode == "never":
        return "BACKUP_VERIFY_RESTORE=never"
    from .restore import REQUIRED_PRIVILEGE, may_create_databases

    if may_create_databases(connection):
        return None
    reason = (
        f"role {connection.user} lacks the {REQUIRED_PRIVILEGE} privilege needed for a "
        "scratch database"
    )
    if settings.restore_mode == "always":
        # The server's rule, not the file's fault: exit 3, and a new backup is kept.
        raise DatabaseConnectionError(
            f"test restore: not possible: {reason}",
            hint=f"ALTER ROLE {connection.user} {REQUIRED_PRIVILEGE}, or set "
            "BACKUP_VERIFY_RESTORE=auto to verify without the test restore",
        )
    log.warning(
        f"verify: test restore skipped: {reason} "
        f"(grant it with ALTER ROLE {connection.user} {REQUIRED_PRIVILEGE}; "
        "BACKUP_VERIFY_RESTORE=always makes this an error)"
    )
    return f"no {REQUIRED_PRIVILEGE} privilege"
