"""Where the database is and how to log in, and the environment every child process gets.

``ConnectionInfo.child_env`` is the one builder of a child's environment: the
process environment without any inherited connection variable, then this
connection's libpq variables. The password only ever travels this way, never on
a command line.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

APPLICATION_NAME = "db-backup"
DEFAULT_CONNECT_TIMEOUT = 10

# Variables a child process must not inherit: the connection is described by ours alone.
CONNECTION_VARIABLES = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGCONNECT_TIMEOUT",
    "PGAPPNAME",
    "PGPASSWORD_FILE",
)


@dataclass(frozen=True)
class ConnectionInfo:
    """Where the database is and how to log in; the password only ever goes into a child's env."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    passfile: Path | None = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    # Other libpq variables of the settings (PGSSLMODE, PGOPTIONS...), env files included,
    # so every child connects the same way whatever environment it starts from.
    libpq_env: tuple[tuple[str, str], ...] = ()

    def child_env(
        self, base: Mapping[str, str] | None = None, *, client_encoding: str | None = None
    ) -> dict[str, str]:
        """The environment for psql/pg_dump: ``base`` (the process environment) with this
        connection's PG* variables and, when given, ``PGCLIENTENCODING``."""
        source = os.environ if base is None else base
        env = {k: v for k, v in source.items() if k not in CONNECTION_VARIABLES}
        env.update(self.libpq_env)
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGDATABASE=self.dbname,
            PGCONNECT_TIMEOUT=str(self.connect_timeout),
            PGAPPNAME=APPLICATION_NAME,
        )
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        elif self.passfile is not None:
            env["PGPASSFILE"] = str(self.passfile)
        if client_encoding is not None:
            env["PGCLIENTENCODING"] = client_encoding
        return env

    def with_dbname(self, name: str) -> ConnectionInfo:
        """The same server and credentials, another database (for scratch restores)."""
        return dataclasses.replace(self, dbname=name)

    def describe(self) -> str:
        """``user@host:port/dbname``, for logs (no password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


def libpq_variables(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The PG* variables of the settings other than the connection's own, sorted."""
    return tuple(
        sorted(
            (k, v) for k, v in env.items() if k.startswith("PG") and k not in CONNECTION_VARIABLES
        )
    )
