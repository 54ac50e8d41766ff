"""Running a baked project's ``scripts/db-restore.sh`` and looking at what it left behind."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.helpers import start_tool, tool_environ
from tests.services.postgres import PostgresServer, quote_literal

RESTORE = Path("scripts") / "db-restore.sh"

RESTORED = 0
CONFIG_ERROR = 2
CHECKS_FAILED = 5
DOWNLOAD_FAILED = 6
RESTORE_FAILED = 8


def run_restore(
    project: Path,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 300,
    stdin: int | IO[str] | None = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """Run ``<project>/scripts/db-restore.sh args`` with a clean environment; capture text."""
    return subprocess.run(
        [str(project / RESTORE), *args],
        env=tool_environ(env),
        cwd=project,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_restore(
    project: Path, args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``scripts/db-restore.sh args`` in a session of its own (for signals and kills)."""
    return start_tool(project, args, env, script=RESTORE, own_session=True)


def databases_like(postgres: PostgresServer, prefix: str) -> list[str]:
    """Names of the databases that start with ``prefix``, sorted."""
    pattern = quote_literal(
        prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
    )
    rows = postgres.rows(f"SELECT datname FROM pg_database WHERE datname LIKE {pattern} ORDER BY 1")
    return [row[0] for row in rows]


def all_databases(postgres: PostgresServer) -> set[str]:
    """Every database on the server."""
    return {row[0] for row in postgres.rows("SELECT datname FROM pg_database")}
