"""Prove a backup restores: checksum, whole-file decompression, completeness, test restore.

The checks run in this order and the first failure is a ``VerifyError`` (exit 5)
that names the check:

1. ``checksum``: the file's sha256 matches its ``.sha256``.
2. ``decompress``: every byte decompresses (the decompressor's exit status).
3. ``completeness``: a plain pg_dump with its header and, last, its
   ``-- PostgreSQL database dump complete`` trailer.
4. ``test restore``: psql restores it into a scratch database in one
   transaction; rows per table and the tables, views, sequences and routines
   that landed match what the dump's own COPY blocks and headers promise.

Checks 2 to 4 share one pass over the file: decompressor -> scanner -> psql.
``BACKUP_VERIFY_RESTORE`` (auto|always|never) decides about check 4.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .checksums import checksum_path_for, file_sha256, parse_checksum_text
from .compression import (
    MAGIC_BYTES_NEEDED,
    codec_for_magic,
    compression_for_file,
    decompress_command,
)
from .config import VerifySettings
from .dumpscan import DumpScanner, ScanResult
from .errors import BackupError, DatabaseConnectionError, VerifyError
from .log import SUCCESS, fields
from .pipeline import Pipeline, PipelineError, Stage, grow_pipe

if TYPE_CHECKING:
    from .connection import ConnectionInfo
    from .restore import RestoreReport, ScratchRestore

CHUNK_SIZE = 1 << 20

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
    """Run the checks on ``path``; ``VerifyError`` naming the first one that fails."""
    started = time.monotonic()
    what = "schema-only backup" if schema_only else "backup"
    log.info(f"Verifying {what} {path.name}")
    size, digest = check_checksum(path)
    log.info(f"verify: checksum ok (sha256 {digest[:16]}...)")

    compression = detect_compression(path)
    # A test restore that cannot happen is reported only after checks 2 and 3, which
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
        scan = _decompress_and_scan(path, compression, restore=restore)
        if deferred is not None:
            raise deferred
        if restore is not None:
            restore.finish()
            report = restore.compare(scan)

    seconds = time.monotonic() - started
    _log_passed(path, report, restore_skipped, seconds)
    return VerifyReport(
        path=path,
        size=size,
        sha256=digest,
        compression=compression,
        uncompressed_bytes=scan.bytes_scanned,
        scan=scan,
        restore=report,
        restore_skipped=restore_skipped,
        seconds=seconds,
    )


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


def check_checksum(path: Path) -> tuple[int, str]:
    """Check 1; returns the file's size and digest."""
    expected = read_expected_checksum(checksum_path_for(path))
    try:
        size, actual = file_sha256(path)
    except FileNotFoundError:
        raise VerifyError(f"checksum: {path} does not exist") from None
    except OSError as exc:
        raise VerifyError(f"checksum: cannot read {path}: {exc.strerror}") from None
    if actual != expected:
        raise VerifyError(
            f"checksum: {path.name} does not match its .sha256",
            detail=f"expected {expected}\nactual   {actual} ({size} bytes)",
            hint="the file changed after it was written (disk, copy or transfer "
            "error); use another backup",
        )
    return size, actual


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
        raise VerifyError(
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


# -- checks 2 and 3 (and the restore's input) ------------------------------------------------


def detect_compression(path: Path) -> str:
    """gzip or zstd, from the file's first bytes (its name when it is too short to tell)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(MAGIC_BYTES_NEEDED)
    except OSError as exc:
        raise VerifyError(f"decompress: cannot read {path}: {exc.strerror}") from None
    codec = codec_for_magic(head)
    if codec is not None:
        return codec.name
    if len(head) < MAGIC_BYTES_NEEDED:
        return compression_for_file(path.name)
    raise VerifyError(
        f"decompress: {path.name} is neither gzip nor zstd data",
        detail=f"it starts with bytes {head.hex(' ')}",
    )


def _decompress_and_scan(
    path: Path,
    compression: str,
    *,
    restore: ScratchRestore | None,
) -> ScanResult:
    """Checks 2 and 3 in one pass; the bytes also go to ``restore`` when there is one."""
    command = decompress_command(compression)
    stage = Stage([*command, str(path)], f"{os.path.basename(command[0])} -d")
    scanner = DumpScanner()
    with Pipeline([stage], stdin=subprocess.DEVNULL) as pipeline:
        grow_pipe(pipeline.stdout.fileno())
        _pump(pipeline.stdout, scanner, restore)
        pipeline.stdout.close()
        pipeline.wait()
        try:
            pipeline.check()
        except PipelineError as exc:
            if restore is not None:
                restore.abort()
            tail = [line for line in exc.stderr_tail if line.strip()]
            raise VerifyError(
                f"decompress: {path.name} does not decompress: {exc.message}",
                detail="\n".join(tail[-5:]) or None,
                hint="the file is damaged or was cut short; use another backup",
            ) from None
    scan = scanner.finish()
    if not scan.complete:
        if restore is not None:
            restore.abort()
        raise VerifyError(
            f"completeness: {path.name} is not a complete pg_dump: {scan.problems[0]}",
            detail="\n".join(scan.problems[1:]) or None,
            hint="pg_dump did not finish this dump; use another backup",
        )
    log.info(
        f"verify: decompressed {scan.bytes_scanned} bytes: complete dump "
        f"(pg_dump {scan.pg_dump_version or 'unknown version'}), {len(scan.rows)} tables "
        f"with {scan.total_rows} rows, {sum(scan.objects.values())} objects"
    )
    return scan


def _pump(source: BinaryIO, scanner: DumpScanner, restore: ScratchRestore | None) -> None:
    """Read the decompressed dump to its end, in 1 MiB chunks, into the scanner and psql."""
    while True:
        chunk = source.read(CHUNK_SIZE)  # a buffered read: full chunks until the end
        if not chunk:
            return
        scanner.feed(chunk)
        if restore is not None:
            restore.write(chunk)
