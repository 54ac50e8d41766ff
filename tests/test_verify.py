"""Verification proves a backup restores: ``--verify`` and ``--verify-file`` of a baked project.

Every run goes through ``scripts/db-backup.sh`` against the session's real PostgreSQL. Good
backups pass all four checks (checksum, decompression, completeness, test restore); each
kind of damage is caught by the check meant for it, with exit status 5; and the scratch
database of the test restore never outlives the run, not even an interrupted one.
"""

from __future__ import annotations

import gzip
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup_support import (
    backups_in,
    error_lines,
    fake_backup,
    snapshot,
    write_with_checksum,
)
from tests.helpers import describe, run_tool, start_tool, tool_environ
from tests.services.postgres import PostgresServer, quote_literal

pytestmark = pytest.mark.integration

VERIFY_FAILED = 5
INTERRUPTED = 1


# -- helpers -------------------------------------------------------------------------------


def scratch_pattern(dbname: str) -> str:
    """A quoted LIKE pattern matching the names of ``dbname``'s scratch databases."""
    return quote_literal(dbname.replace("_", "\\_") + "\\_verify\\_%")


def scratch_databases(postgres: PostgresServer, dbname: str) -> list[str]:
    """Databases whose names mark them as test restores of ``dbname``."""
    pattern = scratch_pattern(dbname)
    return [
        row[0]
        for row in postgres.rows(f"SELECT datname FROM pg_database WHERE datname LIKE {pattern}")
    ]


def make_backup(project: Path, env: dict[str, str], backup_dir: Path) -> Path:
    """One good backup made by the tool itself."""
    result = run_tool(project, [], {**env, "BACKUP_DIR": str(backup_dir)})
    assert result.returncode == 0, describe(result)
    (name,) = backups_in(backup_dir)
    return backup_dir / name


def sql_of(backup: Path) -> bytes:
    """The SQL inside a (small, gzip) backup."""
    return gzip.decompress(backup.read_bytes())


def error_messages(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The messages of the run's ``[ERROR]`` lines."""
    return [line.split("] [ERROR] ", 1)[1] for line in error_lines(result.stderr)]


def failed_check(result: subprocess.CompletedProcess[str], check: str) -> str:
    """The error message naming ``check`` (empty when there is none)."""
    return next((m for m in error_messages(result) if m.startswith(check)), "")


# -- good backups ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset",
    [pytest.param("pagila", marks=pytest.mark.slow), "chinook", "northwind"],
)
def test_a_good_backup_passes_every_check_including_a_test_restore(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
    dataset: str,
) -> None:
    """``--verify`` restores the new backup into a scratch database, compares, and drops it."""
    dbname = database(dataset)
    env = {**postgres.env(dbname), "BACKUP_DIR": str(tmp_path / "backups")}

    result = run_tool(baked_project, ["--verify"], env)

    assert result.returncode == 0, describe(result)
    assert "Backup verification passed" in result.stdout
    assert "restores:" in result.stdout, "the test restore must have run"
    assert "verify: test restore into the scratch database" in result.stdout
    assert scratch_databases(postgres, dbname) == []
    (name,) = backups_in(tmp_path / "backups")
    assert not name.endswith(".failed")


def test_an_existing_backup_verifies_with_the_same_checks(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """``--verify-file`` runs checksum, decompression, completeness and the test restore."""
    dbname = database("small")
    env = postgres.env(dbname)
    backup = make_backup(baked_project, env, tmp_path / "backups")

    result = run_tool(baked_project, ["--verify-file", str(backup)], env)

    assert result.returncode == 0, describe(result)
    assert "checksum ok" in result.stdout
    assert "complete dump" in result.stdout
    assert "8 rows in 3 tables" in result.stdout
    assert scratch_databases(postgres, dbname) == []


def test_a_schema_only_backup_is_test_restored_too(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """Without COPY data the objects are still compared after the restore."""
    dbname = database("small")
    env = {**postgres.env(dbname), "BACKUP_DIR": str(tmp_path / "backups")}

    result = run_tool(baked_project, ["--schema-only", "--verify"], env)

    assert result.returncode == 0, describe(result)
    assert "restores:" in result.stdout
    assert "rows in" not in result.stdout
    assert scratch_databases(postgres, dbname) == []


AWKWARD_SQL = r"""
CREATE SCHEMA "Sales Dept";
CREATE TABLE "Sales Dept"."Order ""Lines"" ü" (id serial PRIMARY KEY, note text);
INSERT INTO "Sales Dept"."Order ""Lines"" ü" (note)
SELECT E'tab\there, newline\nthere, backslash \\ ' || g FROM generate_series(1, 300) AS g;
INSERT INTO "Sales Dept"."Order ""Lines"" ü" (note)
VALUES (NULL), ('\.'), ('-- PostgreSQL database dump complete');
CREATE TABLE parent (id int, v text);
CREATE TABLE child (extra int) INHERITS (parent);
INSERT INTO parent VALUES (1, 'a'), (2, 'b');
INSERT INTO child VALUES (3, 'c', 1);
CREATE TABLE part (id int, d date) PARTITION BY RANGE (d);
CREATE TABLE part_2024 PARTITION OF part FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE part_2025 PARTITION OF part FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO part SELECT g, date '2024-06-01' + g FROM generate_series(1, 400) AS g;
CREATE FUNCTION twice(a int) RETURNS int LANGUAGE sql AS 'SELECT 2 * a';
CREATE FUNCTION twice(a text) RETURNS text LANGUAGE sql AS 'SELECT a || a';
CREATE PROCEDURE noop() LANGUAGE sql AS 'SELECT 1';
CREATE VIEW "Sales Dept".one AS SELECT 1 AS one;
CREATE MATERIALIZED VIEW part_count AS SELECT count(*) FROM part;
CREATE TABLE with_identity (id int GENERATED ALWAYS AS IDENTITY, x bytea);
INSERT INTO with_identity (x) VALUES ('\x00ff');
CREATE UNLOGGED TABLE scratchpad (id int);
INSERT INTO scratchpad VALUES (1);
"""


@pytest.mark.parametrize("restorer", ["superuser", "createdb-role"])
def test_awkward_but_valid_databases_verify_without_false_alarms(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
    restorer: str,
) -> None:
    """Quoted and non-ASCII names, inheritance, partitions, overloads, extensions all pass.

    The comparison must not mistake any of them for damage, neither for a superuser nor for
    an ordinary role that only has CREATEDB.
    """
    dbname = database("small")
    postgres.psql(AWKWARD_SQL, dbname)
    if postgres.psql("SELECT count(*) FROM pg_available_extensions WHERE name = 'pgcrypto'") == "1":
        postgres.psql("CREATE EXTENSION pgcrypto", dbname)
    # An ordinary role cannot give objects back to their owner (the superuser here): its
    # backups leave owners and grants out.
    ownership = {"BACKUP_OWNERSHIP": "drop" if restorer == "createdb-role" else "keep"}
    backup = make_backup(baked_project, {**postgres.env(dbname), **ownership}, tmp_path / "backups")
    env = postgres.env(dbname)
    if restorer == "createdb-role":
        postgres.create_role("verify_createdb", "pw-createdb", createdb=True)
        env = postgres.env(dbname, user="verify_createdb", password="pw-createdb")
    env.update(ownership, BACKUP_VERIFY_RESTORE="always")

    result = run_tool(baked_project, ["--verify-file", str(backup)], env)

    assert result.returncode == 0, describe(result)
    assert "716 rows in 10 tables" in result.stdout, describe(result)
    assert scratch_databases(postgres, dbname) == []


# -- damage, and the check that catches it ------------------------------------------------------


def flip_one_byte(backup: Path, target: Path) -> Path:
    """One byte changed after the .sha256 was written (bit rot, a bad copy)."""
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    shutil.copy(
        backup.with_name(backup.name + ".sha256"), target.with_name(target.name + ".sha256")
    )
    return target


def truncate_the_dump(backup: Path, target: Path) -> Path:
    """A dump cut inside its COPY data, compressed and checksummed as if it were whole."""
    sql = sql_of(backup)
    copy_line_end = sql.index(b"\n", sql.index(b"\nCOPY ") + 1)
    cut = copy_line_end + 3  # inside the first row
    return write_with_checksum(target, gzip.compress(sql[:cut]))


def cut_the_gzip_stream(backup: Path, target: Path) -> Path:
    """The compressed file itself cut short (a full disk, an interrupted transfer)."""
    data = backup.read_bytes()
    return write_with_checksum(target, data[: len(data) * 2 // 3])


def add_an_sql_error(backup: Path, target: Path) -> Path:
    """A statement that fails, ahead of the first COPY block."""
    sql = sql_of(backup)
    at = sql.index(b"\nCOPY ") + 1
    return write_with_checksum(target, gzip.compress(sql[:at] + b"SELECT 1 / 0;\n" + sql[at:]))


def lose_rows_in_a_copy_block(backup: Path, target: Path) -> Path:
    """A COPY block that restores fewer rows than it holds, trailer and all intact.

    A line ending in a backslash makes COPY read it and the next line as one row, so
    psql succeeds while a row is gone: only the row count can tell.
    """
    sql = sql_of(backup)
    damaged = sql.replace(b"\nfirst note\n", b"\nfirst note\\\n", 1)
    assert damaged != sql
    return write_with_checksum(target, gzip.compress(damaged))


def hide_a_copy_block_from_the_scanner(backup: Path, target: Path) -> Path:
    """A COPY block without pg_dump's ``Data for Name`` header above it, so not counted.

    psql's COPY tags no longer pair with the counted blocks: the tables are counted
    instead, and the extra row is found.
    """
    sql = sql_of(backup)
    at = sql.index(b"\n--\n-- PostgreSQL database dump complete")
    extra = b"\nCOPY public.notes (body) FROM stdin;\nfourth note\n\\.\n"
    return write_with_checksum(target, gzip.compress(sql[:at] + extra + sql[at:]))


DAMAGE = [
    pytest.param(flip_one_byte, "checksum: ", "does not match its .sha256", id="flipped-byte"),
    pytest.param(
        truncate_the_dump,
        "completeness: ",
        "ends inside the COPY data",
        id="truncated-dump-with-matching-checksum",
    ),
    pytest.param(cut_the_gzip_stream, "decompress: ", "does not decompress", id="gzip-cut-short"),
    pytest.param(
        lose_rows_in_a_copy_block,
        "test restore: ",
        "table public.notes has 2 rows after the restore, the dump's COPY data holds 3",
        id="copy-block-lost-rows",
    ),
    pytest.param(
        hide_a_copy_block_from_the_scanner,
        "test restore: ",
        "table public.notes has 4 rows after the restore, the dump's COPY data holds 3",
        id="copy-block-without-header",
    ),
    pytest.param(add_an_sql_error, "test restore: ", "division by zero", id="sql-error"),
]


@pytest.mark.parametrize(("damage", "check", "reason"), DAMAGE)
def test_each_kind_of_damage_is_caught_by_its_check_with_exit_5(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
    damage: Callable[[Path, Path], Path],
    check: str,
    reason: str,
) -> None:
    """The error names the check that failed and why; the file is left where it was."""
    dbname = database("small")
    postgres.psql(
        "CREATE TABLE public.notes (body text);\n"
        "INSERT INTO public.notes VALUES ('first note'), ('second note'), ('third note');",
        dbname,
    )
    env = postgres.env(dbname)
    backup = make_backup(baked_project, env, tmp_path / "backups")
    suspect_dir = tmp_path / "suspect"
    suspect_dir.mkdir()
    suspect = damage(backup, suspect_dir / backup.name)
    before = sorted(p.name for p in suspect_dir.iterdir())

    result = run_tool(baked_project, ["--verify-file", str(suspect)], env)

    assert result.returncode == VERIFY_FAILED, describe(result)
    assert failed_check(result, check), describe(result)
    assert reason in result.stderr, describe(result)
    assert sorted(p.name for p in suspect_dir.iterdir()) == before, "--verify-file renames nothing"
    assert scratch_databases(postgres, dbname) == []


def test_a_test_restore_the_server_refuses_keeps_the_backup_unverified(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """``always`` without the privilege fails the run with exit 3 (the server's rule, not the
    file's fault): the new file keeps its name, and the previous good backup stays as it was."""
    role = "verify_no_createdb"
    postgres.create_role(role, "pw-no-createdb")
    dbname = database("small")
    backups = tmp_path / "backups"
    previous = fake_backup(backups, f"{dbname}_daily_20200101_000000.sql.gz")
    before = snapshot(backups)
    postgres.psql(f"GRANT pg_read_all_data TO {role}", dbname)
    env = {
        **postgres.env(dbname, user=role, password="pw-no-createdb"),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "BACKUP_VERIFY_RESTORE": "always",
    }

    result = run_tool(baked_project, ["--verify"], env)

    assert result.returncode == 3, describe(result)
    assert "CREATEDB" in failed_check(result, "test restore: "), describe(result)
    after = snapshot(backups)
    assert {name: after.get(name) for name in before} == before, "the previous backup changed"
    new = sorted(set(after) - set(before))
    assert len(new) == 4 and not any(name.endswith(".failed") for name in new), new
    assert len(backups_in(backups)) == 2 and previous.name in backups_in(backups)


# -- BACKUP_VERIFY_RESTORE --------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "status"), [("auto", 0), ("always", 3)], ids=["auto", "always"])
def test_a_role_without_createdb_is_warned_in_auto_and_fails_in_always(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
    mode: str,
    status: int,
) -> None:
    """auto: a WARNING naming CREATEDB, checks 1-3 pass; always: exit 3 naming CREATEDB."""
    dbname = database("small")
    backup = make_backup(baked_project, postgres.env(dbname), tmp_path / "backups")
    role = "verify_no_createdb"
    postgres.create_role(role, "pw-no-createdb")
    env = {
        **postgres.env(dbname, user=role, password="pw-no-createdb"),
        "BACKUP_VERIFY_RESTORE": mode,
    }

    result = run_tool(baked_project, ["--verify-file", str(backup)], env)

    assert result.returncode == status, describe(result)
    if mode == "auto":
        warnings = [line for line in result.stderr.splitlines() if "] [WARNING] " in line]
        assert any("CREATEDB" in line for line in warnings), describe(result)
        assert "Backup verification passed" in result.stdout
        assert "complete dump" in result.stdout
    else:
        assert "CREATEDB" in failed_check(result, "test restore: "), describe(result)
    assert scratch_databases(postgres, dbname) == []


def test_damage_is_reported_before_an_impossible_test_restore(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """The checks keep their order: a cut file is a decompress failure, even under always."""
    dbname = database("small")
    backup = make_backup(baked_project, postgres.env(dbname), tmp_path / "backups")
    damaged = cut_the_gzip_stream(backup, tmp_path / backup.name)
    role = "verify_no_createdb"
    postgres.create_role(role, "pw-no-createdb")
    env = {
        **postgres.env(dbname, user=role, password="pw-no-createdb"),
        "BACKUP_VERIFY_RESTORE": "always",
    }

    result = run_tool(baked_project, ["--verify-file", str(damaged)], env)

    assert result.returncode == VERIFY_FAILED, describe(result)
    assert failed_check(result, "decompress: "), describe(result)
    assert not failed_check(result, "test restore: "), describe(result)


def test_never_skips_the_test_restore(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """never: checks 1-3 pass and no scratch database is made."""
    dbname = database("small")
    env = postgres.env(dbname)
    backup = make_backup(baked_project, env, tmp_path / "backups")

    result = run_tool(
        baked_project, ["--verify-file", str(backup)], {**env, "BACKUP_VERIFY_RESTORE": "never"}
    )

    assert result.returncode == 0, describe(result)
    assert "test restore skipped: BACKUP_VERIFY_RESTORE=never" in result.stdout
    assert "scratch database" not in result.stdout


# -- interrupts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_the_test_restore_leaves_no_scratch_database(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    """The signal arrives while psql restores (held up by a pg_sleep in the dump)."""
    dbname = database("small")
    env = postgres.env(dbname)
    backup = make_backup(baked_project, env, tmp_path / "backups")
    sql = sql_of(backup)
    at = sql.index(b"\nCOPY ") + 1
    slow = write_with_checksum(
        tmp_path / backup.name, gzip.compress(sql[:at] + b"SELECT pg_sleep(120);\n" + sql[at:])
    )

    proc = start_tool(baked_project, ["--verify-file", str(slow)], env)
    try:
        deadline = time.monotonic() + 60
        while not _restore_is_running(postgres, dbname):
            assert proc.poll() is None, "the verification ended before it could be interrupted"
            assert time.monotonic() < deadline, "the test restore never started"
            time.sleep(0.1)
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == INTERRUPTED, f"{stdout}\n{stderr}"
    assert f"interrupted by {signum.name}" in stderr
    assert scratch_databases(postgres, dbname) == []


def _restore_is_running(postgres: PostgresServer, dbname: str) -> bool:
    """A scratch database exists and a session in it is sleeping in the dump's pg_sleep."""
    pattern = scratch_pattern(dbname)
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname LIKE {pattern} AND query LIKE '%pg_sleep%'"
    )
    return postgres.psql(sql) != "0"


# -- the invoke task ----------------------------------------------------------------------------


def test_the_invoke_task_verifies_an_existing_backup_with_the_same_exit_codes(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """``invoke -r tools/db-backup verify --path FILE``: 0 for a good file, 5 for a bad one."""
    dbname = database("small")
    env = postgres.env(dbname)
    backup = make_backup(baked_project, env, tmp_path / "backups")
    damaged = cut_the_gzip_stream(backup, tmp_path / backup.name)

    def invoke_verify(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "invoke",
                "-r",
                "tools/db-backup",
                "verify",
                "--path",
                str(path),
            ],
            env=tool_environ(env),
            cwd=baked_project,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    good = invoke_verify(backup)
    assert good.returncode == 0, describe(good)
    assert "Backup verification passed" in good.stdout
    bad = invoke_verify(damaged)
    assert bad.returncode == VERIFY_FAILED, describe(bad)
    assert failed_check(bad, "decompress: "), describe(bad)
