"""``BACKUP_TIMEOUT``: a whole run stops after so many seconds, with the error of its step.

A server session that freezes (a stopped backend, a hung network path) leaves
pg_dump or psql waiting forever; cron then starts the next run into a held
lock. ``RunDeadline`` arms SIGALRM for the whole run; when it fires, the
exception of the step under way is raised in the main thread, so the normal
cleanup runs: children stopped, the partial file removed, a scratch database
dropped. Dumping gives exit 4, the test restore exit 3 (the server's failure,
the backup is kept unverified), the upload exit 6, anything else exit 1.
"""

from __future__ import annotations

import contextlib
import signal
from types import FrameType, TracebackType

from .errors import (
    BackupError,
    DatabaseConnectionError,
    DumpError,
    GeneralError,
    RestoreError,
    UploadError,
)

DUMP, VERIFY, UPLOAD, RESTORE = "dump", "verify", "upload", "restore"

_ERRORS: dict[str, tuple[type[BackupError], str]] = {
    DUMP: (DumpError, "while dumping; the partial file was removed"),
    VERIFY: (DatabaseConnectionError, "during the test restore; the backup is kept, unverified"),
    UPLOAD: (UploadError, "while uploading"),
    RESTORE: (RestoreError, "while restoring; nothing was committed, the new database is dropped"),
}


class RunDeadline:
    """Raise the current step's error once ``seconds`` have passed (0: no limit)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.step = "preparing"
        self._previous: object = None
        self._armed = False
        self._fired = False

    def enter_step(self, step: str) -> None:
        """Name the step now under way (``DUMP``, ``VERIFY``, ``UPLOAD`` or another word)."""
        self.step = step

    def __enter__(self) -> RunDeadline:
        if self.seconds:
            with contextlib.suppress(ValueError):  # not the main thread: no deadline
                self._previous = signal.signal(signal.SIGALRM, self._fire)
                signal.alarm(self.seconds)
                self._armed = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._armed:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, self._previous)  # type: ignore[arg-type]
            self._armed = False

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        if self._fired:
            return
        self._fired = True
        error, where = _ERRORS.get(self.step, (GeneralError, f"while {self.step}"))
        raise error(
            f"BACKUP_TIMEOUT of {self.seconds} s reached {where}",
            hint="something stopped answering (a frozen server session, a hung network "
            "path); look at pg_stat_activity, or raise BACKUP_TIMEOUT",
        )
