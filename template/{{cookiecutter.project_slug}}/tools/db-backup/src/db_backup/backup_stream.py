"""One pass over a stored backup: hash its bytes, decompress them, scan the SQL, hand it on.

The stored bytes (a file, or an object streaming from a bucket) are read once:
a thread hashes each chunk and writes it into the decompressor; the main thread
reads the SQL that comes out, feeds the completeness scanner and passes every
chunk to a sink (psql restoring it). Only when the input has ended are the
verdicts given, in the order of the checks: ``checksum``, ``decompress``,
``completeness``, each a ``VerifyError`` (exit 5). A sink that commits must do
so only after ``read_backup`` has returned.

The format is read from the first bytes, never from the file name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .compression import MAGIC_BYTES_NEEDED, codec_for_magic
from .dumpscan import DumpScanner, ScanResult
from .errors import BackupError, VerifyError
from .pipeline import Pipeline, PipelineError, Stage, grow_pipe
from .progress import Progress

CHUNK_SIZE = 1 << 20

Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class StreamReport:
    """What one pass over a backup found: it is intact and complete."""

    size: int  # stored (compressed) bytes
    sha256: str
    compression: str
    scan: ScanResult


class _Hasher(threading.Thread):
    """Reads the stored bytes to their end, hashing them and writing them to the decompressor.

    It keeps reading (and hashing) after the decompressor stops, so the checksum
    verdict covers the whole file whatever the decompressor thought of it.
    """

    def __init__(self, source: BinaryIO, head: bytes, out_fd: int) -> None:
        super().__init__(name="backup-reader", daemon=True)
        self.source = source
        self.head = head
        self.out_fd = out_fd
        self.digest = hashlib.sha256()
        self.size = 0
        self.progress: Progress | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        writing = True
        try:
            chunk = self.head
            while chunk and not self.stop.is_set():
                self.digest.update(chunk)
                self.size += len(chunk)
                if self.progress is not None:
                    self.progress.add(len(chunk))
                if writing:
                    writing = _write_all(self.out_fd, chunk)
                chunk = self.source.read(CHUNK_SIZE)
        except BaseException as exc:  # handed to the main thread
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                os.close(self.out_fd)


def _write_all(fd: int, data: bytes) -> bool:
    """Write every byte; False once the reader has gone (the decompressor stopped)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:
        return False
    return True


def read_backup(
    source: BinaryIO,
    name: str,
    expected_sha256: str,
    *,
    sink: Sink | None = None,
) -> StreamReport:
    """Read ``source`` once; ``VerifyError`` naming the first check that fails (see module)."""
    head = _read_head(source)
    codec = codec_for_magic(head)
    if codec is None:
        size, digest = _hash_rest(source, head)
        _check_checksum(name, expected_sha256, digest, size)
        raise VerifyError(
            f"decompress: {name} is neither gzip nor zstd data",
            detail=f"it starts with bytes {head[:8].hex(' ') or '(none: it is empty)'}",
        )
    read_fd, write_fd = os.pipe()
    grow_pipe(write_fd)
    hasher = _Hasher(source, head, write_fd)
    hasher.progress = Progress("read", f"reading {name}")
    command = codec.decompress_command()
    stage = Stage(command, f"{os.path.basename(command[0])} -d")
    scanner = DumpScanner()
    try:
        with Pipeline([stage], stdin=read_fd) as pipeline:
            os.close(read_fd)
            read_fd = -1
            hasher.start()
            grow_pipe(pipeline.stdout.fileno())
            while True:
                chunk = pipeline.stdout.read(CHUNK_SIZE)
                if not chunk:
                    break
                scanner.feed(chunk)
                if sink is not None:
                    sink(chunk)
            pipeline.stdout.close()
            hasher.join()
            pipeline.wait()
    except BaseException:
        hasher.stop.set()
        raise
    finally:
        if read_fd >= 0:
            os.close(read_fd)
        if hasher.ident is None:
            with contextlib.suppress(OSError):
                os.close(write_fd)  # the thread never started: its end is still ours
    if hasher.error is not None:
        if isinstance(hasher.error, BackupError):
            raise hasher.error
        raise VerifyError(f"checksum: cannot read {name}: {hasher.error}") from hasher.error
    digest = hasher.digest.hexdigest()
    _check_checksum(name, expected_sha256, digest, hasher.size)
    _check_decompression(pipeline, name)
    scan = scanner.finish()
    if not scan.complete:
        raise VerifyError(
            f"completeness: {name} is not a complete pg_dump: {scan.problems[0]}",
            detail="\n".join(scan.problems[1:]) or None,
            hint="pg_dump did not finish this dump; use another backup",
        )
    return StreamReport(hasher.size, digest, codec.name, scan)


def _read_head(source: BinaryIO) -> bytes:
    """The first chunk (at least the magic bytes unless the stream is shorter)."""
    head = source.read(CHUNK_SIZE)
    while head and len(head) < MAGIC_BYTES_NEEDED:
        more = source.read(CHUNK_SIZE)
        if not more:
            break
        head += more
    return head


def _hash_rest(source: BinaryIO, head: bytes) -> tuple[int, str]:
    """Size and sha256 of ``head`` and everything after it in ``source``."""
    digest = hashlib.sha256(head)
    size = len(head)
    for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _check_checksum(name: str, expected: str, actual: str, size: int) -> None:
    if actual != expected:
        raise VerifyError(
            f"checksum: {name} does not match its .sha256",
            detail=f"expected {expected}\nactual   {actual} ({size} bytes)",
            hint="the file changed after it was written (disk, copy or transfer error); "
            "use another backup",
        )


def _check_decompression(pipeline: Pipeline, name: str) -> None:
    try:
        pipeline.check()
    except PipelineError as exc:
        tail = [line for line in exc.stderr_tail if line.strip()]
        raise VerifyError(
            f"decompress: {name} does not decompress: {exc.message}",
            detail="\n".join(tail[-5:]) or None,
            hint="the file is damaged or was cut short; use another backup",
        ) from None
