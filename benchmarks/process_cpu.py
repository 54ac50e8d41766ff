"""CPU time per process of one command: its descendants and the server backends it drives.

Polls ``/proc`` while the command runs and keeps each process's last utime + stime, so
processes that have exited are still counted (up to one polling interval of their life).
Server backends are recognised by their title (``postgres: user database ...``), which
names the database they serve.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import defaultdict
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
POLL_SECONDS = 0.05


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds) of ``pid``, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_by_process(
    command: list[str], env: dict[str, str], databases: tuple[str, ...]
) -> tuple[float, dict[str, float]]:
    """Run ``command``; return its wall time and CPU seconds per process kind.

    Kinds are the command names of its descendants (``python3``, ``psql``, ``pigz``...) and
    ``postgres backend`` for server processes serving one of ``databases``.
    """
    seen: dict[int, tuple[str, float]] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    family = {proc.pid}
    while proc.poll() is None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            info = _stat(pid)
            if info is None:
                continue
            name, parent, cpu = info
            if parent in family:
                family.add(pid)
            if pid in family:
                seen[pid] = (name, cpu)
            elif name == "postgres" and any(f" {db} " in _title(pid) for db in databases):
                seen[pid] = ("postgres backend", cpu)
        time.sleep(POLL_SECONDS)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{command} failed:\n{err.decode(errors='replace')}")
    totals: dict[str, float] = defaultdict(float)
    for name, cpu in seen.values():
        totals[name] += cpu
    return wall, dict(totals)


def print_cpu(label: str, wall: float, totals: dict[str, float]) -> None:
    """One line per process kind, busiest first, with its share of the wall time."""
    print(f"\n{label}: {wall:.2f} s wall")
    for name, cpu in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {name:<20} {cpu:7.2f} s CPU  ({cpu / wall:4.0%} of one core)")
