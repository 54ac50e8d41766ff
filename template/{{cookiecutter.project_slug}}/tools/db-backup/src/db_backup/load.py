"""psql loading a dump into one database, committed only when the caller says so, then compared.

``DumpLoad`` starts psql on the database and opens a transaction itself
(``BEGIN``) before the dump's first byte. The dump streams in through
``write``; ``commit`` appends ``COMMIT`` and waits; ``abort`` stops psql
first. So a load that is cut off for any reason (a failed check, an
interrupt, the tool killed with SIGKILL: psql then reads the end of its input
with the transaction still open) commits nothing: the server rolls it back.

``compare`` then checks what landed against what the dump's own COPY blocks and
headers promise: rows per table, and the tables, views, sequences and routines.
The rows are those the server reported for each COPY (psql's ``COPY n`` tags,
in the order of the dump's COPY blocks), so proving them costs no second read
of the tables; only where the tags and the blocks cannot be paired one to one
are the tables counted. Both report plain facts (``psql.PsqlFailed``, a list of
problems); the caller decides which exit code they mean (a test restore's 5, a
restore's 8).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from . import psql
from .children import child_options
from .connection import ConnectionInfo
from .databases import quote_literal
from .dumpscan import ScanResult, display
from .pipeline import grow_pipe, stop_processes

STDERR_TAIL_BYTES = 8192
BEGIN = b"BEGIN;\n"
COMMIT = b"\nCOMMIT;\n"

# A COPY target as pg_dump writes it: an optionally schema-qualified, possibly quoted name.
_IDENT = r'(?:"(?:[^"]|"")+"|[^\s".;(),]+)'
_QUALIFIED_NAME = re.compile(rf"^{_IDENT}(?:\.{_IDENT})?$")
# The tag psql prints when a COPY has finished: how many rows the server took.
_COPY_TAG = re.compile(rb"^COPY (\d+)$")

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


@dataclass(frozen=True)
class Comparison:
    """What the loaded database was compared with, and what did not match."""

    tables: int
    rows: int
    objects: int
    problems: tuple[str, ...]

    @property
    def matched(self) -> str:
        """``N rows in M tables and K objects`` (or just the objects)."""
        objects = f"{self.objects} objects"
        if not self.tables:
            return objects
        return f"{self.rows} rows in {self.tables} tables and {objects}"


class DumpLoad:
    """psql restoring into ``connection``'s database inside a transaction this object ends."""

    def __init__(self, connection: ConnectionInfo) -> None:
        self.connection = connection
        self.stopped_early = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._stdout: IO[bytes] | None = None  # command tags, one short line per statement

    def start(self) -> None:
        """Start psql and open the transaction."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._stdout = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            psql.psql_command("-f", "-", quiet=False),
            stdin=subprocess.PIPE,
            stdout=self._stdout,
            stderr=self._stderr,
            env=self.connection.child_env(),
            bufsize=0,
            **child_options(),
        )
        if self._proc.stdin is not None:
            grow_pipe(self._proc.stdin.fileno())
        self.write(BEGIN)

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

    def commit(self) -> None:
        """End the transaction with ``COMMIT``; ``psql.PsqlFailed`` if psql stopped on an error."""
        self.write(COMMIT)
        proc = self._proc
        assert proc is not None
        self._close_stdin()
        returncode = proc.wait()
        if returncode != 0:
            first, detail = self._error()
            raise psql.PsqlFailed(returncode, first, detail)

    def abort(self) -> None:
        """Stop psql without committing (the server rolls the transaction back)."""
        if self._proc is not None:
            stop_processes([self._proc])
        self._close_stdin()

    def copied_rows(self) -> list[int]:
        """After ``commit``: the rows the server took for each COPY, in the dump's order."""
        if self._stdout is None:
            return []
        self._stdout.seek(0)
        return [int(m.group(1)) for line in self._stdout if (m := _COPY_TAG.match(line))]

    def close(self) -> None:
        """Abort if still running; release the output buffers."""
        if self._proc is not None and self._proc.returncode is None:
            self.abort()
        for buffer in (self._stderr, self._stdout):
            if buffer is not None:
                buffer.close()
        self._stderr = self._stdout = None

    def _close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()

    def _error(self) -> tuple[str, str | None]:
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
        return psql.server_message(text)


def compare(
    connection: ConnectionInfo, scan: ScanResult, copied: Sequence[int] | None = None
) -> Comparison:
    """Rows per COPY target and the object sets of ``connection``'s database against the dump.

    ``copied``: the rows the server reported for each COPY (``DumpLoad.copied_rows``).
    When they pair one to one with the dump's COPY blocks they are the row counts
    (a table missing after the restore is then found by the object comparison);
    otherwise every table is counted. Queries that fail raise
    ``psql.PsqlFailed``/``PsqlTimeout`` for the caller to name.
    """
    encoding = scan.client_encoding or "UTF8"
    if copied is not None and len(copied) == len(scan.copies):
        row_problems, tables = _compare_copied(scan, copied)
    else:
        row_problems, tables = _count_rows(connection, encoding, scan)
    object_problems, objects = _compare_objects(connection, encoding, scan)
    return Comparison(tables, scan.total_rows, objects, tuple(row_problems + object_problems))


def _compare_copied(scan: ScanResult, copied: Sequence[int]) -> tuple[list[str], int]:
    loaded: Counter[str] = Counter()
    for (target, _), rows in zip(scan.copies, copied, strict=True):
        loaded[target] += rows
    problems = [
        _rows_problem(target, loaded[target], expected)
        for target, expected in sorted(scan.rows.items())
        if loaded[target] != expected
    ]
    return problems, len(scan.rows)


def _rows_problem(target: str, found: int, expected: int) -> str:
    return (
        f"table {display(target)} has {found} rows after the restore, "
        f"the dump's COPY data holds {expected}"
    )


def _count_rows(
    connection: ConnectionInfo, encoding: str, scan: ScanResult
) -> tuple[list[str], int]:
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
    kinds = {row[0]: row[1] for row in psql.query(connection, kinds_sql, client_encoding=encoding)}
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
        counted = psql.query(connection, "\nUNION ALL\n".join(parts), client_encoding=encoding)
        for index, count in ((int(r[0]), int(r[1])) for r in counted):
            target = present[index]
            expected = scan.rows[target]
            if count != expected:
                problems.append(_rows_problem(target, count, expected))
    return problems, len(present)


def _compare_objects(
    connection: ConnectionInfo, encoding: str, scan: ScanResult
) -> tuple[list[str], int]:
    found: Counter[tuple[str, str, str]] = Counter()
    for row in psql.query(connection, _OBJECTS_SQL, client_encoding=encoding):
        kind, schema, name = row[0], row[1], row[2]
        found[(kind, schema, name.replace("\n", " ").replace("\r", " "))] += 1
    expected = scan.objects
    problems = []
    for kind, schema, name in sorted(expected - found):
        problems.append(f"{kind} {display(schema)}.{display(name)} is missing after the restore")
    for kind, schema, name in sorted(found - expected):
        problems.append(
            f"{kind} {display(schema)}.{display(name)} exists after the restore but not in the dump"
        )
    return problems, sum(expected.values())
