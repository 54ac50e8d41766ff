"""The spec's Verification Steps 1 to 5, as written, through a baked project's script.

Each step runs ``scripts/db-backup.sh`` of a freshly baked project against the real
PostgreSQL of the test session; the connection goes into ``scripts/backup-config.env``
(the documented place), and only the password is exported, as in the spec.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup_support import LOG_LINE, backups_in
from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

STAMP = r"\d{8}_\d{6}"


def configure(project: Path, postgres: PostgresServer, dbname: str) -> dict[str, str]:
    """Write the connection into scripts/backup-config.env; return the spec's ``export``."""
    example = (project / "scripts" / "backup-config.env.example").read_text()
    values = {
        "POSTGRES_HOST": postgres.host,
        "POSTGRES_PORT": str(postgres.port),
        "POSTGRES_DB": dbname,
        "POSTGRES_USER": postgres.superuser,
    }
    lines = []
    for line in example.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={values[key]}" if key in values else line)
    (project / "scripts" / "backup-config.env").write_text("\n".join(lines) + "\n")
    return {"PGPASSWORD": postgres.password}


@pytest.fixture
def project(
    bake: Callable[..., Path], postgres: PostgresServer, database: Callable[..., str]
) -> tuple[Path, str]:
    """A baked project whose generated database name is a fresh 'small' database."""
    dbname = database("small")
    return bake(postgres_db=dbname), dbname


def test_step1_basic_backup(project: tuple[Path, str], postgres: PostgresServer) -> None:
    """Step 1: with PGPASSWORD exported, a plain run creates {db}_daily_YYYYMMDD_HHMMSS.sql.gz."""
    path, dbname = project
    env = configure(path, postgres, dbname)
    result = run_tool(path, [], env)
    assert result.returncode == 0, describe(result)
    names = backups_in(path / "backups")
    assert len(names) == 1 and re.fullmatch(rf"{dbname}_daily_{STAMP}\.sql\.gz", names[0])
    assert (path / "backups" / f"{names[0]}.sha256").is_file()
    # The log is the spec's format, and the success line says what was made.
    assert all(LOG_LINE.match(line) for line in result.stdout.splitlines()), result.stdout
    assert f"[SUCCESS] Backup completed successfully: {names[0]}" in result.stdout


def test_step2_weekly_and_monthly_naming(
    project: tuple[Path, str], postgres: PostgresServer
) -> None:
    """Step 2: --type=weekly and --type=monthly name their files by type."""
    path, dbname = project
    env = configure(path, postgres, dbname)
    for backup_type in ("weekly", "monthly"):
        result = run_tool(path, [f"--type={backup_type}"], env)
        assert result.returncode == 0, describe(result)
    names = backups_in(path / "backups")
    assert [n for n in names if re.fullmatch(rf"{dbname}_weekly_{STAMP}\.sql\.gz", n)]
    assert [n for n in names if re.fullmatch(rf"{dbname}_monthly_{STAMP}\.sql\.gz", n)]


def test_step3_schema_only_with_verify_is_smaller(
    project: tuple[Path, str], postgres: PostgresServer
) -> None:
    """Step 3: --schema-only --verify makes a verified *_schema* backup smaller than a full one."""
    path, dbname = project
    env = configure(path, postgres, dbname)
    full = run_tool(path, [], env)
    assert full.returncode == 0, describe(full)
    schema = run_tool(path, ["--schema-only", "--verify"], env)
    assert schema.returncode == 0, describe(schema)
    backups = path / "backups"
    (schema_name,) = [n for n in backups_in(backups) if "schema" in n]
    (full_name,) = [n for n in backups_in(backups) if "schema" not in n]
    assert re.fullmatch(rf"{dbname}_daily_{STAMP}_schema\.sql\.gz", schema_name)
    assert (backups / schema_name).stat().st_size < (backups / full_name).stat().st_size
    sql = subprocess.run(
        ["gzip", "-dc", str(backups / schema_name)], capture_output=True, check=True
    ).stdout
    assert b"CREATE TABLE" in sql and b"COPY " not in sql


def test_step4_retention_removes_the_old_file(
    bake: Callable[..., Path], postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Step 4: a touched 10-day-old test_daily_old.sql.gz is removed by a run with RETENTION 7.

    The file belongs to a database called ``test`` (the contract's ``{db}_{type}_*``), so
    the step runs against a database of that name, as the spec's example implies.
    """
    dbname = database("small", name="test")
    path = bake(postgres_db=dbname)
    env = configure(path, postgres, dbname)
    backups = path / "backups"
    backups.mkdir(exist_ok=True)  # the hook makes it for the compose bind mount
    subprocess.run(
        ["touch", "-d", "10 days ago", str(backups / "test_daily_old.sql.gz")], check=True
    )
    result = run_tool(path, [], {**env, "BACKUP_RETENTION_DAILY": "7"})
    assert result.returncode == 0, describe(result)
    assert not (backups / "test_daily_old.sql.gz").exists(), describe(result)
    assert "test_daily_old.sql.gz" in result.stdout, "the deletion is logged"
    assert len(backups_in(backups)) == 1


def test_step5_exit_codes(project: tuple[Path, str], postgres: PostgresServer) -> None:
    """Step 5: an unreachable host exits 3; a missing password exits 2.

    ``nonexistent.invalid`` stands for the spec's ``invalid-host``: the reserved
    ``.invalid`` domain can never resolve, wherever the tests run.
    """
    path, dbname = project
    env = configure(path, postgres, dbname)
    bad_host = run_tool(path, [], {**env, "POSTGRES_HOST": "nonexistent.invalid"})
    assert bad_host.returncode == 3, describe(bad_host)
    assert backups_in(path / "backups") == [], describe(bad_host)
    no_password = run_tool(path, [], {"HOME": str(path)})
    assert no_password.returncode == 2, describe(no_password)
    assert backups_in(path / "backups") == [], describe(no_password)
