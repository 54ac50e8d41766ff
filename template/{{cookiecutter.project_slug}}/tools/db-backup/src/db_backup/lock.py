"""One backup at a time per backup directory and database: an flock on ``.<db>.lock``.

The kernel drops an flock when its holder exits, however it exits, so a
crashed run never leaves a stale lock. The file holds the holder's pid and
start time, so a second run can say who is running.

The lock file is opened without following a symlink and used only when it is
a regular file, with one link, owned by the user running the tool: a link
planted by someone else never makes a root-run backup truncate its target.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import stat
from pathlib import Path
from types import TracebackType

from .atomic import FILE_MODE
from .errors import ConfigError, GeneralError


def lock_path(backup_dir: Path, database: str) -> Path:
    """The lock file of ``database``'s backups in ``backup_dir``."""
    return backup_dir / f".{database}.lock"


class BackupLock:
    """Held for the whole run; a second run raises ``GeneralError`` (exit 1) at once."""

    def __init__(self, backup_dir: Path, database: str):
        self.path = lock_path(backup_dir, database)
        self.database = database
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``GeneralError`` naming the run that holds it."""
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
        try:
            fd = os.open(self.path, flags, FILE_MODE)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refused(self.path, "is a symbolic link") from None
            raise ConfigError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}"
            ) from None
        problem = _not_own_regular_file(fd)
        if problem is not None:
            os.close(fd)
            raise _refused(self.path, problem)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise GeneralError(
                f"another backup of {self.database} is already running ({holder})",
                detail=f"lock file: {self.path}",
                hint="wait for it to finish; the lock is released when that process exits",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise ConfigError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} started {started}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; removing it would race with a waiting run)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> BackupLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _not_own_regular_file(fd: int) -> str | None:
    """Why the open lock file must not be used, or None when it is ours and plain."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != os.geteuid():
        return f"is owned by uid {info.st_uid}, not by the user running the backup ({os.geteuid()})"
    if info.st_nlink != 1:
        return f"has {info.st_nlink} hard links"
    return None


def _refused(path: Path, problem: str) -> ConfigError:
    return ConfigError(
        f"refusing the lock file {path}: it {problem}",
        hint="remove it (the backup creates its own); let only the backup user write to "
        "the backup directory",
    )


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if text:
            return text
    return "holder unknown"
