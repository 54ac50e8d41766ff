"""Ask the server who we are, with psql: a check that really logs in, within a timeout.

``pg_isready`` only says a server answers; this runs a query, so a wrong
password or a missing database is a connection error (exit 3) before any
file is created, with the server's own words.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from .connection import ConnectionInfo
from .errors import DatabaseConnectionError
from .tools import find_tool

PROBE_SQL = (
    "select current_setting('server_version_num'), current_setting('server_version'), "
    "current_user, current_database()"
)
_GRACE_SECONDS = 30


@dataclass(frozen=True)
class ServerInfo:
    """What the probe learned."""

    version_num: int
    version: str
    user: str
    database: str

    @property
    def major(self) -> int:
        """The server's major version (15 for 15.4; 9 for 9.6)."""
        return self.version_num // 10000


def psql_command(psql: str, sql: str) -> list[str]:
    """psql that reads no ~/.psqlrc, never prompts, prints bare ``|``-separated rows."""
    return [psql, "-X", "-w", "-A", "-t", "-q", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql]


def server_message(stderr: str) -> tuple[str, str | None]:
    """psql's error as (first line without the ``psql: error:`` prefix, the remaining lines)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "psql failed without a message", None
    first = lines[0]
    for prefix in ("psql: error: ", "psql: "):
        if first.startswith(prefix):
            first = first[len(prefix) :]
            break
    rest = "\n".join(lines[1:]) or None
    return first, rest


def probe(connection: ConnectionInfo) -> ServerInfo:
    """Log in and read the server version; ``DatabaseConnectionError`` (exit 3) on any failure."""
    command = psql_command(find_tool("psql"), PROBE_SQL)
    try:
        done = subprocess.run(
            command,
            env=connection.child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=connection.connect_timeout + _GRACE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise DatabaseConnectionError(
            f"cannot connect to {connection.describe()}: no answer within "
            f"{connection.connect_timeout + _GRACE_SECONDS} s"
        ) from None
    if done.returncode != 0:
        first, rest = server_message(done.stderr)
        raise DatabaseConnectionError(
            f"cannot connect to {connection.describe()}: {first}",
            detail=rest,
            hint=_hint_for(first),
        )
    row = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    parts = row.split("|")
    if len(parts) != 4 or not parts[0].isdigit():
        raise DatabaseConnectionError(f"unexpected answer from the server: {row!r}")
    return ServerInfo(int(parts[0]), parts[1], parts[2], parts[3])


def _hint_for(message: str) -> str | None:
    text = message.lower()
    if "password authentication failed" in text:
        return "check PGPASSWORD (or PGPASSWORD_FILE / PGPASSFILE) and POSTGRES_USER"
    if "does not exist" in text and "database" in text:
        return "check POSTGRES_DB"
    if "translate host name" in text or "name or service not known" in text:
        return "check POSTGRES_HOST"
    if "connection refused" in text:
        return "check POSTGRES_HOST and POSTGRES_PORT, and that the server is running"
    if "timeout" in text:
        return "check the network path to the server, or raise PGCONNECT_TIMEOUT"
    return None
