"""Databases the tool creates, marks, finds again, drops and swaps.

Every database a restore creates carries a ``COMMENT ON DATABASE`` that names
the run (``db-backup: restore in progress``, its pid, host and start time)
until it is proven, when the comment says where it was restored from. A run
killed before that leaves a marked database behind; the next run finds it,
sees that its creator is gone (same host: the pid is dead; another host: no
session is connected to it), names it and drops it. A database without that
mark is never dropped.

The queries here run through the ``postgres`` maintenance database (or
``template1`` where it does not exist), so the live database can be renamed;
a test restore, which renames nothing, runs them through the live database.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

from . import psql
from .connection import ConnectionInfo
from .errors import BackupError, ConfigError, DatabaseConnectionError, GeneralError

logger = logging.getLogger(__name__)

MAX_IDENTIFIER_BYTES = 63
IN_PROGRESS = "db-backup: restore in progress"
RESTORED = "db-backup: restored"
ORPHAN_GRACE = dt.timedelta(minutes=2)  # another host's run: time to connect after CREATE
QUERY_GRACE_SECONDS = 30
MAINTENANCE_DATABASES = ("postgres", "template1")

_MARK = re.compile(
    rf"^{re.escape(IN_PROGRESS)}: pid (?P<pid>\d+) on (?P<host>\S+) since (?P<since>\S+)$"
)


def quote_ident(name: str) -> str:
    """An SQL identifier, always quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """An SQL string literal (standard_conforming_strings is on since 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def check_database_name(name: str, what: str) -> None:
    """A name PostgreSQL keeps as given: 1-63 bytes, no control characters; else exit 2."""
    if not name:
        raise ConfigError(f"{what} is empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise ConfigError(f"{what} {name!r} holds control characters")
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise ConfigError(
            f"{what} is {size} bytes long; PostgreSQL names hold at most {MAX_IDENTIFIER_BYTES}",
            detail=name,
        )


def stamped_name(base: str, middle: str, when: dt.datetime) -> str:
    """``{base}_{middle}_{YYYYmmdd_HHMMSS}``, ``base`` cut (never mid-character) to fit 63 bytes."""
    suffix = f"_{middle}_{when.strftime('%Y%m%d_%H%M%S')}"
    room = MAX_IDENTIFIER_BYTES - len(suffix.encode())
    return base.encode("utf-8")[:room].decode("utf-8", "ignore") + suffix


@dataclass(frozen=True)
class Orphan:
    """A database a killed restore left behind, and why it is known to be orphaned."""

    name: str
    reason: str


class Server:
    """Database-level statements for one server, as the configured role."""

    def __init__(self, connection: ConnectionInfo, *, admin: ConnectionInfo | None = None) -> None:
        """``admin``: where database-level statements run (default: a maintenance database)."""
        self.connection = connection
        self._admin = admin

    # -- queries ---------------------------------------------------------------------------

    def run(self, sql: str, *, what: str, database: str | None = None) -> list[list[str]]:
        """Run ``sql`` on the maintenance database (or ``database``); errors name ``what``.

        The maintenance database is ``postgres``, else ``template1``: the first
        statement finds out by running there, moving on only when psql could not
        connect (so the statement never ran).
        """
        if database:
            return self._run_on(self.connection.with_dbname(database), sql, what)
        if self._admin is not None:
            return self._run_on(self._admin, sql, what)
        last: psql.PsqlFailed | None = None
        for name in MAINTENANCE_DATABASES:
            candidate = self.connection.with_dbname(name)
            try:
                rows = self._run_on(candidate, sql, what, reraise=True)
            except psql.PsqlFailed as exc:
                if not _refused_at_login(exc):
                    raise self._failure(exc, what) from None
                last = exc
                continue
            self._admin = candidate
            return rows
        assert last is not None
        raise DatabaseConnectionError(
            f"cannot connect to the server: {last.first}", detail=last.detail
        )

    def _run_on(
        self, target: ConnectionInfo, sql: str, what: str, *, reraise: bool = False
    ) -> list[list[str]]:
        timeout = self.connection.connect_timeout + QUERY_GRACE_SECONDS
        try:
            return psql.query(target, sql, timeout=timeout)
        except psql.PsqlTimeout as exc:
            raise DatabaseConnectionError(
                f"{what}: no answer within {exc.seconds:g} s", detail=target.describe()
            ) from None
        except psql.PsqlFailed as exc:
            if reraise:
                raise
            raise self._failure(exc, what) from None

    @staticmethod
    def _failure(exc: psql.PsqlFailed, what: str) -> BackupError:
        if exc.connection_failed:
            return DatabaseConnectionError(
                f"{what}: cannot connect: {exc.first}", detail=exc.detail
            )
        return GeneralError(f"{what} failed: {exc.first}", detail=exc.detail)

    def flag(self, sql: str, *, what: str, database: str | None = None) -> bool:
        """A query answering one boolean."""
        rows = self.run(sql, what=what, database=database)
        return bool(rows) and rows[0][0].strip() == "t"

    def exists(self, name: str) -> bool:
        """Whether database ``name`` exists."""
        return self.flag(
            f"SELECT EXISTS (SELECT FROM pg_database WHERE datname = {quote_literal(name)})",
            what=f"looking up database {name}",
        )

    def is_empty(self, name: str) -> bool:
        """No table, view, sequence, routine, type or schema of its own (extensions aside)."""
        sql = """
SELECT NOT EXISTS (
    SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
UNION ALL
    SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
UNION ALL
    SELECT FROM pg_catalog.pg_namespace n
     WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname !~ '^pg_'
)"""
        return self.flag(sql, what=f"looking into database {name}", database=name)

    def role_may(self) -> tuple[bool, bool]:
        """(superuser, may create databases) for the configured role."""
        rows = self.run(
            "SELECT rolsuper, rolsuper OR rolcreatedb FROM pg_catalog.pg_roles "
            "WHERE rolname = current_user",
            what="reading the role's privileges",
        )
        if not rows:
            return False, False
        return rows[0][0].strip() == "t", rows[0][1].strip() == "t"

    def owns(self, name: str) -> bool:
        """Whether the configured role owns database ``name`` (or is a superuser)."""
        return self.flag(
            "SELECT r.rolsuper OR pg_catalog.pg_has_role(current_user, d.datdba, 'MEMBER') "
            "FROM pg_catalog.pg_database d, pg_catalog.pg_roles r "
            f"WHERE d.datname = {quote_literal(name)} AND r.rolname = current_user",
            what=f"reading the owner of database {name}",
        )

    # -- marked databases ---------------------------------------------------------------------

    def create_marked(self, name: str) -> None:
        """``CREATE DATABASE name`` from template0, marked as a restore in progress."""
        since = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        mark = f"{IN_PROGRESS}: pid {os.getpid()} on {socket.gethostname()} since {since}"
        # One session: a run killed between the two statements is as unlikely as can be.
        self.run(
            f"CREATE DATABASE {quote_ident(name)} TEMPLATE template0;\n"
            f"COMMENT ON DATABASE {quote_ident(name)} IS {quote_literal(mark)};",
            what=f"creating database {name}",
        )

    def drop(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS ... WITH (FORCE)``."""
        self.run(
            f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)", what=f"dropping {name}"
        )

    def orphans(self, alive: Callable[[int], bool] | None = None) -> list[Orphan]:
        """Marked databases whose restore is gone, each with the reason it is known to be."""
        alive = alive or pid_alive
        rows = self.run(
            "SELECT d.datname, pg_catalog.shobj_description(d.oid, 'pg_database'), "
            "(SELECT count(*) FROM pg_catalog.pg_stat_activity a WHERE a.datid = d.oid) "
            "FROM pg_catalog.pg_database d "
            f"WHERE pg_catalog.shobj_description(d.oid, 'pg_database') LIKE "
            f"{quote_literal(IN_PROGRESS + '%')}",
            what="looking for databases of interrupted restores",
        )
        found = []
        here = socket.gethostname()
        now = dt.datetime.now(dt.timezone.utc)
        for name, comment, sessions in rows:
            match = _MARK.match(comment)
            if match is None:
                continue
            pid, host = int(match["pid"]), match["host"]
            if host == here:
                if not alive(pid):
                    found.append(Orphan(name, f"its restore (pid {pid}) is no longer running"))
                continue
            try:
                since = dt.datetime.strptime(match["since"], "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=dt.timezone.utc
                )
            except ValueError:
                continue
            if int(sessions) == 0 and now - since > ORPHAN_GRACE:
                found.append(Orphan(name, f"its restore on {host} has no session left"))
        return found

    def drop_orphans(self) -> list[str]:
        """Drop what killed restores left; returns the names dropped (each logged)."""
        dropped = []
        for orphan in self.orphans():
            logger.warning(
                f"dropping database {orphan.name} left by an interrupted restore: {orphan.reason}"
            )
            self.drop(orphan.name)
            dropped.append(orphan.name)
        return dropped

    # -- the swap ---------------------------------------------------------------------------------

    def terminate_sessions(self, name: str) -> int:
        """End every other session on database ``name``; returns how many were ended."""
        rows = self.run(
            "SELECT count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(pid)) "
            "FROM pg_catalog.pg_stat_activity "
            f"WHERE datname = {quote_literal(name)} AND pid <> pg_catalog.pg_backend_pid()",
            what=f"ending the sessions on {name}",
        )
        return int(rows[0][0]) if rows else 0

    def allow_connections(self, name: str, allowed: bool) -> None:
        """``ALTER DATABASE name WITH ALLOW_CONNECTIONS``."""
        self.run(
            f"ALTER DATABASE {quote_ident(name)} WITH ALLOW_CONNECTIONS {str(allowed).lower()}",
            what=f"{'allowing' if allowed else 'refusing'} connections to {name}",
        )

    def rename(self, old: str, new: str) -> None:
        """``ALTER DATABASE old RENAME TO new``."""
        self.run(
            f"ALTER DATABASE {quote_ident(old)} RENAME TO {quote_ident(new)}",
            what=f"renaming {old} to {new}",
        )


def _refused_at_login(exc: psql.PsqlFailed) -> bool:
    """psql could not connect at all (that database missing, refused): nothing ran."""
    return exc.connection_failed and exc.first.startswith("connection to server")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
