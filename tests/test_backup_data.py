"""What a backup holds and how it is written: restores exactly, compresses, logs, measures.

Runs ``scripts/db-backup.sh`` of a baked project against the session's real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup_support import backups_in, fake_backup, snapshot
from tests.helpers import describe, program_dir, run_tool
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration


def decompressed_size(path: Path) -> int:
    """Bytes of SQL in a backup, counted by streaming it through the decompressor."""
    program = ["zstd", "-dc", "-q"] if path.suffix == ".zst" else ["gzip", "-dc"]
    with subprocess.Popen([*program, str(path)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        total = sum(len(chunk) for chunk in iter(lambda: proc.stdout.read(1 << 20), b""))
    assert proc.returncode == 0
    return total


def restore(postgres: PostgresServer, backup: Path, dbname: str) -> None:
    """``gunzip -c backup | psql -v ON_ERROR_STOP=1`` into a fresh database, as operators do."""
    postgres.create_database(dbname)
    with subprocess.Popen(["gunzip", "-c", str(backup)], stdout=subprocess.PIPE) as gunzip:
        psql = subprocess.run(
            postgres.psql_command(dbname),
            stdin=gunzip.stdout,
            env=postgres.psql_env(),
            capture_output=True,
            text=True,
            check=False,
        )
    assert gunzip.returncode == 0
    assert psql.returncode == 0, psql.stderr[-2000:]


@pytest.mark.slow
def test_pagila_backup_restores_identically_and_compresses_by_more_than_half(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Pagila: the backup is >50% smaller than its SQL, and restoring it gives the same rows.

    Tables are compared by row count and an md5 over their rows in a stable order, and
    sequences by their state, so the restored database is the source, not just similar.
    """
    source = database("pagila")
    result = run_tool(baked_project, [], postgres.env(source))
    assert result.returncode == 0, describe(result)
    (name,) = backups_in(baked_project / "backups")
    backup = baked_project / "backups" / name
    size, sql_bytes = backup.stat().st_size, decompressed_size(backup)
    assert size < 0.5 * sql_bytes, f"{size} bytes of {sql_bytes}: compression under 50%"
    # The success line reports the same uncompressed size the tool measured.
    assert "compression" in result.stdout and "% smaller" in result.stdout

    copy = database("small", name=f"{source}_restored")
    postgres.drop_database(copy)
    restore(postgres, backup, copy)
    assert postgres.table_fingerprints(copy) == postgres.table_fingerprints(source)
    assert postgres.sequence_states(copy) == postgres.sequence_states(source)


def test_files_are_private_and_checksums_verify_with_sha256sum(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Backups are 0600 in a 0700 directory; ``sha256sum -c *.sha256`` passes in it."""
    dbname = database("small")
    backups = baked_project / "backups"
    shutil.rmtree(backups, ignore_errors=True)  # made by the hook: the tool must make it too
    result = run_tool(baked_project, [], postgres.env(dbname))
    assert result.returncode == 0, describe(result)
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700
    for item in backups.iterdir():
        if not item.name.endswith(".lock"):
            assert stat.S_IMODE(item.stat().st_mode) == 0o600, item.name
    check = subprocess.run(
        "sha256sum -c *.sha256", shell=True, cwd=backups, capture_output=True, text=True
    )
    assert check.returncode == 0 and ": OK" in check.stdout, check.stdout + check.stderr


def test_an_existing_backup_is_never_overwritten(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Where the current second's name is taken, the run takes a free one and leaves the
    existing file and its checksum as they were; back-to-back runs get distinct names."""
    dbname = database("small")
    backups = baked_project / "backups"
    now = dt.datetime.now(dt.timezone.utc)
    for second in range(-2, 120):  # every name this run could want while it starts up
        stamp = (now + dt.timedelta(seconds=second)).strftime("%Y%m%d_%H%M%S")
        fake_backup(backups, f"{dbname}_daily_{stamp}.sql.gz")
    before = snapshot(backups)
    env = {**postgres.env(dbname), "TZ": "UTC"}
    for _ in range(2):
        result = run_tool(baked_project, [], env)
        assert result.returncode == 0, describe(result)
    after = snapshot(backups)
    assert {name: after.get(name) for name in before} == before, "an existing file changed"
    made = [name for name in backups_in(backups) if f"{name}.sha256" not in before]
    assert len(made) == 2, describe(result)
    check = subprocess.run(
        ["sha256sum", "-c", *(f"{name}.sha256" for name in made)],
        cwd=backups,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_zstd_writes_sql_zst(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """BACKUP_COMPRESSION=zstd writes a .sql.zst that zstd itself accepts."""
    env = {**postgres.env(database("small")), "BACKUP_COMPRESSION": "zstd"}
    result = run_tool(baked_project, ["--verify"], env)
    assert result.returncode == 0, describe(result)
    (name,) = backups_in(baked_project / "backups")
    assert name.endswith(".sql.zst")
    subprocess.run(["zstd", "-tq", str(baked_project / "backups" / name)], check=True)


def test_gzip_without_pigz_still_works(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """Where pigz is missing, plain gzip makes the same format."""
    links = {program: postgres.program(program) for program in ("pg_dump", "pg_dumpall", "psql")}
    path = program_dir(tmp_path / "bin", ("gzip",), links=links)
    env = {**postgres.env(database("small")), "PATH": path}
    result = run_tool(baked_project, ["-v"], env)
    assert result.returncode == 0, describe(result)
    assert re.search(r"\| gzip -\d -c >", result.stdout) and "| pigz" not in result.stdout
    (name,) = backups_in(baked_project / "backups")
    subprocess.run(["gzip", "-t", str(baked_project / "backups" / name)], check=True)


def test_auto_type_names_the_file_by_the_calendar(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """--type=auto makes a daily, weekly or monthly backup and says which."""
    result = run_tool(baked_project, ["--type", "auto"], postgres.env(database("small")))
    assert result.returncode == 0, describe(result)
    (name,) = backups_in(baked_project / "backups")
    kind = name.split("_")[-3]
    assert kind in ("daily", "weekly", "monthly")
    assert f"Backup type: {kind} (--type=auto" in result.stdout


def test_json_logs_are_one_object_per_line(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """BACKUP_LOG_FORMAT=json: every stdout line is a JSON object with ts, level, message."""
    env = {**postgres.env(database("small")), "BACKUP_LOG_FORMAT": "json"}
    result = run_tool(baked_project, [], env)
    assert result.returncode == 0, describe(result)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"ts", "level", "message"} <= record.keys() for record in records)
    created = [r for r in records if r["message"].startswith("Backup created")]
    assert created and created[0]["size_bytes"] > 0 and created[0]["uncompressed_bytes"] > 0


def test_metrics_file_records_success_and_failure(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """The textfile has the spec's metrics after a success, and the exit code after a failure."""
    dbname = database("small")
    metrics = tmp_path / "backup.prom"
    env = {**postgres.env(dbname), "BACKUP_METRICS_FILE": str(metrics)}
    assert run_tool(baked_project, [], env).returncode == 0
    text = metrics.read_text()
    labels = f'{{database="{dbname}",type="daily"}}'
    for name in (
        "backup_last_success_timestamp",
        "backup_size_bytes",
        "backup_duration_seconds",
        "backup_last_exit_code",
    ):
        assert f"{name}{labels}" in text
    success_line = next(x for x in text.splitlines() if x.startswith("backup_last_success"))

    failed = run_tool(baked_project, [], {**env, "PGPASSWORD": "wrong"})
    assert failed.returncode == 3
    text = metrics.read_text()
    assert f"backup_last_exit_code{labels} 3" in text
    assert success_line in text  # the last success is still the last success


def test_password_file_and_no_password_in_any_output(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """PGPASSWORD_FILE works; the password appears in no log line, even with -v or on error."""
    secret = tmp_path / "postgres_password"
    secret.write_text(postgres.password + "\n")
    env = postgres.env(database("small"))
    del env["PGPASSWORD"]
    env["PGPASSWORD_FILE"] = str(secret)
    good = run_tool(baked_project, ["-v"], env)
    assert good.returncode == 0, describe(good)
    wrong = run_tool(baked_project, ["-v"], {**postgres.env("x"), "PGPASSWORD": "Wr0ng-S3cret"})
    assert wrong.returncode == 3
    assert postgres.password not in good.stdout + good.stderr
    assert "Wr0ng-S3cret" not in wrong.stdout + wrong.stderr


def test_partial_file_of_a_killed_run_is_removed_by_the_next_run(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """A ``.partial-<pid>`` (of a backup or its roles file) left by a run killed with SIGKILL
    goes; another database's stays."""
    dbname = database("small")
    backups = baked_project / "backups"
    backups.mkdir(exist_ok=True)  # the hook makes it for the compose bind mount
    ours = backups / f".{dbname}_daily_20200101_000000.sql.gz.partial-99999"
    our_roles = backups / f".{dbname}_daily_20200101_000000.roles.sql.partial-99999"
    theirs = backups / ".otherdb_daily_20200101_000000.sql.gz.partial-99999"
    ours.write_bytes(b"half a dump")
    our_roles.write_bytes(b"CREATE ROLE half")
    theirs.write_bytes(b"not ours")
    result = run_tool(baked_project, [], postgres.env(dbname))
    assert result.returncode == 0, describe(result)
    assert not ours.exists() and not our_roles.exists() and theirs.exists()
    assert f"[WARNING] removed {ours.name}" in result.stderr
    assert f"[WARNING] removed {our_roles.name}" in result.stderr
