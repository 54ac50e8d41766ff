"""Child processes that die with the tool: the kernel kills them when their parent dies.

Cleanup code stops pg_dump, the compressor and psql whenever the tool ends in
an orderly way; a tool killed with SIGKILL runs no code at all, and its
children would be reparented to PID 1 and go on (a pg_dump waiting for a lock
holds its snapshot for hours). On Linux each child asks the kernel, between
``fork`` and ``exec``, for SIGKILL when its parent thread ends
(``prctl(PR_SET_PDEATHSIG)``). Elsewhere ``child_options`` adds nothing.

Children are started from the main thread only: the kernel ties the signal
to the thread that forked, not to the process.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _load_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up once, before any fork (None where there is none)."""
    if not sys.platform.startswith("linux"):
        return None
    # The running interpreter's own symbols include libc's (glibc and musl alike); looking
    # libc up by name with ctypes.util.find_library would run ldconfig, a quarter second.
    prctl: Callable[..., int] | None = None
    for library in (None, "libc.so.6"):
        try:
            prctl = ctypes.CDLL(library, use_errno=True).prctl
            break
        except (OSError, AttributeError):
            continue
    if prctl is None:
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


_PRCTL = _load_prctl()


def die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGKILL when this process dies.

    It runs in the child between fork and exec, so it only calls ``prctl`` and
    compares pids: if the parent died before ``prctl`` took effect (the child
    was already reparented), the child exits at once instead of running on.
    """
    prctl = _PRCTL
    if prctl is None:
        return None
    parent = os.getpid()
    kill = int(signal.SIGKILL)

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return hook


def child_options() -> dict[str, Any]:
    """Keyword arguments for ``subprocess.Popen``/``run``: the child dies with the tool."""
    hook = die_with_parent_hook()
    return {"preexec_fn": hook} if hook is not None else {}
