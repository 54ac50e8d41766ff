"""The external programs the backup runs, found on PATH, with what to install when missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import ConfigError

_CLIENT_HINT = (
    "install the PostgreSQL client of the server's major version or newer "
    "(Debian/Ubuntu: apt-get install postgresql-client-<major>; Alpine: apk add "
    "postgresql<major>-client; RHEL: dnf install postgresql<major>), or run the backup "
    "in the compose db-backup service, whose image has it"
)
INSTALL_HINTS = {
    "pg_dump": _CLIENT_HINT,
    "pg_dumpall": _CLIENT_HINT + "; or set BACKUP_OWNERSHIP=drop (no roles file)",
    "psql": _CLIENT_HINT,
    "gzip": "install gzip (Debian/Ubuntu: apt-get install gzip), or pigz for parallel compression",
    "pigz": "install pigz (Debian/Ubuntu: apt-get install pigz)",
    "zstd": "install zstd (Debian/Ubuntu: apt-get install zstd) or set BACKUP_COMPRESSION=gzip",
}


WRAPPER = "pg_wrapper"  # Debian's postgresql-common dispatcher behind /usr/bin/psql and co.
VERSIONED_CLIENTS = Path("/usr/lib/postgresql")


def find_tool(name: str) -> str:
    """The absolute path of ``name`` on PATH; a ``ConfigError`` saying what to install if absent.

    Debian's ``/usr/bin/psql`` (and ``pg_dump``...) is ``pg_wrapper``, a Perl script
    that picks a version and execs it: some 50 ms per call, and the tool calls psql
    a dozen times a run. Without ``PGCLUSTER``, the wrapper picks the newest installed
    client for a server it does not manage, so that program is taken directly.
    """
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"{name} is required but was not found on PATH",
            hint=INSTALL_HINTS.get(name, f"install {name}"),
        )
    path = os.path.abspath(path)
    if os.path.basename(os.path.realpath(path)) == WRAPPER and not os.environ.get("PGCLUSTER"):
        return newest_versioned_client(name, VERSIONED_CLIENTS) or path
    return path


def newest_versioned_client(name: str, root: Path) -> str | None:
    """``<root>/<major>/bin/<name>`` of the highest major installed, if any."""
    found = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return None
    for entry in entries:
        program = entry / "bin" / name
        if entry.name.isdigit() and os.access(program, os.X_OK):
            found.append((int(entry.name), str(program)))
    return max(found)[1] if found else None


def available_cores() -> int:
    """Cores this process may run on (respects CPU affinity, e.g. in containers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_VERSION = re.compile(r"(\d+)(?:\.(\d+))?")


def client_major_version(program: str) -> int:
    """The major version of ``pg_dump``/``psql`` from ``--version`` (e.g. 15 for 15.4)."""
    try:
        out = subprocess.run(
            [program, "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"cannot run {program} --version: {exc}") from exc
    return parse_major_version(out)


def parse_major_version(version_output: str) -> int:
    """``pg_dump (PostgreSQL) 15.4 (Debian ...)`` -> 15; ``9.6.24`` -> 9."""
    text = version_output.split(")", 1)[-1] if ")" in version_output else version_output
    match = _VERSION.search(text)
    if not match:
        raise ConfigError(f"cannot read a version from {version_output.strip()!r}")
    return int(match.group(1))
