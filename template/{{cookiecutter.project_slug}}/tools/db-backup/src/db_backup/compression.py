"""The compression formats a backup may have: one row each, every fact about it in one place.

A ``Codec`` names the format, its file extension, the magic bytes that identify
its data, the content type of its objects, its level range and the programs
that compress and decompress it (reading stdin or a file, writing stdout). A
layer such as encryption joins by adding a row-like step to these commands.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from .tools import available_cores, find_tool


@dataclass(frozen=True)
class Codec:
    """One compression format."""

    name: str
    extension: str  # of a backup: ``.sql.gz``
    magic: bytes  # the first bytes of its data
    content_type: str  # of an S3 object holding it
    levels: tuple[int, int]  # lowest, highest

    def compress_command(self, level: int, threads: int = 0) -> list[str]:
        """The compressor reading stdin and writing stdout (``threads`` 0: every core)."""
        threads = threads or available_cores()
        if self.name == "zstd":
            return [find_tool("zstd"), f"-T{threads}", f"-{level}", "-q", "-c"]
        program = gzip_program()
        command = [program]
        if os.path.basename(program) == "pigz":
            command += ["-p", str(threads)]
        return [*command, f"-{level}", "-c"]

    def decompress_command(self) -> list[str]:
        """The decompressor: ``[pigz|gzip, -dc]`` or ``[zstd, -dc, -q]`` (stdin or a file)."""
        if self.name == "zstd":
            return [find_tool("zstd"), "-dc", "-q"]
        return [gzip_program(), "-dc"]


GZIP = Codec("gzip", ".sql.gz", b"\x1f\x8b", "application/gzip", (1, 9))
ZSTD = Codec("zstd", ".sql.zst", b"\x28\xb5\x2f\xfd", "application/zstd", (1, 19))
CODECS = {codec.name: codec for codec in (GZIP, ZSTD)}
COMPRESSIONS = tuple(CODECS)
EXTENSIONS = {name: codec.extension for name, codec in CODECS.items()}
LEVEL_RANGES = {name: codec.levels for name, codec in CODECS.items()}
MAGIC_BYTES_NEEDED = max(len(codec.magic) for codec in CODECS.values())


@dataclass(frozen=True)
class Compression:
    """How backups are compressed: a codec name, a level, threads."""

    name: str = "gzip"
    level: int = 3
    threads: int = 0  # 0: every available core

    @property
    def codec(self) -> Codec:
        """The format's facts."""
        return CODECS[self.name]

    @property
    def extension(self) -> str:
        """The file extension this compression gives a backup."""
        return self.codec.extension


def gzip_program() -> str:
    """pigz when installed (parallel, same format), else gzip."""
    return shutil.which("pigz") or find_tool("gzip")


def compress_command(compression: Compression) -> list[str]:
    """The compressor for ``compression``, reading stdin and writing stdout."""
    return compression.codec.compress_command(compression.level, compression.threads)


def decompress_command(compression: Compression | str) -> list[str]:
    """The decompressor for a backup of this compression (or codec name)."""
    name = compression if isinstance(compression, str) else compression.name
    return CODECS[name].decompress_command()


def codec_for_name(filename: str) -> Codec | None:
    """The codec a (possibly quarantined) backup's name says, or None.

    An encrypted backup's name (``.sql.gz.age``) gives None: its bytes are age's.
    """
    stem = filename.removesuffix(".failed")
    return next((c for c in CODECS.values() if stem.endswith(c.extension)), None)


def codec_for_magic(head: bytes) -> Codec | None:
    """The codec whose magic bytes ``head`` starts with, or None."""
    return next((c for c in CODECS.values() if head.startswith(c.magic)), None)


def compression_for_file(filename: str) -> str:
    """``zstd`` for ``.zst`` files, else ``gzip``."""
    stem = filename.removesuffix(".failed")
    return next(
        (c.name for c in CODECS.values() if stem.endswith(os.path.splitext(c.extension)[1])),
        GZIP.name,
    )
