"""One backup at a time per backup directory and database: an flock on ``.<db>.lock``.

The kernel drops an flock when its holder exits, however it exits, so a
crashed run never leaves a stale lock. The file holds the holder's pid and
start time, so a second run can say who is running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
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
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the lock file {self.path}: {exc.strerror or exc}"
            ) from None
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


def _read_holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if text:
            return text
    return "holder unknown"
