"""``db-backup.sh --verify-remote``: a restore drill of the S3 copy into a scratch database.

Backups are uploaded to the session's real S3 endpoint by the project's own tool, then
checked from the bucket (never from the local file, which each test deletes first).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup_support import backups_in
from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Endpoint

pytestmark = pytest.mark.integration


def upload_one(project: Path, env: dict[str, str]) -> str:
    """Make and upload one backup, remove the local copy; return its file name."""
    result = run_tool(project, [], env)
    assert result.returncode == 0, describe(result)
    (name,) = backups_in(project / "backups")
    for item in (project / "backups").iterdir():
        if not item.name.startswith("."):
            item.unlink()
    return name


def test_the_latest_remote_backup_passes_a_restore_drill_and_is_recorded(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    s3: S3Endpoint,
    bucket: str,
    tmp_path: Path,
) -> None:
    """Exit 0, the test restore's SUCCESS line, backup_last_verified_timestamp for the type."""
    source = database("small")
    metrics = tmp_path / "backup.prom"
    env = {**postgres.env(source), **s3.env(bucket), "BACKUP_METRICS_FILE": str(metrics)}
    name = upload_one(baked_project, env)
    before = metrics.read_text()

    result = run_tool(baked_project, ["--verify-remote"], env)

    assert result.returncode == 0, describe(result)
    assert f"Backup verification passed: {name} restores: 8 rows in 3 tables" in result.stdout
    after = metrics.read_text()
    assert f'backup_last_verified_timestamp{{database="{source}",type="daily"}}' in after
    kept = [line for line in before.splitlines() if not line.startswith("#")]
    assert all(line in after for line in kept), "the backup run's samples are kept"


def test_a_damaged_remote_backup_fails_the_drill_with_exit_5(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    s3: S3Endpoint,
    bucket: str,
    tmp_path: Path,
) -> None:
    """A changed object no longer matches its .sha256 object: exit 5, nothing recorded."""
    source = database("small")
    metrics = tmp_path / "backup.prom"
    env = {**postgres.env(source), **s3.env(bucket), "BACKUP_METRICS_FILE": str(metrics)}
    name = upload_one(baked_project, env)
    key = f"backups/daily/{name}"
    client = s3.client()
    sql = gzip.decompress(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(sql.replace(b"Ada", b"Eve")))

    result = run_tool(baked_project, ["--verify-remote", f"s3://{bucket}/{key}"], env)

    assert result.returncode == 5, describe(result)
    assert "does not match its .sha256" in result.stderr, describe(result)
    assert "backup_last_verified_timestamp" not in metrics.read_text()


def test_without_a_bucket_the_drill_is_a_configuration_error(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """--verify-remote names what it needs: exit 2."""
    result = run_tool(baked_project, ["--verify-remote"], postgres.env(database("small")))

    assert result.returncode == 2, describe(result)
    assert "BACKUP_S3_BUCKET" in result.stderr, describe(result)
