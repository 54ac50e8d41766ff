"""Progress of long transfers: one INFO line every 30 s with bytes so far, rate and elapsed time.

The loops that move a dump's bytes (writing the dump, reading a backup for a
check, test restore or restore, uploading) call ``Progress.add`` with each
chunk; nothing is logged for a transfer shorter than the interval. JSON logs
carry the numbers as an ``event: progress`` record. ``add`` may be called
from several threads (the upload's workers). The interval can be shortened
through ``DB_BACKUP_PROGRESS_SECONDS`` (for tests; not a setting).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .log import fields
from .units import human_duration, human_rate, human_size

INTERVAL_SECONDS = 30.0
INTERVAL_VARIABLE = "DB_BACKUP_PROGRESS_SECONDS"

log = logging.getLogger(__name__)


def interval_seconds() -> float:
    """``INTERVAL_SECONDS``, or a positive number of seconds from ``DB_BACKUP_PROGRESS_SECONDS``."""
    raw = os.environ.get(INTERVAL_VARIABLE, "").strip()
    try:
        value = float(raw) if raw else INTERVAL_SECONDS
    except ValueError:
        return INTERVAL_SECONDS
    return value if value > 0 else INTERVAL_SECONDS


class Progress:
    """Counts the bytes of one transfer and logs them every interval."""

    def __init__(
        self,
        stage: str,
        what: str,
        *,
        total: int | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stage = stage  # dump, read, upload: the event's stage field
        self.what = what  # the line's subject, e.g. "dumping mydb"
        self.total = total
        self.interval = interval if interval is not None else interval_seconds()
        self.done = 0
        self._clock = clock
        self._started = clock()
        self._next = self._started + self.interval
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        """``count`` more bytes moved; log a line when the interval has passed."""
        with self._lock:
            self.done += count
            now = self._clock()
            if now < self._next:
                return
            self._next = now + self.interval
            done = self.done
        self._log(done, now - self._started)

    def _log(self, done: int, elapsed: float) -> None:
        amount = human_size(done)
        if self.total:
            amount += f" of {human_size(self.total)} ({100 * done / self.total:.0f}%)"
        rate = done / elapsed if elapsed > 0 else 0.0
        log.info(
            f"{self.what}: {amount} so far, {human_rate(done, elapsed)}, "
            f"{human_duration(elapsed)} elapsed",
            extra=fields(
                event="progress",
                stage=self.stage,
                bytes=done,
                total_bytes=self.total,
                bytes_per_second=round(rate),
                elapsed_seconds=round(elapsed, 1),
            ),
        )


def transfer_subscriber(progress: Progress) -> Any:
    """An s3transfer subscriber feeding ``progress`` (boto3 calls it from its worker threads)."""
    from s3transfer.subscribers import BaseSubscriber

    class _Subscriber(BaseSubscriber):  # type: ignore[misc]
        def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
            progress.add(bytes_transferred)

    return _Subscriber()
