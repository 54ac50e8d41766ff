"""Test restores: a scratch database, psql fed the dump, and a comparison with what the dump says.

The scratch database gets a name nobody else uses (``{db}_verify_{pid}_{random}``,
at most 63 bytes), is created from ``template0`` and is always dropped with
``DROP DATABASE ... WITH (FORCE)``: on success, on failure and when the run is
interrupted (the CLI turns SIGINT/SIGTERM into an exception; the drop itself
runs with those signals held back, so a second Ctrl-C cannot leave it behind).

The restore is ``psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f -``:
the first SQL error stops it and nothing is committed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from typing import IO

from . import psql
from .connection import ConnectionInfo
from .dumpscan import ScanResult, display
from .errors import DatabaseConnectionError, VerifyError
from .pipeline import grow_pipe, stop_processes
from .psql import server_message
from .signals import signals_held

MAX_IDENTIFIER_BYTES = 63
QUERY_GRACE_SECONDS = 30
STDERR_TAIL_BYTES = 8192

log = logging.getLogger(__name__)

# A COPY target as pg_dump writes it: an optionally schema-qualified, possibly quoted name.
_IDENT = r'(?:"(?:[^"]|"")+"|[^\s".;(),]+)'
_QUALIFIED_NAME = re.compile(rf"^{_IDENT}(?:\.{_IDENT})?$")

# Objects a restore creates, outside system schemas and not owned by an extension.
_OBJECTS_SQL = r"""
SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                      WHEN 'm' THEN 'materialized view' ELSE 'sequence' END,
       n.nspname, c.relname
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       n.nspname, p.proname
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
"""

REQUIRED_PRIVILEGE = "CREATEDB"
_MAY_CREATE_SQL = (
    "SELECT rolsuper OR rolcreatedb FROM pg_catalog.pg_roles WHERE rolname = current_user"
)


@dataclass(frozen=True)
class RestoreReport:
    """What a test restore compared."""

    database: str
    tables_compared: int
    rows_compared: int
    objects_compared: int
    seconds: float


def quote_ident(name: str) -> str:
    """An SQL identifier, always quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """An SQL string literal (standard_conforming_strings is on since 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def scratch_database_name(dbname: str, pid: int | None = None, token: str | None = None) -> str:
    """``{db}_verify_{pid}_{random}``, the database part cut so the whole fits in 63 bytes."""
    suffix = f"_verify_{os.getpid() if pid is None else pid}_{token or secrets.token_hex(4)}"
    room = MAX_IDENTIFIER_BYTES - len(suffix.encode())
    head = dbname.encode("utf-8")[:room].decode("utf-8", "ignore")  # never half a character
    return head + suffix


class Psql:
    """Short queries on one database for the test restore, errors as ``VerifyError``."""

    def __init__(self, connection: ConnectionInfo, *, client_encoding: str = "UTF8"):
        self.connection = connection
        self.client_encoding = client_encoding

    def rows(self, sql: str, *, what: str, quick: bool = False) -> list[list[str]]:
        """Run ``sql`` and return its rows; ``VerifyError`` naming ``what``.

        ``quick`` queries (privileges) get a timeout; counting the rows of a big table,
        or a CREATE DATABASE waiting for the checkpoint it forces before PostgreSQL 15,
        may rightly take long, so the others have none.
        """
        timeout = self.connection.connect_timeout + QUERY_GRACE_SECONDS if quick else None
        try:
            return psql.query(
                self.connection, sql, timeout=timeout, client_encoding=self.client_encoding
            )
        except psql.PsqlTimeout as exc:
            raise VerifyError(
                f"test restore: {what} got no answer within {exc.seconds:g} s",
                detail=f"database {self.connection.dbname}",
            ) from None
        except psql.PsqlFailed as exc:
            error_class = DatabaseConnectionError if exc.connection_failed else VerifyError
            raise error_class(
                f"test restore: {what} failed: {exc.first}", detail=exc.detail
            ) from None


def may_create_databases(connection: ConnectionInfo) -> bool:
    """Whether the connecting role is a superuser or has CREATEDB (needed for a scratch db)."""
    rows = Psql(connection).rows(_MAY_CREATE_SQL, what="reading the role's privileges", quick=True)
    return bool(rows) and rows[0][0].strip() == "t"


class ScratchRestore:
    """A scratch database with psql restoring into it; a context manager that always drops it.

    ``write`` feeds the dump (a psql that stopped on an error is noted, not raised, so
    the caller can finish reading the dump for the earlier checks); ``abort`` stops psql
    without committing; ``finish`` closes its input and checks how it ended.
    """

    def __init__(self, connection: ConnectionInfo, *, client_encoding: str = "UTF8"):
        self.admin = connection
        self.name = scratch_database_name(connection.dbname)
        self.connection = connection.with_dbname(self.name)
        self.client_encoding = client_encoding
        self.created = False
        self.stopped_early = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._started = time.monotonic()

    def __enter__(self) -> ScratchRestore:
        try:
            self._create()
            self._start_psql()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- lifecycle -----------------------------------------------------------------------

    def _create(self) -> None:
        sql = f"CREATE DATABASE {quote_ident(self.name)} TEMPLATE template0"
        log.debug(f"verify: {sql}")
        # Marked first: an interrupt while CREATE runs must still lead to a DROP.
        self.created = True
        try:
            Psql(self.admin).rows(sql, what=f"creating the scratch database {self.name}")
        except (VerifyError, DatabaseConnectionError):
            self.created = False  # psql answered: the database was not created
            raise

    def _start_psql(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._proc = psql.restore_process(self.connection, self._stderr)
        if self._proc.stdin is not None:
            grow_pipe(self._proc.stdin.fileno())

    def write(self, chunk: bytes | memoryview) -> None:
        """Send dump bytes to psql; once psql has stopped, later bytes are dropped."""
        if self.stopped_early or self._proc is None or self._proc.stdin is None:
            return
        view = memoryview(chunk)
        try:
            while view:
                written = self._proc.stdin.write(view)
                view = view[written or 0 :]
        except BrokenPipeError:
            self.stopped_early = True

    def abort(self) -> None:
        """Stop psql before it reads the end of its input, so nothing is committed."""
        proc = self._proc
        if proc is None:
            return
        stop_processes([proc])
        self._close_stdin()

    def finish(self) -> None:
        """Close psql's input (psql commits) and raise ``VerifyError`` if the restore failed."""
        proc = self._proc
        assert proc is not None
        self._close_stdin()
        returncode = proc.wait()
        if returncode != 0:
            first, detail = self._psql_error()
            raise VerifyError(
                f"test restore: psql stopped with status {returncode}: {first}",
                detail=detail,
                hint="the dump does not restore as it is; restore it by hand into an empty "
                "database with psql -v ON_ERROR_STOP=1 to see the statement",
            )

    def close(self) -> None:
        """Stop psql if it still runs and drop the scratch database (signals held meanwhile)."""
        with signals_held():
            if self._proc is not None and self._proc.returncode is None:
                self.abort()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
            if self.created:
                self._drop()

    def _drop(self) -> None:
        sql = f"DROP DATABASE IF EXISTS {quote_ident(self.name)} WITH (FORCE)"
        try:
            Psql(self.admin).rows(sql, what=f"dropping the scratch database {self.name}")
        except (VerifyError, DatabaseConnectionError) as exc:
            log.error(
                f"verify: the scratch database {self.name} could not be dropped: {exc.msg}",
            )
            log.error(f"hint: drop it by hand: {sql}")
            return
        self.created = False
        log.debug(f"verify: dropped the scratch database {self.name}")

    def _close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def _psql_error(self) -> tuple[str, str | None]:
        if self._stderr is None:
            return "no message", None
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - STDERR_TAIL_BYTES))
        text = self._stderr.read().decode("utf-8", "replace")
        lines = [line for line in text.splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR:" in line or "FATAL:" in line]
        if errors:
            first = errors[0]
            first = first.split("ERROR:", 1)[-1] if "ERROR:" in first else first
            return first.strip(), "\n".join(lines[-10:])
        first, rest = server_message(text)
        return first, rest

    # -- comparison ------------------------------------------------------------------------

    def compare(self, scan: ScanResult) -> RestoreReport:
        """Rows per COPY target and the object sets, scratch database against the dump."""
        psql = Psql(self.connection, client_encoding=scan.client_encoding or "UTF8")
        row_problems, tables = self._compare_rows(psql, scan)
        object_problems, objects = self._compare_objects(psql, scan)
        problems = row_problems + object_problems
        if problems:
            raise VerifyError(
                f"test restore: {problems[0]}",
                detail="\n".join(problems[1:21]) or None,
                hint="the dump restored without an error but did not recreate what it "
                "holds; keep this file for inspection and check the next backup",
            )
        return RestoreReport(
            database=self.name,
            tables_compared=tables,
            rows_compared=scan.total_rows,
            objects_compared=objects,
            seconds=time.monotonic() - self._started,
        )

    def _compare_rows(self, psql: Psql, scan: ScanResult) -> tuple[list[str], int]:
        targets = sorted(scan.rows)
        if not targets:
            return [], 0
        bad = [t for t in targets if not _QUALIFIED_NAME.match(t)]
        if bad:
            return [f"COPY target {display(bad[0])} is not a table name"], 0
        values = ", ".join(f"({quote_literal(t)})" for t in targets)
        kinds_sql = (
            "SELECT t.target, coalesce(c.relkind::text, '') "
            f"FROM (VALUES {values}) AS t(target) "
            "LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(t.target)"
        )
        kinds = dict(
            (row[0], row[1]) for row in psql.rows(kinds_sql, what="looking up restored tables")
        )
        problems = [
            f"table {display(t)} is missing after the restore" for t in targets if not kinds.get(t)
        ]
        present = [t for t in targets if kinds.get(t)]
        if present:
            # A partitioned table counts its partitions (COPY into the root loads them);
            # any other table counts only its own rows, not those of inheriting children.
            parts = [
                f"SELECT {i}, count(*) FROM {'' if kinds[t] == 'p' else 'ONLY '}{t}"
                for i, t in enumerate(present)
            ]
            counted = psql.rows("\nUNION ALL\n".join(parts), what="counting restored rows")
            for index, count in ((int(r[0]), int(r[1])) for r in counted):
                target = present[index]
                expected = scan.rows[target]
                if count != expected:
                    problems.append(
                        f"table {display(target)} has {count} rows after the restore, "
                        f"the dump's COPY data holds {expected}"
                    )
        return problems, len(present)

    def _compare_objects(self, psql: Psql, scan: ScanResult) -> tuple[list[str], int]:
        found: Counter[tuple[str, str, str]] = Counter()
        for row in psql.rows(_OBJECTS_SQL, what="listing restored objects"):
            kind, schema, name = row[0], row[1], row[2]
            found[(kind, schema, name.replace("\n", " ").replace("\r", " "))] += 1
        expected = scan.objects
        problems = []
        for key in sorted(expected - found):
            kind, schema, name = key
            problems.append(
                f"{kind} {display(schema)}.{display(name)} is missing after the restore"
            )
        for key in sorted(found - expected):
            kind, schema, name = key
            problems.append(
                f"{kind} {display(schema)}.{display(name)} exists after the restore "
                "but not in the dump"
            )
        return problems, sum(expected.values())
