"""``--schedule``: run forever and make one backup at each time the schedule names.

Each backup runs as a child process (``python -m db_backup`` with the same
flags, less ``--schedule``, plus ``--once``), so a failed or crashed run never
stops the scheduler and every run starts clean. One run at a time: a slot that
comes while a run is still going is skipped with a WARNING. SIGTERM, SIGINT or
SIGHUP while idle ends the scheduler with exit 0; during a run they are passed
to the run, which stops cleanly (nothing partial kept, scratch database
dropped), and the scheduler exits 0 once it has ended.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from .children import child_options
from .log import SUCCESS, fields
from .schedule import Schedule, now_in, zone_name
from .signals import WATCHED

POLL_SECONDS = 0.2

log = logging.getLogger(__name__)


def child_command(arguments: Sequence[str]) -> list[str]:
    """The command of one scheduled run: this interpreter, this package, ``arguments``."""
    return [sys.executable, "-m", "db_backup", *arguments]


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").rstrip()


class Scheduler:
    """The loop: sleep until the next slot, run one backup, log the next slot."""

    def __init__(
        self, schedule: Schedule, arguments: Sequence[str], zone: dt.tzinfo | None
    ) -> None:
        self.schedule = schedule
        self.command = child_command(arguments)
        self.zone = zone
        self.stop_signal: int | None = None
        self.child: subprocess.Popen[bytes] | None = None

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = signum
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> None:
        """Run until a signal; returns (exit 0) once idle or once the running backup ended."""
        previous = {signum: signal.signal(signum, self._on_signal) for signum in WATCHED}
        try:
            self._loop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _loop(self) -> None:
        slot = self.schedule.next_after(now_in(self.zone))
        log.info(
            f"Scheduler started: {self.schedule.text} ({zone_name(self.zone)}); "
            f"next backup at {_when(slot)}",
            extra=fields(event="schedule_next", next_run=slot.isoformat()),
        )
        while True:
            if not self._sleep_until(slot):
                self._stopped("idle")
                return
            slot = self._run_once(slot)
            if self.stop_signal is not None:
                self._stopped("the running backup ended")
                return
            log.info(
                f"Next backup at {_when(slot)}",
                extra=fields(event="schedule_next", next_run=slot.isoformat()),
            )

    def _sleep_until(self, moment: dt.datetime) -> bool:
        """Wait for ``moment`` (compared as Unix time, so a suspend, a clock change or a
        daylight saving change is noticed); False when a signal came first."""
        while self.stop_signal is None:
            left = moment.timestamp() - time.time()
            if left <= 0:
                return True
            time.sleep(min(POLL_SECONDS, left))
        return False

    def _run_once(self, slot: dt.datetime) -> dt.datetime:
        """One backup for ``slot``; returns the first slot after the run ended."""
        clock = time.monotonic()
        log.info(
            f"Scheduled backup for {_when(slot)} starting",
            extra=fields(event="schedule_run", slot=slot.isoformat()),
        )
        try:
            self.child = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, **child_options())
        except OSError as exc:
            log.error(f"cannot start the scheduled backup: {exc.strerror or exc}")
            return self._next_slot(slot)
        if self.stop_signal is not None:  # a signal came while the child was being started
            self.child.send_signal(self.stop_signal)
        following = self._next_slot(slot)
        code = None
        while code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.child.wait(timeout=POLL_SECONDS)
            while self.stop_signal is None and time.time() >= following.timestamp():
                log.warning(
                    f"Skipped the backup for {_when(following)}: the one for {_when(slot)} "
                    "is still running",
                    extra=fields(event="schedule_skip", slot=following.isoformat()),
                )
                following = self.schedule.next_after(following)
        self.child = None
        self._finished(code, time.monotonic() - clock)
        return following

    def _next_slot(self, after: dt.datetime) -> dt.datetime:
        """The first slot after ``after`` that is still ahead (late slots are not caught up)."""
        now = time.time()
        slot = self.schedule.next_after(after)
        while slot.timestamp() <= now:
            slot = self.schedule.next_after(slot)
        return slot

    def _finished(self, code: int, seconds: float) -> None:
        took = round(seconds, 3)
        if code == 0:
            log.log(
                SUCCESS,
                f"Scheduled backup finished in {seconds:.1f} s",
                extra=fields(event="schedule_done", exit_code=0, duration_seconds=took),
            )
            return
        reason = f"killed by {_signal_name(-code)}" if code < 0 else f"exit {code}"
        log.warning(
            f"Scheduled backup failed ({reason}) after {seconds:.1f} s; the schedule goes on",
            extra=fields(event="schedule_done", exit_code=code, duration_seconds=took),
        )

    def _stopped(self, state: str) -> None:
        name = _signal_name(self.stop_signal or 0)
        log.info(f"Scheduler stopped by {name} ({state})", extra=fields(event="schedule_stop"))


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
