"""A real PostgreSQL server for the tests, and the psql helpers that talk to it.

Where the server comes from, first match wins:

1. ``BACKUP_TEST_POSTGRES_URL`` (``postgresql://user:password@host:port/dbname``) names an
   existing server; the user must be allowed to create databases and roles.
2. A Docker engine answers: a ``postgres:<major>`` container through testcontainers, with
   ``<major>`` equal to the local ``pg_dump`` major (so the client can dump the server).
3. Local server binaries (``initdb``, ``pg_ctl``): a throwaway cluster on 127.0.0.1 with
   scram-sha-256 password authentication, removed when the session ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote, urlsplit

from ._net import ServiceUnavailable, clean_environ, loopback, use_docker
from .datasets import DATASETS, Dataset, LoadStep
from .local_cluster import local_cluster

URL_VARIABLE = "BACKUP_TEST_POSTGRES_URL"
SUPERUSER = "postgres"
HOW_TO_GET_ONE = (
    "no PostgreSQL for the tests: install the server binaries (apt-get install postgresql), "
    f"start Docker, or set {URL_VARIABLE}=postgresql://user:password@host:port/postgres"
)
FIELD_SEPARATOR = "\x1f"


class PsqlError(RuntimeError):
    """psql exited non-zero; the message holds the database and psql's last stderr lines."""


class TableFingerprint(NamedTuple):
    """Row count and md5 over a table's rows in a stable order."""

    rows: int
    md5: str


def quote_ident(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def server_bindir_candidates() -> list[Path]:
    """Directories that may hold PostgreSQL programs, most preferred first."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    for program in ("initdb", "psql"):
        found = shutil.which(program)
        if found:
            candidates.append(Path(found).resolve().parent)
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates.extend(sorted(versioned, key=lambda p: _major_of_dir(p), reverse=True))
    return candidates


def _major_of_dir(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


def find_bindir(*programs: str) -> Path | None:
    """Return the first candidate directory holding every one of ``programs``."""
    for candidate in server_bindir_candidates():
        if all(os.access(candidate / program, os.X_OK) for program in programs):
            return candidate
    return None


def client_major() -> int | None:
    """Major version of the ``pg_dump`` on PATH (the one the backup tool runs)."""
    pg_dump = shutil.which("pg_dump")
    if not pg_dump:
        return None
    result = subprocess.run([pg_dump, "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"(\d+)", result.stdout)
    return int(match.group(1)) if match else None


@dataclass
class PostgresServer:
    """Connection facts of a running server plus the psql helpers the tests use."""

    host: str
    port: int
    superuser: str
    password: str
    bindir: Path | None = None
    kind: str = "external"
    _templates: set[str] = field(default_factory=set, repr=False)
    # keeps template names apart when several sessions share one external server
    _session: str = field(default_factory=lambda: secrets.token_hex(3), repr=False)

    def __repr__(self) -> str:
        return (
            f"PostgresServer(kind={self.kind!r}, host={self.host!r}, port={self.port}, "
            f"superuser={self.superuser!r})"
        )

    @property
    def admin_dsn(self) -> str:
        """A libpq URL for the superuser and the ``postgres`` database."""
        return (
            f"postgresql://{quote(self.superuser, safe='')}:{quote(self.password, safe='')}"
            f"@{self.host}:{self.port}/postgres"
        )

    def env(
        self, dbname: str, user: str | None = None, password: str | None = None
    ) -> dict[str, str]:
        """Variables that point the backup tool at ``dbname`` on this server."""
        return {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": dbname,
            "POSTGRES_USER": user or self.superuser,
            "PGPASSWORD": self.password if password is None else password,
        }

    def program(self, name: str) -> str:
        """Absolute path of a client program, preferring this server's bindir."""
        if self.bindir and os.access(self.bindir / name, os.X_OK):
            return str(self.bindir / name)
        found = shutil.which(name)
        if not found:
            raise ServiceUnavailable(f"{name} not found: install the PostgreSQL client")
        return found

    def psql_command(self, dbname: str, user: str | None = None, separator: str = "|") -> list[str]:
        """The psql argv for ``dbname`` (no password: that travels in the environment)."""
        return [
            self.program("psql"),
            "-v",
            "ON_ERROR_STOP=1",
            "-X",
            "-q",
            "-At",
            "-F",
            separator,
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            user or self.superuser,
            "-d",
            dbname,
        ]

    def psql_env(self, password: str | None = None) -> dict[str, str]:
        """Environment for a psql child: PGPASSWORD set, other PG* variables removed."""
        environ = clean_environ()
        environ["PGPASSWORD"] = self.password if password is None else password
        environ["PGCONNECT_TIMEOUT"] = "10"
        return environ

    def psql(
        self,
        sql: str,
        dbname: str = "postgres",
        *,
        user: str | None = None,
        password: str | None = None,
        separator: str = "|",
    ) -> str:
        """Run ``sql`` (any number of statements and psql meta-commands); return stdout.

        Output is unaligned tuples only (``-At``), fields joined by ``separator``.
        """
        result = subprocess.run(
            self.psql_command(dbname, user, separator),
            input=sql,
            env=self.psql_env(password),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise PsqlError(_psql_failure(dbname, result.returncode, result.stderr))
        return result.stdout.strip("\n")

    def rows(self, sql: str, dbname: str = "postgres") -> list[list[str]]:
        """Run one query; return its rows as lists of text fields."""
        output = self.psql(sql, dbname, separator=FIELD_SEPARATOR)
        return [line.split(FIELD_SEPARATOR) for line in output.splitlines() if line]

    def database_exists(self, name: str) -> bool:
        """Tell whether database ``name`` exists."""
        sql = f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(name)}"
        return self.psql(sql) == "1"

    def create_database(
        self, name: str, *, owner: str | None = None, template: str | None = None
    ) -> None:
        """Create database ``name`` (optionally owned by ``owner``, copied from ``template``)."""
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if owner:
            sql += f" OWNER {quote_ident(owner)}"
        if template:
            sql += f" TEMPLATE {quote_ident(template)}"
        self.psql(sql)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, ending its sessions."""
        self.psql(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    def create_role(
        self, name: str, password: str, *, superuser: bool = False, createdb: bool = False
    ) -> None:
        """Create (or reset) a login role with a scram-hashed password."""
        options = "LOGIN"
        options += " SUPERUSER" if superuser else " NOSUPERUSER"
        options += " CREATEDB" if createdb else " NOCREATEDB"
        ident = quote_ident(name)
        self.psql(
            "SET password_encryption = 'scram-sha-256';\n"
            f"SELECT {quote_literal('CREATE ROLE ' + ident)} "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {quote_literal(name)})"
            " \\gexec\n"
            f"ALTER ROLE {ident} {options} PASSWORD {quote_literal(password)};\n"
        )

    def load_dataset(self, dbname: str, name: str, *, owner: str | None = None) -> None:
        """Create database ``dbname`` (replacing it) holding sample dataset ``name``.

        Each dataset is loaded once per session into a template database; later calls copy
        the template, which takes a fraction of a second even for Pagila.
        """
        dataset = DATASETS.get(name)
        if dataset is None:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
        template = self._template_for(dataset)
        self.drop_database(dbname)
        self.create_database(dbname, owner=owner, template=template)

    def _template_for(self, dataset: Dataset) -> str:
        template = f"dataset_{dataset.name}_{self._session}"
        if template in self._templates:
            return template
        dataset.require_files()
        self.drop_database(template)
        self.create_database(template)
        try:
            if dataset.needs_postgres_role:
                self.ensure_nologin_role("postgres")
            for step in dataset.steps:
                self._run_load_step(template, step)
        except BaseException:
            self.drop_database(template)
            raise
        self._templates.add(template)
        return template

    def drop_dataset_templates(self) -> None:
        """Drop the per-session dataset templates (matters on a server that outlives us)."""
        for template in sorted(self._templates):
            self.drop_database(template)
        self._templates.clear()

    def ensure_nologin_role(self, name: str) -> None:
        """Create a NOLOGIN role unless it exists (sample dumps assign owners to it)."""
        self.psql(
            f"SELECT {quote_literal('CREATE ROLE ' + quote_ident(name) + ' NOLOGIN')} "
            f"WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {quote_literal(name)})"
            " \\gexec"
        )

    def _run_load_step(self, dbname: str, step: LoadStep) -> None:
        """Run a built-in script, or stream one SQL file (through its filter) into psql."""
        if step.builtin_sql is not None:
            self.psql(step.builtin_sql, dbname)
        else:
            self.run_sql_stream(dbname, step.source_command())

    def run_sql_stream(self, dbname: str, producer: Sequence[str]) -> None:
        """Run ``producer`` and pipe its stdout into psql; no byte passes through Python."""
        with tempfile.TemporaryFile() as psql_err, tempfile.TemporaryFile() as producer_err:
            source = subprocess.Popen(list(producer), stdout=subprocess.PIPE, stderr=producer_err)
            try:
                sink = subprocess.Popen(
                    self.psql_command(dbname),
                    stdin=source.stdout,
                    stdout=subprocess.DEVNULL,
                    stderr=psql_err,
                    env=self.psql_env(),
                )
            finally:
                assert source.stdout is not None
                source.stdout.close()
            sink_code = sink.wait(timeout=900)
            source_code = source.wait(timeout=60)
            if sink_code != 0:
                psql_err.seek(0)
                stderr = psql_err.read().decode(errors="replace")
                raise PsqlError(_psql_failure(dbname, sink_code, stderr))
            if source_code != 0:
                producer_err.seek(0)
                stderr = producer_err.read().decode(errors="replace")
                raise PsqlError(f"{producer[0]} exited {source_code}: {stderr.strip()}")

    def table_fingerprints(self, dbname: str) -> dict[str, TableFingerprint]:
        """Row count and md5 of every ordinary table and partition, keyed ``schema.table``.

        Rows are ordered by their text form, so two databases with the same content give the
        same md5 whatever their physical order.
        """
        sql = (
            "SELECT format("
            "'SELECT %L, count(*), coalesce(md5(string_agg(t::text, E''\\n'' "
            "ORDER BY t::text)), '''') FROM %I.%I AS t', "
            "n.nspname || '.' || c.relname, n.nspname, c.relname) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' "
            "ORDER BY 1 \\gexec"
        )
        return {
            name: TableFingerprint(int(rows), md5) for name, rows, md5 in self.rows(sql, dbname)
        }

    def sequence_states(self, dbname: str) -> dict[str, tuple[int, bool]]:
        """``last_value`` and ``is_called`` of every sequence, keyed ``schema.sequence``."""
        sql = (
            "SELECT format('SELECT %L, last_value, is_called FROM %I.%I', "
            "n.nspname || '.' || c.relname, n.nspname, c.relname) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' ORDER BY 1 \\gexec"
        )
        return {name: (int(value), called == "t") for name, value, called in self.rows(sql, dbname)}

    def server_major(self) -> int:
        """Major version of the server."""
        return int(self.psql("SHOW server_version_num")) // 10000


def _psql_failure(dbname: str, code: int, stderr: str) -> str:
    tail = "\n".join(stderr.strip().splitlines()[-5:])
    return f"psql on database {dbname!r} exited {code}: {tail}"


# --- where the server comes from ---------------------------------------------------------


def server_from_url(url: str) -> PostgresServer:
    """Describe the existing server named by a ``postgresql://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"} or not parts.hostname:
        raise ServiceUnavailable(f"{URL_VARIABLE} must look like postgresql://user:pw@host:port/db")
    return PostgresServer(
        host=parts.hostname,
        port=parts.port or 5432,
        superuser=unquote(parts.username or SUPERUSER),
        password=unquote(parts.password or ""),
        bindir=find_bindir("psql"),
        kind="external",
    )


@contextlib.contextmanager
def postgres_container(major: int) -> Iterator[PostgresServer]:
    """Run ``postgres:<major>`` through testcontainers for the duration of the block."""
    from testcontainers.community.postgres import PostgresContainer

    password = secrets.token_hex(12)
    container = PostgresContainer(
        image=f"postgres:{major}",
        username=SUPERUSER,
        password=password,
        dbname="postgres",
        driver=None,
    )
    container.start()
    try:
        yield PostgresServer(
            host=loopback(container.get_container_host_ip()),
            port=int(container.get_exposed_port(5432)),
            superuser=SUPERUSER,
            password=password,
            bindir=find_bindir("psql"),
            kind="docker",
        )
    finally:
        container.stop()


@contextlib.contextmanager
def postgres_service() -> Iterator[PostgresServer]:
    """Yield a running PostgreSQL from the first source that is available.

    Raises ServiceUnavailable with one line on how to get a server when none is.
    """
    url = os.environ.get(URL_VARIABLE, "").strip()
    if url:
        server = server_from_url(url)
        try:
            yield server
        finally:
            server.drop_dataset_templates()
        return
    if use_docker():
        major = client_major()
        if major is None:
            raise ServiceUnavailable("pg_dump not found: install the PostgreSQL client programs")
        with postgres_container(major) as server:
            yield server
        return
    bindir = find_bindir("initdb", "pg_ctl", "psql")
    if bindir is None:
        raise ServiceUnavailable(HOW_TO_GET_ONE)
    with local_cluster(bindir) as address:
        yield PostgresServer(*address, bindir=bindir, kind="local")
