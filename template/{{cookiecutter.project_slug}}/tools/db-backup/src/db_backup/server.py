"""Ask the server who we are, with psql: a check that really logs in, within a timeout.

``pg_isready`` only says a server answers; this runs a query, so a wrong
password or a missing database is a connection error (exit 3) before any
file is created, with the server's own words.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import psql
from .connection import ConnectionInfo
from .errors import DatabaseConnectionError

PROBE_SQL = (
    "select current_setting('server_version_num'), current_setting('server_version'), "
    "(select rolsuper from pg_catalog.pg_roles where rolname = current_user), "
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
    superuser: bool = False

    @property
    def major(self) -> int:
        """The server's major version (15 for 15.4; 9 for 9.6)."""
        return self.version_num // 10000


def probe(connection: ConnectionInfo) -> ServerInfo:
    """Log in and read the server version; ``DatabaseConnectionError`` (exit 3) on any failure."""
    try:
        rows = psql.query(
            connection, PROBE_SQL, timeout=connection.connect_timeout + _GRACE_SECONDS
        )
    except psql.PsqlTimeout as exc:
        raise DatabaseConnectionError(
            f"cannot connect to {connection.describe()}: no answer within {exc.seconds:g} s"
        ) from None
    except psql.PsqlFailed as exc:
        raise DatabaseConnectionError(
            f"cannot connect to {connection.describe()}: {exc.first}",
            detail=exc.detail,
            hint=_hint_for(exc.first),
        ) from None
    row = rows[-1] if rows else []
    if len(row) != 5 or not row[0].strip().isdigit():
        raise DatabaseConnectionError(f"unexpected answer from the server: {row!r}")
    return ServerInfo(int(row[0]), row[1], row[3], row[4].rstrip("\n"), superuser=row[2] == "t")


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
