"""``--check``: exit 0 while the newest good backup is young enough, else exit 1 naming its age.

It only lists the stores, so it needs no database password and no server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.backup_support import DAY, backdate_object, fake_backup
from tests.helpers import describe, run_tool
from tests.services.s3 import S3Endpoint

pytestmark = pytest.mark.integration

HOUR = dt.timedelta(hours=1)
DB = "app"  # the settings name only the database; no server is contacted


def check(project: Path, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return run_tool(project, ["--check", *args], {"POSTGRES_DB": DB, **env})


def test_fresh_backup_passes_with_one_line_naming_it(baked_project: Path) -> None:
    backups = baked_project / "backups"
    fake_backup(backups, f"{DB}_weekly_20260101_020000.sql.gz", 3 * DAY)
    fresh = fake_backup(backups, f"{DB}_daily_20260105_020000.sql.gz", 2 * HOUR)
    result = check(baked_project)
    assert result.returncode == 0, describe(result)
    (line,) = result.stdout.splitlines()
    assert "[SUCCESS] newest good backup is 2h 0m old (limit 26h)" in line
    assert line.endswith(str(fresh)) and result.stderr == ""


def test_stale_backup_fails_naming_its_age_and_file(baked_project: Path) -> None:
    """Exit 1 with one ERROR line; a longer --max-age (or BACKUP_MAX_AGE) passes it."""
    stale = fake_backup(
        baked_project / "backups", f"{DB}_monthly_20260101_020000.sql.gz", 30 * HOUR
    )
    result = check(baked_project)
    assert result.returncode == 1, describe(result)
    (line,) = result.stderr.splitlines()
    assert "[ERROR] newest good backup is 1d 6h old, older than 26h: " in line
    assert line.endswith(str(stale))
    assert check(baked_project, "--max-age=2d").returncode == 0
    assert check(baked_project, BACKUP_MAX_AGE="31h").returncode == 0
    assert check(baked_project, "--max-age=6h", BACKUP_MAX_AGE="31h").returncode == 1


def test_no_backup_at_all_fails(baked_project: Path) -> None:
    result = check(baked_project)
    assert result.returncode == 1, describe(result)
    (line,) = result.stderr.splitlines()
    assert f"[ERROR] no good backup of {DB} in {baked_project / 'backups'}" in line


def test_only_good_backups_count(baked_project: Path) -> None:
    """A fresh file without its .sha256, a quarantined one and a schema-only one do not count."""
    backups = baked_project / "backups"
    fake_backup(backups, f"{DB}_daily_20260101_020000.sql.gz", 3 * DAY)
    fake_backup(backups, f"{DB}_daily_20260103_020000.sql.gz", HOUR, checksum=False)
    fake_backup(backups, f"{DB}_daily_20260104_020000.sql.gz.failed", HOUR)
    fake_backup(backups, f"{DB}_daily_20260105_020000_schema.sql.gz", HOUR)
    result = check(baked_project)
    assert result.returncode == 1, describe(result)
    assert "3d 0h old" in result.stderr and "20260101_020000" in result.stderr
    schema = check(baked_project, "--schema-only")
    assert schema.returncode == 0, describe(schema)
    assert "newest good schema-only backup" in schema.stdout


@pytest.mark.parametrize(("value", "says"), [("26", "must be a duration"), ("0h", "between")])
def test_bad_max_age_exits_2(baked_project: Path, value: str, says: str) -> None:
    result = check(baked_project, f"--max-age={value}")
    assert result.returncode == 2, describe(result)
    assert says in result.stderr and "--max-age" in result.stderr


def test_a_fresh_backup_in_s3_counts(baked_project: Path, s3: S3Endpoint, bucket: str) -> None:
    """Nothing local (deleted after upload, say) but a fresh object with its .sha256: exit 0."""
    staging = baked_project / "staging"
    made = fake_backup(staging, f"{DB}_daily_20260105_020000.sql.gz", HOUR)
    for item in (made, made.with_name(made.name + ".sha256")):
        s3.aws(["s3", "cp", str(item), f"s3://{bucket}/backups/daily/{item.name}"])
    env = s3.env(bucket)
    fresh = check(baked_project, **env)
    assert fresh.returncode == 0, describe(fresh)
    assert f"s3://{bucket}/backups/daily/{made.name}" in fresh.stdout
    backdate_object(s3, bucket, f"backups/daily/{made.name}", 2 * DAY)
    stale = check(baked_project, **env)
    assert stale.returncode == 1, describe(stale)
    assert "older than 26h" in stale.stderr
