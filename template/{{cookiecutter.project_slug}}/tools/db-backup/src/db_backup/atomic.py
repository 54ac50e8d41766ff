"""Durable, atomic file creation: temporary name, fsync, rename, fsync the directory.

A reader (or a crash) sees either no file or the whole file, never a part,
and an existing file is never replaced by ``publish``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def fsync_dir(directory: Path) -> None:
    """Make a rename or link in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems (e.g. network mounts) refuse dir fsync
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = DIR_MODE) -> list[Path]:
    """Create ``path`` and every missing parent, each with ``mode`` whatever the umask.

    ``Path.mkdir(parents=True)`` gives the parents the umask's default (0777 under
    umask 000); here each new directory is made with ``mode`` and then set to it.
    Returns the directories created, outermost first.
    """
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current != current.parent:
        missing.append(current)
        current = current.parent
    created: list[Path] = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, leave its mode
        os.chmod(directory, mode)
        created.append(directory)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(path))
    return created


def create_exclusive(path: Path, mode: int = FILE_MODE) -> int:
    """Open a new file for writing; fails if ``path`` exists. Returns the descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, mode)
    os.fchmod(fd, mode)  # the umask must not widen or narrow the mode
    return fd


def publish(temporary: Path, final: Path) -> None:
    """Give ``temporary`` the name ``final`` unless ``final`` exists (FileExistsError).

    A hard link fails atomically when the target exists, which ``rename``
    cannot promise; file systems without hard links fall back to a checked rename.
    """
    try:
        os.link(temporary, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, "file exists", str(final)) from None
        os.rename(temporary, final)
    else:
        os.unlink(temporary)
    fsync_dir(final.parent)


def write_text_atomic(path: Path, text: str, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``text`` atomically (for checksum and metrics files).

    The temporary name is unique per call: a pid alone repeats (pid 1 in every
    container) and would collide with a crashed run's leftover or a neighbour's write.
    """
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    fd = create_exclusive(temporary, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        remove_quietly(temporary)
        raise
    fsync_dir(path.parent)


def remove_quietly(path: Path) -> None:
    """Delete ``path`` if it exists; cleanup must not mask the error being handled."""
    with contextlib.suppress(OSError):
        path.unlink()
