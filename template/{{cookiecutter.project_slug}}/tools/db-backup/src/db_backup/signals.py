"""SIGINT, SIGTERM and SIGHUP: turned into an exception once, held back, or deferred.

``interrupts_raise`` (the whole run) makes the first of them raise
``Interrupted`` so cleanup runs; ``signals_deferred`` blocks them for a few
system calls that must not be split (publishing a file); ``signals_held``
remembers them during a cleanup (dropping a scratch database) and delivers
the first one when it is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from .errors import Interrupted

WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


@contextlib.contextmanager
def _handlers(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """``handler`` for every watched signal inside the block (main thread only)."""
    previous: dict[int, Handler] = {}
    for signum in WATCHED:
        with contextlib.suppress(ValueError, OSError):  # not the main thread
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def interrupts_raise() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP raise ``Interrupted`` once, so cleanup runs; later ones wait."""
    received: list[str] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if received:
            return  # already cleaning up: let it finish
        received.append(name)
        raise Interrupted(f"interrupted by {name}: stopped, partial files removed")

    with _handlers(handler):
        yield


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Block SIGINT, SIGTERM and SIGHUP until the block ends (a few system calls long)."""
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(WATCHED))
    except (AttributeError, OSError):  # platforms without pthread_sigmask
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP during cleanup; deliver the first one once it is done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        held.append(signum)

    try:
        with _handlers(remember):
            yield
    finally:
        if held:
            signal.raise_signal(held[0])
