"""Shared helpers for the backup engine's integration tests (``tests/test_backup_*.py``)."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import time
from pathlib import Path

LOG_LINE = re.compile(
    r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] \[(DEBUG|INFO|WARNING|ERROR|SUCCESS)\] "
)


def plant_old_backup(directory: Path, filename: str, days_old: float = 2) -> Path:
    """An existing good backup (with its ``.sha256``), modified ``days_old`` days ago."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    data = gzip.compress(f"-- PostgreSQL database dump ({filename})\n".encode())
    path.write_bytes(data)
    sidecar = directory / f"{filename}.sha256"
    sidecar.write_text(f"{hashlib.sha256(data).hexdigest()}  {filename}\n")
    stamp = time.time() - days_old * 86400
    for item in (path, sidecar):
        os.utime(item, (stamp, stamp))
    return path


def snapshot(directory: Path) -> dict[str, str]:
    """``{name: sha256}`` of every file in ``directory`` except the tool's lock files."""
    if not directory.is_dir():
        return {}
    return {
        item.name: hashlib.sha256(item.read_bytes()).hexdigest()
        for item in sorted(directory.iterdir())
        if item.is_file() and not item.name.endswith(".lock")
    }


def backups_in(directory: Path) -> list[str]:
    """Names of finished backups (``.sql.gz``/``.sql.zst``) in ``directory``, sorted."""
    return sorted(
        item.name
        for item in directory.iterdir()
        if item.name.endswith((".sql.gz", ".sql.zst")) and not item.name.startswith(".")
    )


def error_lines(stderr: str) -> list[str]:
    """The ``[ERROR]`` log lines of a run."""
    return [line for line in stderr.splitlines() if "] [ERROR] " in line]
