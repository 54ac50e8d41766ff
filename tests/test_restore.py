"""``scripts/db-restore.sh``: proven restores into a new database, and swaps on request.

Every run restores backups made by the project's own ``scripts/db-backup.sh`` into the
session's real PostgreSQL (and, for the S3 cases, from the real S3 endpoint), then compares
the restored database with its source table by table. Damaged backups must be refused
before any database is created; a restore that fails must leave nothing behind.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup_support import backups_in, error_lines, write_with_checksum
from tests.cutting_proxy import CuttingProxy
from tests.helpers import describe, run_tool, start_tool, tool_environ
from tests.restore_support import (
    CHECKS_FAILED,
    CONFIG_ERROR,
    DOWNLOAD_FAILED,
    RESTORE_FAILED,
    RESTORED,
    all_databases,
    databases_like,
    run_restore,
    start_restore,
)
from tests.services.postgres import PostgresServer, quote_literal
from tests.services.s3 import S3Endpoint
from tests.test_verify import (
    AWKWARD_SQL,
    add_an_sql_error,
    cut_the_gzip_stream,
    flip_one_byte,
    sql_of,
    truncate_the_dump,
)

pytestmark = pytest.mark.integration


def backed_up(project: Path, env: dict[str, str], *args: str) -> Path:
    """Make one backup with the project's own tool; return its path."""
    before = set(backups_in(project / "backups"))
    result = run_tool(project, list(args), env)
    assert result.returncode == 0, describe(result)
    (name,) = set(backups_in(project / "backups")) - before
    return project / "backups" / name


def assert_same_content(postgres: PostgresServer, restored: str, source: str) -> None:
    """Rows (count and hash per table) and sequence states are those of the source."""
    assert postgres.table_fingerprints(restored) == postgres.table_fingerprints(source)
    assert postgres.sequence_states(restored) == postgres.sequence_states(source)


# -- proven restores -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset",
    [
        "small",
        pytest.param("pagila", marks=pytest.mark.slow),
        pytest.param("chinook", marks=pytest.mark.slow),
        pytest.param("northwind", marks=pytest.mark.slow),
    ],
)
def test_the_latest_backup_restores_into_a_new_database_identical_to_its_source(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
    dataset: str,
) -> None:
    """With no argument: the newest backup, into ``{db}_restored_{timestamp}``, checked."""
    source = database(dataset)
    env = postgres.env(source)
    backup = backed_up(baked_project, env)
    cleanup.append(f"{source}_restored_*")

    result = run_restore(baked_project, [], env)

    assert result.returncode == RESTORED, describe(result)
    (restored,) = databases_like(postgres, f"{source}_restored_")
    assert_same_content(postgres, restored, source)
    assert backup.name in result.stdout, describe(result)
    assert "[SUCCESS] " in result.stdout and restored in result.stdout, describe(result)


EDGE_SQL = r"""
CREATE TABLE public.empty_wide AS
SELECT g AS c1, g AS c2, g AS c3, g AS c4, g AS c5, g AS c6, g AS c7, g AS c8
  FROM generate_series(1, 0) AS g;
ALTER TABLE public.empty_wide ADD COLUMN c9 text DEFAULT 'x', ADD COLUMN c10 jsonb;
CREATE SEQUENCE public.ticket_seq START 500 INCREMENT 7;
SELECT nextval('public.ticket_seq'), nextval('public.ticket_seq');
CREATE SEQUENCE public.untouched_seq;
SELECT lo_from_bytea(0, convert_to(repeat('large object ', 20000), 'UTF8'));
SELECT lo_from_bytea(0, '\x00010203'::bytea);
"""


def large_objects(postgres: PostgresServer, dbname: str) -> list[str]:
    """The md5 of every large object's content, sorted (oids may differ, contents may not)."""
    rows = postgres.rows("SELECT md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY 1", dbname)
    return [row[0] for row in rows]


def schema_dump(postgres: PostgresServer, dbname: str) -> str:
    """``pg_dump --schema-only`` without its random ``\\restrict`` lines."""
    done = subprocess.run(
        [
            postgres.program("pg_dump"),
            "--schema-only",
            "-h",
            postgres.host,
            "-p",
            str(postgres.port),
            "-U",
            postgres.superuser,
            dbname,
        ],
        env=postgres.psql_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return re.sub(r"(?m)^\\(un)?restrict .*$", "", done.stdout)


def test_an_awkward_database_restores_exactly(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
) -> None:
    """Odd names, inheritance, partitions, overloads, identity columns, empty wide tables,
    sequences (used and not), large objects: the restore is the source, schema included."""
    source = database("small")
    postgres.psql(AWKWARD_SQL, source)
    postgres.psql(EDGE_SQL, source)
    env = postgres.env(source)
    backed_up(baked_project, env)
    target = f"{source}_exact"
    cleanup.append(target)

    result = run_restore(baked_project, [f"--target={target}"], env)

    assert result.returncode == RESTORED, describe(result)
    assert_same_content(postgres, target, source)
    assert large_objects(postgres, target) == large_objects(postgres, source)
    assert len(large_objects(postgres, source)) == 2
    assert schema_dump(postgres, target) == schema_dump(postgres, source)


def test_a_zstd_backup_restores_whatever_its_name_says(
    bake: Callable[..., Path],
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
) -> None:
    """A zstd project's backups restore; the format comes from the bytes, not the suffix."""
    project = bake(backup_compression="zstd")
    source = database("small")
    env = postgres.env(source)
    backup = backed_up(project, env)
    assert backup.name.endswith(".sql.zst")
    cleanup.append(f"{source}_restored_*")

    result = run_restore(project, [str(backup)], env)

    assert result.returncode == RESTORED, describe(result)
    (restored,) = databases_like(postgres, f"{source}_restored_")
    assert_same_content(postgres, restored, source)


@pytest.mark.parametrize("how", ["path", "name"])
def test_a_named_backup_restores_into_the_target_asked_for(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
    how: str,
) -> None:
    """BACKUP as a path or as a file name in BACKUP_DIR; ``--target`` names the new database."""
    source = database("small")
    env = postgres.env(source)
    older = backed_up(baked_project, env)
    postgres.psql("INSERT INTO public.customer (name) VALUES ('after the first backup')", source)
    backed_up(baked_project, env)
    target = f"{source}_side"
    cleanup.append(target)

    chosen = str(older) if how == "path" else older.name
    result = run_restore(baked_project, [chosen, f"--target={target}"], env)

    assert result.returncode == RESTORED, describe(result)
    rows = postgres.psql("SELECT count(*) FROM public.customer", target)
    assert rows == "3", "the older backup was restored, not the newest"


def test_an_existing_empty_target_is_used_and_a_non_empty_one_refused(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
) -> None:
    """An empty target database is filled; one holding tables is exit 2 and left as it was."""
    source = database("small")
    env = postgres.env(source)
    backed_up(baked_project, env)
    empty, busy = f"{source}_empty", database("small")
    postgres.create_database(empty)
    cleanup.append(empty)
    postgres.psql("INSERT INTO public.customer (name) VALUES ('keep me')", busy)
    before = postgres.table_fingerprints(busy)

    assert run_restore(baked_project, [f"--target={empty}"], env).returncode == RESTORED
    assert_same_content(postgres, empty, source)

    refused = run_restore(baked_project, [f"--target={busy}"], env)
    assert refused.returncode == CONFIG_ERROR, describe(refused)
    assert "not empty" in refused.stderr, describe(refused)
    assert postgres.table_fingerprints(busy) == before


def test_the_type_picks_the_newest_backup_of_that_type(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """``--type=weekly`` skips a newer daily backup; ``--dry-run`` names it and touches nothing."""
    source = database("small")
    env = postgres.env(source)
    weekly = backed_up(baked_project, env, "--type=weekly")
    time.sleep(1.1)
    daily = backed_up(baked_project, env, "--type=daily")
    before = all_databases(postgres)

    result = run_restore(baked_project, ["--type=weekly", "--dry-run"], env)

    assert result.returncode == RESTORED, describe(result)
    assert weekly.name in result.stdout and daily.name not in result.stdout, describe(result)
    assert all_databases(postgres) == before, "--dry-run creates no database"


def test_list_shows_the_restorable_backups_newest_first(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """``--list`` names every backup, the newest first, and touches no database."""
    source = database("small")
    env = postgres.env(source)
    first = backed_up(baked_project, env, "--type=monthly")
    time.sleep(1.1)
    second = backed_up(baked_project, env, "--type=daily")

    result = run_restore(baked_project, ["--list"], env)

    assert result.returncode == RESTORED, describe(result)
    assert second.name in result.stdout and first.name in result.stdout, describe(result)
    assert result.stdout.index(second.name) < result.stdout.index(first.name)


# -- damaged backups: refused before any database exists --------------------------------------


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        pytest.param(flip_one_byte, "does not match its .sha256", id="flipped-byte"),
        pytest.param(truncate_the_dump, "ends inside the COPY data", id="truncated-dump"),
        pytest.param(cut_the_gzip_stream, "does not decompress", id="gzip-cut-short"),
    ],
)
def test_a_damaged_backup_is_refused_with_exit_5_and_no_database_is_created(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
    damage: Callable[[Path, Path], Path],
    reason: str,
) -> None:
    """Checksum, decompression and completeness are checked before anything is created."""
    source = database("small")
    env = postgres.env(source)
    backup = backed_up(baked_project, env)
    suspect = damage(backup, tmp_path / backup.name)
    before = all_databases(postgres)

    result = run_restore(baked_project, [str(suspect)], env)

    assert result.returncode == CHECKS_FAILED, describe(result)
    assert reason in result.stderr, describe(result)
    assert all_databases(postgres) == before


def test_a_backup_whose_sql_fails_exits_8_and_drops_the_new_database(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """An SQL error stops the restore; the half-filled database is dropped, the live one kept."""
    source = database("small")
    env = postgres.env(source)
    backup = backed_up(baked_project, env)
    broken = add_an_sql_error(backup, tmp_path / backup.name)
    before = all_databases(postgres)
    live = postgres.table_fingerprints(source)

    result = run_restore(baked_project, [str(broken)], env)

    assert result.returncode == RESTORE_FAILED, describe(result)
    assert "division by zero" in result.stderr, describe(result)
    assert all_databases(postgres) == before
    assert postgres.table_fingerprints(source) == live


# -- replacing the live database ------------------------------------------------------------------


def test_replace_needs_a_confirmation_when_there_is_no_terminal(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """``--replace`` without ``--yes`` and with stdin not a terminal: exit 2, nothing touched."""
    source = database("small")
    env = postgres.env(source)
    backed_up(baked_project, env)
    before = all_databases(postgres)

    result = run_restore(baked_project, ["--replace"], env)

    assert result.returncode == CONFIG_ERROR, describe(result)
    assert "--yes" in result.stderr, describe(result)
    assert all_databases(postgres) == before


def test_replace_swaps_in_the_proven_copy_and_keeps_the_old_database(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
) -> None:
    """The live database is renamed aside (clients cut off); the restored copy takes its name."""
    source = database("small")
    env = postgres.env(source)
    backed_up(baked_project, env)
    postgres.psql("INSERT INTO public.customer (name) VALUES ('written after the backup')", source)
    cleanup.append(f"{source}_before_restore_*")
    client = subprocess.Popen(
        [*postgres.psql_command(source), "-c", "SELECT pg_sleep(120)"],
        env=postgres.psql_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_session(postgres, source)
        result = run_restore(baked_project, ["--replace", "--yes"], env)
        client_status = client.wait(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()

    assert result.returncode == RESTORED, describe(result)
    assert client_status != 0, "the client of the live database was disconnected"
    (kept,) = databases_like(postgres, f"{source}_before_restore_")
    assert postgres.psql("SELECT count(*) FROM public.customer", source) == "3"
    assert postgres.psql("SELECT count(*) FROM public.customer", kept) == "4"
    assert databases_like(postgres, f"{source}_restored_") == []
    assert kept in result.stdout, "the closing lines say where the old database is"


def test_target_equal_to_the_live_database_is_refused(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Restoring over the live name is what ``--replace`` is for."""
    source = database("small")
    env = postgres.env(source)
    backed_up(baked_project, env)

    result = run_restore(baked_project, [f"--target={source}"], env)

    assert result.returncode == CONFIG_ERROR, describe(result)
    assert "--replace" in result.stderr, describe(result)


def _wait_for_session(postgres: PostgresServer, dbname: str) -> None:
    deadline = time.monotonic() + 30
    sql = f"SELECT count(*) FROM pg_stat_activity WHERE datname = {quote_literal(dbname)}"
    while postgres.psql(sql) == "0":
        assert time.monotonic() < deadline, f"no session ever connected to {dbname}"
        time.sleep(0.1)


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--type=hourly"],
        ["--from=ftp"],
        ["--bogus"],
        ["--target="],
        ["one.sql.gz", "two.sql.gz"],
        ["no_such_backup.sql.gz"],
        ["--target=" + "x" * 70],
    ],
    ids=[
        "bad-type",
        "bad-from",
        "unknown-flag",
        "empty-target",
        "two-backups",
        "missing-file",
        "target-too-long",
    ],
)
def test_every_bad_option_is_exit_2_with_one_line(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], args: list[str]
) -> None:
    """Each mistake is one ``[ERROR]`` message (perhaps with detail and hint lines) and exit 2;
    no database is created."""
    source = database("small")
    env = postgres.env(source)
    backed_up(baked_project, env)
    before = all_databases(postgres)

    result = run_restore(baked_project, args, env)

    assert result.returncode == CONFIG_ERROR, describe(result)
    messages = [
        line
        for line in error_lines(result.stderr)
        if "[ERROR] detail: " not in line and "[ERROR] hint: " not in line
    ]
    assert len(messages) == 1, describe(result)
    assert all_databases(postgres) == before


def test_latest_with_no_backup_is_exit_2(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Nothing to restore is a configuration error that says where it looked."""
    source = database("small")

    result = run_restore(baked_project, [], postgres.env(source))

    assert result.returncode == CONFIG_ERROR, describe(result)
    assert "no good backup" in result.stderr, describe(result)


# -- S3 -------------------------------------------------------------------------------------------


def test_restore_from_s3_streams_the_object_and_checks_it(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    s3: S3Endpoint,
    bucket: str,
    cleanup: list[str],
    tmp_path: Path,
) -> None:
    """``--from=s3`` finds the newest uploaded backup; an ``s3://`` URL names one; a corrupted
    object is exit 5 with no database created."""
    source = database("small")
    env = {**postgres.env(source), **s3.env(bucket)}
    backup = backed_up(baked_project, env)
    for item in (baked_project / "backups").iterdir():
        item.unlink()
    cleanup.append(f"{source}_restored_*")

    latest = run_restore(baked_project, ["--from=s3"], env)
    assert latest.returncode == RESTORED, describe(latest)
    (restored,) = databases_like(postgres, f"{source}_restored_")
    assert_same_content(postgres, restored, source)

    key = f"backups/daily/{backup.name}"
    damaged = tmp_path / "damaged"
    data = bytearray(gzip.compress(sql_of_object(s3, bucket, key)))
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    s3.client().upload_file(str(damaged), bucket, key)
    before = all_databases(postgres)

    refused = run_restore(baked_project, [f"s3://{bucket}/{key}"], env)
    assert refused.returncode == CHECKS_FAILED, describe(refused)
    assert all_databases(postgres) == before


def test_a_download_cut_mid_object_is_exit_6_and_leaves_no_database(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    s3: S3Endpoint,
    bucket: str,
) -> None:
    """A lost connection is not evidence against the backup: exit 6 (download failed), not 5;
    the new database is dropped and the live one untouched."""
    source = database("small")
    postgres.psql(
        "CREATE TABLE public.filler AS SELECT g, md5(g::text) || md5((g + 1)::text) AS t "
        "FROM generate_series(1, 20000) AS g",
        source,
    )
    env = {**postgres.env(source), **s3.env(bucket)}
    backup = backed_up(baked_project, env)
    assert backup.stat().st_size > 200_000, "the object must outlast the proxy's limit"
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, limit=64 * 1024, direction="down")
    before = all_databases(postgres)
    try:
        result = run_restore(
            baked_project,
            [f"s3://{bucket}/backups/daily/{backup.name}"],
            {**env, "BACKUP_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}"},
        )
    finally:
        proxy.close()

    assert proxy.cut >= 1, "the download went through the proxy"
    assert result.returncode == DOWNLOAD_FAILED, describe(result)
    assert "download of s3://" in result.stderr, describe(result)
    assert all_databases(postgres) == before


def sql_of_object(s3: S3Endpoint, bucket: str, key: str) -> bytes:
    """The SQL inside a (small, gzip) backup object."""
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return gzip.decompress(body)


# -- interrupted restores -----------------------------------------------------------------------


def test_a_database_left_by_a_killed_restore_is_dropped_by_the_next_one(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    cleanup: list[str],
    tmp_path: Path,
) -> None:
    """SIGKILL mid-restore leaves a marked database; the next restore names it and drops it,
    and a database the tool did not create is never touched."""
    source = database("small")
    env = postgres.env(source)
    backup = backed_up(baked_project, env)
    sql = sql_of(backup)
    at = sql.index(b"\nCOPY ") + 1
    slow = write_with_checksum(
        tmp_path / backup.name, gzip.compress(sql[:at] + b"SELECT pg_sleep(120);\n" + sql[at:])
    )
    stranger = f"{source}_restored_20000101_000000"
    postgres.create_database(stranger)
    leftover = f"{source}_killed"
    cleanup.extend([stranger, leftover, f"{source}_restored_*"])

    proc = start_restore(baked_project, [str(slow), f"--target={leftover}"], env)
    try:
        _wait_for_sleep(postgres, leftover, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert postgres.database_exists(leftover), "the killed run left its database behind"

    result = run_restore(baked_project, [str(backup)], env)

    assert result.returncode == RESTORED, describe(result)
    assert not postgres.database_exists(leftover), describe(result)
    assert leftover in result.stdout + result.stderr, "the cleanup is reported"
    assert postgres.database_exists(stranger), "only databases the tool marked are dropped"


def _wait_for_sleep(postgres: PostgresServer, dbname: str, proc: subprocess.Popen[str]) -> None:
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname = {quote_literal(dbname)} AND query LIKE '%pg_sleep%'"
    )
    deadline = time.monotonic() + 60
    while postgres.psql(sql) == "0":
        assert proc.poll() is None, "the restore ended before it could be killed"
        assert time.monotonic() < deadline, "the restore never started"
        time.sleep(0.1)


def test_a_scratch_database_left_by_a_killed_verify_is_dropped_next_time(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """SIGKILL of the whole tool during a test restore leaves its marked scratch database;
    the next verification names it and drops it."""
    source = database("small")
    env = postgres.env(source)
    backup = backed_up(baked_project, env)
    sql = sql_of(backup)
    at = sql.index(b"\nCOPY ") + 1
    slow = write_with_checksum(
        tmp_path / backup.name, gzip.compress(sql[:at] + b"SELECT pg_sleep(120);\n" + sql[at:])
    )
    scratch_prefix = f"{source}_verify_"

    proc = start_tool(baked_project, ["--verify-file", str(slow)], env, own_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _sleeping_in(postgres, scratch_prefix):
            assert proc.poll() is None, "the verification ended before it could be killed"
            assert time.monotonic() < deadline, "the test restore never started"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    (leftover,) = databases_like(postgres, scratch_prefix)

    result = run_tool(baked_project, ["--verify-file", str(backup)], env)

    assert result.returncode == 0, describe(result)
    assert leftover in result.stdout + result.stderr, "the cleanup is reported"
    assert databases_like(postgres, scratch_prefix) == []


CUT_OFF_LOAD = r"""
import os, signal, sys
from db_backup.connection import ConnectionInfo
from db_backup.load import DumpLoad

host, port, dbname, user, password = sys.argv[1:]
load = DumpLoad(ConnectionInfo(host, int(port), dbname, user, password))
load.start()
load.write(b"CREATE TABLE cut_off (i int);\nINSERT INTO cut_off VALUES (1), (2);\n")
os.kill(os.getpid(), signal.SIGKILL)  # psql reads the end of its input; no COMMIT was sent
"""


def test_a_load_whose_tool_is_killed_commits_nothing(
    baked_project: Path, postgres: PostgresServer, cleanup: list[str]
) -> None:
    """psql outlives the killed tool and reaches the end of its input: the statements it ran
    are rolled back, because only the tool ever sends COMMIT."""
    target = "cut_off_load_target"
    postgres.drop_database(target)
    postgres.create_database(target)
    cleanup.append(target)
    argv = [postgres.host, str(postgres.port), target, postgres.superuser, postgres.password]
    env = {"PYTHONPATH": str(baked_project / "tools" / "db-backup" / "src")}
    done = subprocess.run(
        [sys.executable, "-c", CUT_OFF_LOAD, *argv],
        env=tool_environ(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    _wait_until_idle(postgres, target)

    found = postgres.psql("SELECT count(*) FROM pg_class WHERE relname = 'cut_off'", target)
    assert found == "0", "the cut-off load was committed"


def _sleeping_in(postgres: PostgresServer, prefix: str) -> bool:
    pattern = quote_literal(prefix.replace("_", "\\_") + "%")
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        f"WHERE datname LIKE {pattern} AND query LIKE '%pg_sleep%'"
    )
    return postgres.psql(sql) != "0"


def _wait_until_idle(postgres: PostgresServer, dbname: str) -> None:
    """Wait for the orphaned psql to finish its input and leave."""
    deadline = time.monotonic() + 60
    sql = f"SELECT count(*) FROM pg_stat_activity WHERE datname = {quote_literal(dbname)}"
    while postgres.psql(sql) != "0":
        assert time.monotonic() < deadline, f"sessions on {dbname} did not end"
        time.sleep(0.1)
