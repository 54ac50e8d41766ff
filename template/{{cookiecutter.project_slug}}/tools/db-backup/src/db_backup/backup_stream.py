"""One pass over a stored backup: hash, decrypt, decompress, scan the SQL, hand it on.

The stored bytes (a file, or an object streaming from a bucket) are read once:
a thread hashes each chunk and writes it into the decompressor (behind ``age -d``
when the backup is encrypted and an identity is given); the main thread
reads the SQL that comes out, feeds the completeness scanner and passes every
chunk to a sink (psql restoring it). Only when the input has ended are the
verdicts given, in the order of the checks: ``checksum``, ``decrypt``,
``decompress``, ``completeness``, each a ``VerifyError`` (exit 5). A sink that
commits must do so only after ``read_backup`` has returned.

The format is read from the first bytes, never from the file name: an age
header means encrypted, and the first decrypted bytes name the compression.
Without the identity, ``read_sealed`` checks what can be checked (checksum and
age header).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .compression import MAGIC_BYTES_NEEDED, Codec, codec_for_magic
from .dumpscan import DumpScanner, ScanResult
from .encryption import (
    IDENTITY_VARIABLE,
    age_error,
    check_identity,
    decrypt_command,
    header_stanzas,
    is_sealed,
    peek_plaintext,
    wrong_identity,
)
from .errors import BackupError, ConfigError, VerifyError
from .pipeline import Pipeline, PipelineError, Stage, grow_pipe
from .progress import Progress

CHUNK_SIZE = 1 << 20
# The decompressed SQL is read in smaller pieces: a fresh 1 MiB buffer per read is
# mapped anew each time (about 100 page faults per MiB of SQL, a tenth of the
# Python process's CPU time), while 128 KiB ones come from reused heap memory.
SQL_CHUNK_SIZE = 128 << 10
# Enough for the magic bytes, a whole age header and its first 64 KiB payload chunks.
HEAD_BYTES = 256 << 10

Sink = Callable[[bytes], None]


@dataclass(frozen=True)
class StreamReport:
    """What one pass over a backup found: it is intact and complete."""

    size: int  # stored (compressed, maybe encrypted) bytes
    sha256: str
    compression: str
    scan: ScanResult
    encrypted: bool = False


@dataclass(frozen=True)
class SealedReport:
    """What can be proven of an encrypted backup without its identity."""

    size: int
    sha256: str
    recipients: int  # stanzas in its age header


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
    identity: Path | None = None,
    head: bytes | None = None,
) -> StreamReport:
    """Read ``source`` once; ``VerifyError`` naming the first check that fails (see module).

    ``identity`` (an age identity file) decrypts an encrypted backup; without it
    one is a ``ConfigError``. ``head``: the first bytes, when the caller has read
    them already (``read_head``).
    """
    head = read_head(source) if head is None else head
    sealed = is_sealed(head)
    if sealed:
        if identity is None:
            raise ConfigError(
                f"{name} is encrypted: reading it needs {IDENTITY_VARIABLE}",
                hint=f"set {IDENTITY_VARIABLE} to the age identity (private key) of one of "
                "its recipients, where verify and restore run",
            )
        codec = _sealed_codec(source, head, name, expected_sha256, identity)
    else:
        codec = codec_for_magic(head)
    if codec is None:
        size, digest = _hash_rest(source, head)
        _check_checksum(name, expected_sha256, digest, size)
        if sealed:
            raise VerifyError(f"decompress: {name} decrypts to neither gzip nor zstd data")
        raise VerifyError(
            f"decompress: {name} is neither gzip nor zstd data",
            detail=f"it starts with bytes {head[:8].hex(' ') or '(none: it is empty)'}",
        )
    read_fd, write_fd = os.pipe()
    grow_pipe(write_fd)
    hasher = _Hasher(source, head, write_fd)
    hasher.progress = Progress("read", f"reading {name}")
    command = codec.decompress_command()
    stages = [Stage(command, f"{os.path.basename(command[0])} -d")]
    if sealed:
        assert identity is not None
        stages.insert(0, Stage(decrypt_command(identity), DECRYPT_STAGE))
    scanner = DumpScanner()
    try:
        with Pipeline(stages, stdin=read_fd) as pipeline:
            os.close(read_fd)
            read_fd = -1
            hasher.start()
            grow_pipe(pipeline.stdout.fileno())
            while True:
                chunk = pipeline.stdout.read(SQL_CHUNK_SIZE)
                if not chunk:
                    break
                # psql gets the chunk first and works on it while the scanner reads it.
                if sink is not None:
                    sink(chunk)
                scanner.feed(chunk)
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
    _check_decompression(pipeline, name, identity)
    scan = scanner.finish()
    if not scan.complete:
        raise VerifyError(
            f"completeness: {name} is not a complete pg_dump: {scan.problems[0]}",
            detail="\n".join(scan.problems[1:]) or None,
            hint="pg_dump did not finish this dump; use another backup",
        )
    return StreamReport(hasher.size, digest, codec.name, scan, sealed)


DECRYPT_STAGE = "age -d"


def _sealed_codec(
    source: BinaryIO, head: bytes, name: str, expected_sha256: str, identity: Path
) -> Codec | None:
    """The compression under the encryption, from the first decrypted bytes.

    An identity file age cannot read is a ``ConfigError`` at once. A wrong
    identity or a damaged header is a ``decrypt`` failure, reported only after
    the whole stream was hashed: a changed file is a checksum failure first.
    """
    check_identity(identity)
    peek = peek_plaintext(head, identity, MAGIC_BYTES_NEEDED)
    if peek.error is None:
        return codec_for_magic(peek.head)
    size, digest = _hash_rest(source, head)
    _check_checksum(name, expected_sha256, digest, size)
    raise _decrypt_error(name, peek.error, identity)


def _decrypt_error(name: str, message: str, identity: Path | None) -> VerifyError:
    if wrong_identity(message):
        return VerifyError(
            f"decrypt: {name} was not encrypted to the identity in {IDENTITY_VARIABLE} "
            f"({identity})",
            hint="use the identity (private key) of one of the recipients the backup was "
            "made for; the file itself passed its checksum",
        )
    return VerifyError(
        f"decrypt: {name} does not decrypt: {message}",
        hint="the file is damaged or the identity file unusable; use another backup",
    )


def read_sealed(source: BinaryIO, name: str, expected_sha256: str, head: bytes) -> SealedReport:
    """Without the identity: the checksum of the whole stream and a complete age header."""
    size, digest = _hash_rest(source, head)
    _check_checksum(name, expected_sha256, digest, size)
    stanzas = header_stanzas(head)
    if not stanzas:
        raise VerifyError(
            f"decrypt: {name} has no complete age header",
            detail=f"it starts with bytes {head[:24]!r}",
            hint="the file is damaged; use another backup",
        )
    return SealedReport(size, digest, stanzas)


def read_head(source: BinaryIO) -> bytes:
    """The first bytes: at least ``HEAD_BYTES`` unless the stream is shorter."""
    head = source.read(CHUNK_SIZE)
    while head and len(head) < HEAD_BYTES:
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


def _check_decompression(pipeline: Pipeline, name: str, identity: Path | None) -> None:
    try:
        pipeline.check()
    except PipelineError as exc:
        tail = [line for line in exc.stderr_tail if line.strip()]
        if exc.failed is not None and exc.failed.name == DECRYPT_STAGE:
            raise _decrypt_error(name, age_error("\n".join(tail)), identity) from None
        raise VerifyError(
            f"decompress: {name} does not decompress: {exc.message}",
            detail="\n".join(tail[-5:]) or None,
            hint="the file is damaged or was cut short; use another backup",
        ) from None
