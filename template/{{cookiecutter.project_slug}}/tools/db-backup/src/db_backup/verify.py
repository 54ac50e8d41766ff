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

An encrypted backup (age) is decrypted in the same pass with
``BACKUP_AGE_IDENTITY_FILE``. Without the identity only the checksum and the
age header can be checked: ``auto`` says so in one warning, ``always`` makes it
a ``RestoreNotProven`` (exit 5, the file is kept: nothing is wrong with it).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .backup_stream import Sink, StreamReport, read_backup, read_head, read_sealed
from .checksums import checksum_path_for, parse_checksum_text
from .config import VerifySettings
from .dumpscan import ScanResult
from .encryption import IDENTITY_VARIABLE, is_sealed
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
    uncompressed_bytes: int | None  # None: encrypted and not decrypted
    scan: ScanResult | None
    restore: RestoreReport | None  # None: the test restore was skipped
    restore_skipped: str | None  # why it was skipped
    seconds: float
    encrypted: bool = False


class RestoreNotProven(VerifyError):
    """``BACKUP_VERIFY_RESTORE=always`` on an encrypted backup without the identity.

    Exit 5 like every failed verification, but the file passed what could be
    checked: it is kept under its name, never quarantined.
    """


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
    return _verify(path, lambda: _open(path), expected, connection, settings)


def verify_stored(
    chosen: ChosenBackup, connection: ConnectionInfo, settings: VerifySettings
) -> VerifyReport:
    """The same checks on a backup in a store (an S3 object, streamed, never on disk)."""
    log.info(f"Verifying {chosen.address}")
    digest = chosen.expected_sha256()
    return _verify(
        Path(chosen.name), lambda: chosen.store.open(chosen.backup), digest, connection, settings
    )


def _verify(
    path: Path,
    open_source: Callable[[], BinaryIO],
    expected: str,
    connection: ConnectionInfo,
    settings: VerifySettings,
) -> VerifyReport:
    """Open the backup and tell encrypted from plain bytes; then check what can be checked."""
    started = time.monotonic()
    with contextlib.closing(open_source()) as source:
        head = read_head(source)
        if is_sealed(head) and settings.identity_file is None:
            return _verify_sealed(path, source, head, expected, settings, started)

        def read(sink: Sink | None) -> StreamReport:
            stream = read_backup(
                source, path.name, expected, sink=sink, identity=settings.identity_file, head=head
            )
            return _reported(stream)

        return _verify_stream(path, read, connection, settings, started)


def _verify_stream(
    path: Path,
    read: Callable[[Sink | None], StreamReport],
    connection: ConnectionInfo,
    settings: VerifySettings,
    started: float,
) -> VerifyReport:
    """Checks 1 to 3 by ``read`` in one pass, its SQL into the test restore when there is one."""
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
        encrypted=stream.encrypted,
    )


def _open(path: Path) -> BinaryIO:
    """The backup file for reading; ``VerifyError`` (check 1) when it cannot be read."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise VerifyError(f"checksum: {path} does not exist") from None
    except OSError as exc:
        raise VerifyError(f"checksum: cannot read {path}: {exc.strerror}") from None


def _verify_sealed(
    path: Path,
    source: BinaryIO,
    head: bytes,
    expected: str,
    settings: VerifySettings,
    started: float,
) -> VerifyReport:
    """An encrypted backup without the identity: its checksum and age header only."""
    sealed = read_sealed(source, path.name, expected, head)
    log.info(f"verify: checksum ok (sha256 {sealed.sha256[:16]}...)")
    log.info(
        f"verify: encrypted with age for {sealed.recipients} recipient(s); "
        f"decrypting it needs {IDENTITY_VARIABLE}"
    )
    reason = f"encrypted and no {IDENTITY_VARIABLE}"
    if settings.restore_mode == "always":
        raise RestoreNotProven(
            f"test restore: not possible: {path.name} is encrypted and {IDENTITY_VARIABLE} "
            "is not set (BACKUP_VERIFY_RESTORE=always)",
            hint=f"run verify where the identity lives with {IDENTITY_VARIABLE} set, or set "
            "BACKUP_VERIFY_RESTORE=auto to check only the checksum and the age header here",
        )
    if settings.restore_mode == "auto":
        log.warning(
            f"verify: test restore skipped: {path.name} is encrypted and the test restore "
            f"needs the age identity in {IDENTITY_VARIABLE} (checked here: checksum and age "
            "header; BACKUP_VERIFY_RESTORE=always makes this an error)"
        )
    seconds = time.monotonic() - started
    log.log(
        SUCCESS,
        f"Backup verification passed: {path.name} (checksum, age header; decryption, "
        f"decompression, completeness and test restore need {IDENTITY_VARIABLE}) "
        f"({seconds:.1f} s)",
        extra=fields(checks="checksum,age-header", seconds=round(seconds, 3)),
    )
    return VerifyReport(
        path=path,
        size=sealed.size,
        sha256=sealed.sha256,
        compression="unknown (encrypted)",
        uncompressed_bytes=None,
        scan=None,
        restore=None,
        restore_skipped=reason,
        seconds=seconds,
        encrypted=True,
    )


def _reported(stream: StreamReport) -> StreamReport:
    """Log what checks 1 to 3 found."""
    scan = stream.scan
    log.info(f"verify: checksum ok (sha256 {stream.sha256[:16]}...)")
    if stream.encrypted:
        log.info("verify: decrypted with the age identity")
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
    from .restore import REQUIRED_PRIVILEGE, restore_rights

    may_create, owners = restore_rights(connection, with_owners=settings.keep_ownership)
    if not may_create:
        return _cannot_restore(
            settings,
            f"role {connection.user} lacks the {REQUIRED_PRIVILEGE} privilege needed for a "
            "scratch database",
            f"grant it with ALTER ROLE {connection.user} {REQUIRED_PRIVILEGE}",
            f"no {REQUIRED_PRIVILEGE} privilege",
        )
    if owners:
        shown = ", ".join(owners[:5]) + (f" and {len(owners) - 5} more" if len(owners) > 5 else "")
        return _cannot_restore(
            settings,
            f"role {connection.user} cannot give objects back to their owners ({shown}): "
            "only a superuser can",
            "run the backup as a superuser or the owner of every object, or set "
            "BACKUP_OWNERSHIP=drop",
            "objects owned by other roles",
        )
    return None


def _cannot_restore(settings: VerifySettings, reason: str, fix: str, short: str) -> str:
    """``always``: exit 3 (the server's rule, not the file's fault; a new backup is kept).
    ``auto``: a warning, and the test restore is skipped."""
    if settings.restore_mode == "always":
        raise DatabaseConnectionError(
            f"test restore: not possible: {reason}",
            hint=f"{fix}, or set BACKUP_VERIFY_RESTORE=auto to verify without the test restore",
        )
    log.warning(
        f"verify: test restore skipped: {reason} "
        f"({fix}; BACKUP_VERIFY_RESTORE=always makes this an error)"
    )
    return short
