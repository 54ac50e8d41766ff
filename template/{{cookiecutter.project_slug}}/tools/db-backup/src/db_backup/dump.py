"""Write one backup: ``pg_dump | compressor`` to a temporary file, hashed, then published.

The compressed stream is the only thing Python touches: it is read in 1 MiB
chunks, hashed and written to ``.<final name>.partial-<pid>`` (mode 0600) in
the backup directory. Only when every stage has exited 0 is the file
fsynced and linked to its final name (never over an existing file), followed
by its ``.sha256``. On any failure or interrupt the stages are stopped and
the temporary file removed, so no file with a final name exists for a failed run.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .atomic import create_exclusive, publish, remove_quietly, write_text_atomic
from .checksums import checksum_line
from .compression import Compression, compress_command
from .config import Settings
from .errors import DumpError
from .naming import backup_filename, checksum_filename
from .pipeline import Pipeline, PipelineError, Stage, describe
from .progress import Progress
from .signals import signals_deferred
from .tools import find_tool

CHUNK_SIZE = 1 << 20
PARTIAL_MARKER = ".partial-"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_MAX_NAME_ATTEMPTS = 3600
_MAX_PUBLISH_ATTEMPTS = 10
# pg_dump applies --lock-wait-timeout as a statement timeout on its LOCK TABLE statements.
_TIMEOUT = "canceling statement due to"
_LOCK_STATEMENT = re.compile(r"LOCK TABLE (.+?) IN ACCESS SHARE MODE")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DumpResult:
    """A published backup and what was measured while writing it."""

    path: Path
    checksum_path: Path
    size: int
    sha256: str
    uncompressed_bytes: int | None  # pg_dump's output size, when the OS can tell
    seconds: float
    command: str

    @property
    def filename(self) -> str:
        """The backup's base name."""
        return self.path.name


def pg_dump_command(
    pg_dump: str,
    *,
    schema_only: bool,
    verbose: bool,
    lock_wait_seconds: int = 0,
    keep_ownership: bool = True,
) -> list[str]:
    """The contract's dump: plain SQL, never a password prompt.

    With ``keep_ownership`` the dump keeps owners and grants, so a restore gives
    them back; without, it is ``--no-owner --no-privileges`` (objects belong to
    whoever restores). ``lock_wait_seconds`` bounds the wait for each table's lock
    (0: no bound), so a session holding an exclusive lock makes the dump fail
    instead of hang.
    """
    argv = [pg_dump, "--format=plain", "--no-password"]
    if not keep_ownership:
        argv[2:2] = ["--no-owner", "--no-privileges"]
    if lock_wait_seconds:
        argv.append(f"--lock-wait-timeout={lock_wait_seconds * 1000}")  # milliseconds
    if schema_only:
        argv.append("--schema-only")
    if verbose:
        argv.append("--verbose")
    return argv


def partial_name(filename: str, pid: int | None = None) -> str:
    """The temporary name a backup has while it is written (hidden, per process)."""
    return f".{filename}{PARTIAL_MARKER}{pid if pid is not None else os.getpid()}"


def free_filename(
    backup_dir: Path,
    database: str,
    backup_type: str,
    when: dt.datetime,
    *,
    schema_only: bool,
    compression: Compression,
    encrypted: bool = False,
) -> str:
    """The contract name for ``when``, a second later per clash, so nothing is overwritten.

    Any directory entry counts as a clash, a dangling symlink too (``lexists``):
    publishing by hard link refuses every one of them.
    """
    for offset in range(_MAX_NAME_ATTEMPTS):
        name = backup_filename(
            database,
            backup_type,
            when + dt.timedelta(seconds=offset),
            schema_only=schema_only,
            compression=compression.name,
            encrypted=encrypted,
        )
        taken = (backup_dir / name, backup_dir / checksum_filename(name))
        if not any(os.path.lexists(path) for path in taken):
            return name
    raise DumpError(f"no free backup file name near {when:%Y%m%d_%H%M%S} in {backup_dir}")


def write_dump(settings: Settings, *, started: dt.datetime) -> DumpResult:
    """Dump, compress, hash and publish one backup; ``DumpError`` (exit 4) on any failure."""
    backup_dir = settings.backup_dir
    database = settings.connection.dbname
    stages = [
        Stage(
            pg_dump_command(
                find_tool("pg_dump"),
                schema_only=settings.schema_only,
                verbose=settings.verbose,
                lock_wait_seconds=settings.lock_wait_seconds,
                keep_ownership=settings.keep_ownership,
            ),
            "pg_dump",
        ),
        Stage(compress_command(settings.compression)),
    ]
    if settings.encryption is not None:  # the plaintext never leaves the pipes
        stages.append(Stage(settings.encryption.encrypt_command(), "age"))

    def next_free_name() -> str:
        return free_filename(
            backup_dir,
            database,
            settings.backup_type,
            started,
            schema_only=settings.schema_only,
            compression=settings.compression,
            encrypted=settings.encryption is not None,
        )

    filename = next_free_name()
    temporary = backup_dir / partial_name(filename)
    env = settings.connection.child_env()
    log.debug(f"running: {describe(stages)} > {temporary}")

    def debug_line(stage: str, line: str) -> None:
        log.debug(line if line.startswith(f"{stage}:") else f"{stage}: {line}")

    clock = time.monotonic()
    published: list[Path] = []
    try:
        fd = create_exclusive(temporary)
        try:
            # A stage that cannot start (fork refused, exec format error) is a dump error too.
            with Pipeline(
                stages, env=env, stdin=subprocess.DEVNULL, on_stderr_line=debug_line
            ) as pipeline:
                size, digest = _copy_and_hash(pipeline.stdout.fileno(), fd)
                pipeline.stdout.close()
                results = pipeline.wait()
                pipeline.check()
            os.fsync(fd)
        except PipelineError as exc:
            raise _dump_error(exc, settings.lock_wait_seconds) from None
        finally:
            os.close(fd)
        final = backup_dir / filename
        for _attempt in range(_MAX_PUBLISH_ATTEMPTS):
            try:
                with signals_deferred():  # the new name is recorded before any interrupt
                    publish(temporary, final)
                    published.append(final)
                break
            except FileExistsError:  # another writer took the name since it was chosen
                filename = next_free_name()
                final = backup_dir / filename
        else:
            raise DumpError(
                f"cannot publish the backup in {backup_dir}: every free name was taken "
                f"while publishing ({_MAX_PUBLISH_ATTEMPTS} attempts)"
            )
        checksum_path = backup_dir / checksum_filename(filename)
        with signals_deferred():
            write_text_atomic(checksum_path, checksum_line(digest, filename))
            published.append(checksum_path)
    except OSError as exc:
        _remove_all([temporary, *published])
        if exc.errno in _DISK_FULL:
            raise DumpError(
                f"disk full while writing the backup in {backup_dir}: {exc.strerror}",
                hint="free space or point BACKUP_DIR at a larger volume; nothing was kept",
            ) from None
        raise DumpError(f"cannot write the backup in {backup_dir}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_all([temporary, *published])
        raise
    return DumpResult(
        path=final,
        checksum_path=checksum_path,
        size=size,
        sha256=digest,
        uncompressed_bytes=results[0].stdout_bytes,
        seconds=time.monotonic() - clock,
        command=describe(stages),
    )


def _copy_and_hash(source: int, target: int) -> tuple[int, str]:
    """Copy ``source`` to EOF into ``target``, hashing as it goes; returns (bytes, hex sha256)."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    total = 0
    progress = Progress("dump", "dumping (compressed bytes written)")
    while True:
        count = os.readv(source, [view])
        if count == 0:
            break
        chunk = view[:count]
        digest.update(chunk)
        written = 0
        while written < count:
            written += os.write(target, chunk[written:])
        total += count
        progress.add(count)
    return total, digest.hexdigest()


def _dump_error(exc: PipelineError, lock_wait_seconds: int = 0) -> DumpError:
    """The failing stage, its first error line in the message, its last lines as detail."""
    tail = [line for line in exc.stderr_tail if line.strip()]
    if any(_TIMEOUT in line and "timeout" in line for line in tail) and any(
        _LOCK_STATEMENT.search(line) for line in tail
    ):
        return _lock_wait_error(tail, lock_wait_seconds)
    errors = [line for line in tail if "error" in line.lower() or "fatal" in line.lower()]
    headline = f"backup failed: {exc.message}"
    if errors:
        headline += f": {errors[0]}"
        tail = [line for line in tail if line != errors[0]]
    return DumpError(headline, detail="\n".join(tail) if tail else None)


def _lock_wait_error(tail: list[str], lock_wait_seconds: int) -> DumpError:
    """pg_dump gave up waiting for a table lock: name the table and the setting."""
    tables = [m[1] for m in map(_LOCK_STATEMENT.search, tail) if m]
    table = f"table {tables[0]}" if tables else "a table"
    return DumpError(
        f"backup failed: pg_dump waited {lock_wait_seconds} s for a lock on {table} "
        "held by another session, and gave up",
        detail="\n".join(tail),
        hint="find the blocking session with: SELECT pid, state, query FROM pg_stat_activity "
        "WHERE pid = ANY(pg_blocking_pids(<pg_dump's pid>)); or raise BACKUP_LOCK_WAIT_TIMEOUT "
        "(0 waits forever)",
    )


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        remove_quietly(path)
