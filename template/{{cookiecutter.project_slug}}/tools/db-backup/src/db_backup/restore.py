"""Test restores: a scratch database, psql fed the dump, and a comparison with what the dump says.

The scratch database gets a name nobody else uses (``{db}_verify_{pid}_{random}``,
at most 63 bytes), is created from ``template0``, marked as the tool's own
(``databases``), and is always dropped with ``DROP DATABASE ... WITH (FORCE)``:
on success, on failure and when the run is interrupted (the CLI turns
SIGINT/SIGTERM into an exception; the drop itself runs with those signals held
back, so a second Ctrl-C cannot leave it behind). One left by a run that was
killed outright is dropped by the next test restore.

The load is ``load.DumpLoad``: psql stops at the first SQL error, and the
transaction is committed only when the caller has seen the whole dump.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass

from . import psql
from .connection import ConnectionInfo
from .databases import MAX_IDENTIFIER_BYTES, Server, quote_ident, quote_literal
from .dumpscan import ScanResult
from .errors import BackupError, DatabaseConnectionError, VerifyError
from .load import DumpLoad, compare
from .ownership import FOREIGN_OWNERS_SQL, hint_for, privilege_problem
from .signals import signals_held

__all__ = ["MAX_IDENTIFIER_BYTES", "quote_ident", "quote_literal"]

QUERY_GRACE_SECONDS = 30

log = logging.getLogger(__name__)

REQUIRED_PRIVILEGE = "CREATEDB"
_MAY_CREATE_SQL = (
    "SELECT 'createdb', CASE WHEN rolsuper OR rolcreatedb THEN 't' ELSE 'f' END "
    "FROM pg_catalog.pg_roles WHERE rolname = current_user"
)


@dataclass(frozen=True)
class RestoreReport:
    """What a test restore compared."""

    database: str
    tables_compared: int
    rows_compared: int
    objects_compared: int
    seconds: float


def scratch_database_name(dbname: str, pid: int | None = None, token: str | None = None) -> str:
    """``{db}_verify_{pid}_{random}``, the database part cut so the whole fits in 63 bytes."""
    suffix = f"_verify_{os.getpid() if pid is None else pid}_{token or secrets.token_hex(4)}"
    room = MAX_IDENTIFIER_BYTES - len(suffix.encode())
    head = dbname.encode("utf-8")[:room].decode("utf-8", "ignore")  # never half a character
    return head + suffix


def _query(
    connection: ConnectionInfo, sql: str, *, what: str, quick: bool = False
) -> list[list[str]]:
    """Run ``sql``; failures as ``DatabaseConnectionError`` (exit 3) naming ``what``.

    These queries ask the server about itself, never about the backup: whatever
    goes wrong says nothing against the file. ``quick`` queries (privileges) get a
    timeout; counting the rows of a big table may rightly take long, so the others
    have none.
    """
    timeout = connection.connect_timeout + QUERY_GRACE_SECONDS if quick else None
    try:
        return psql.query(connection, sql, timeout=timeout)
    except psql.PsqlTimeout as exc:
        raise DatabaseConnectionError(
            f"test restore: {what} got no answer within {exc.seconds:g} s",
            detail=f"database {connection.dbname}",
        ) from None
    except psql.PsqlFailed as exc:
        raise DatabaseConnectionError(
            f"test restore: {what} failed: {exc.first}", detail=exc.detail
        ) from None


def restore_rights(connection: ConnectionInfo, *, with_owners: bool) -> tuple[bool, list[str]]:
    """Whether the role may create a scratch database (superuser or CREATEDB) and, with
    ``with_owners``, the other roles owning objects it would have to hand back; one session."""
    sql = _MAY_CREATE_SQL
    if with_owners:
        sql += f"\nUNION ALL\nSELECT 'owner', o.rolname::text FROM ({FOREIGN_OWNERS_SQL}) AS o"
    rows = _query(connection, sql, what="reading the role's privileges", quick=True)
    fields = [(row[0], row[1].rstrip("\n")) for row in rows if len(row) == 2]
    may_create = ("createdb", "t") in fields
    return may_create, sorted(value for kind, value in fields if kind == "owner")


class ScratchRestore:
    """A scratch database with psql restoring into it; a context manager that always drops it.

    ``write`` feeds the dump (a psql that stopped on an error is noted, not raised, so
    the caller can finish reading the dump for the earlier checks); ``abort`` stops psql
    without committing; ``finish`` commits and checks how psql ended.
    """

    def __init__(self, connection: ConnectionInfo):
        self.name = scratch_database_name(connection.dbname)
        self.connection = connection.with_dbname(self.name)
        self.created = False
        self._server = Server(connection, admin=connection)
        self._load = DumpLoad(self.connection)
        self._started = time.monotonic()

    def __enter__(self) -> ScratchRestore:
        try:
            self._create()
            self._load.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def stopped_early(self) -> bool:
        """Whether psql stopped (on an error) before the end of the dump."""
        return self._load.stopped_early

    def _create(self) -> None:
        try:
            self._server.drop_orphans()
        except BackupError as exc:
            log.warning(f"verify: looking for scratch databases of killed runs failed: {exc.msg}")
        log.debug(f"verify: creating the scratch database {self.name}")
        # Marked first: an interrupt while CREATE runs must still lead to a DROP.
        self.created = True
        try:
            self._server.create_marked(self.name)
        except BackupError as exc:
            # Not created: a matter of the server, never of the backup (exit 3, file kept).
            self.created = False
            raise DatabaseConnectionError(
                f"test restore: creating the scratch database {self.name} failed: "
                + exc.msg.split(" failed: ", 1)[-1],
                detail=exc.detail,
            ) from None

    def write(self, chunk: bytes | memoryview) -> None:
        """Send dump bytes to psql; once psql has stopped, later bytes are dropped."""
        self._load.write(chunk)

    def abort(self) -> None:
        """Stop psql before it reads the end of its input, so nothing is committed."""
        self._load.abort()

    def finish(self) -> None:
        """Commit; ``VerifyError`` if psql stopped on an error in the dump's SQL.

        psql exits with status 2 when its connection went bad (a terminated session,
        a server shut down or restarted): that is ``DatabaseConnectionError``, a
        verdict on the server and not on the backup.
        """
        try:
            self._load.commit()
        except psql.PsqlFailed as exc:
            if exc.connection_failed:
                raise DatabaseConnectionError(
                    f"test restore: the connection to the server was lost: {exc.first}",
                    detail=exc.detail,
                ) from None
            if privilege_problem(exc.first):
                # The server refused the role, not the dump: exit 3, the backup is kept.
                raise DatabaseConnectionError(
                    f"test restore: not possible as role {self.connection.user}: {exc.first}",
                    detail=exc.detail,
                    hint=hint_for(exc.first),
                ) from None
            raise VerifyError(
                f"test restore: psql stopped with status {exc.returncode}: {exc.first}",
                detail=exc.detail,
                hint="the dump does not restore as it is; restore it by hand into an empty "
                "database with psql -v ON_ERROR_STOP=1 to see the statement",
            ) from None

    def close(self) -> None:
        """Stop psql if it still runs and drop the scratch database (signals held meanwhile)."""
        with signals_held():
            self._load.close()
            if self.created:
                self._drop()

    def _drop(self) -> None:
        try:
            self._server.drop(self.name)
        except BackupError as exc:
            log.error(f"verify: the scratch database {self.name} could not be dropped: {exc.msg}")
            log.error(f'hint: drop it by hand: DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            return
        self.created = False
        log.debug(f"verify: dropped the scratch database {self.name}")

    def compare(self, scan: ScanResult) -> RestoreReport:
        """Rows per COPY target and the object sets, scratch database against the dump."""
        try:
            comparison = compare(self.connection, scan, self._load.copied_rows())
        except psql.PsqlTimeout as exc:
            raise DatabaseConnectionError(
                f"test restore: comparing got no answer within {exc.seconds:g} s"
            ) from None
        except psql.PsqlFailed as exc:
            error_class = DatabaseConnectionError if exc.connection_failed else VerifyError
            raise error_class(
                f"test restore: comparing failed: {exc.first}", detail=exc.detail
            ) from None
        if comparison.problems:
            raise VerifyError(
                f"test restore: {comparison.problems[0]}",
                detail="\n".join(comparison.problems[1:21]) or None,
                hint="the dump restored without an error but did not recreate what it "
                "holds; keep this file for inspection and check the next backup",
            )
        return RestoreReport(
            database=self.name,
            tables_compared=comparison.tables,
            rows_compared=comparison.rows,
            objects_compared=comparison.objects,
            seconds=time.monotonic() - self._started,
        )
