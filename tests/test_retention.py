"""Retention through the baked project's ``scripts/db-backup.sh`` against real PostgreSQL and S3.

The spec's own Verification Step 4 is ``test_step4_*`` in ``test_backup_spec_steps.py``.
Backups are aged the way the spec does it (``touch -d``) or with ``os.utime``; remote
objects are aged on moto's server, the only endpoint here that can backdate LastModified.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backup_support import DAY, backdate_object, fake_backup
from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Endpoint

pytestmark = pytest.mark.integration

HOUR = dt.timedelta(hours=1)


# --- helpers ----------------------------------------------------------------------------


def stamp(n: int) -> str:
    """A contract timestamp in the past that sorts with ``n``."""
    return f"20200101_{n:06d}"


def names(directory: Path) -> set[str]:
    """Names of everything in ``directory`` (empty when it does not exist)."""
    return {p.name for p in directory.iterdir()} if directory.exists() else set()


def new_backups(directory: Path, before: set[str], database: str) -> list[str]:
    """Backup files (not checksums) that appeared since ``before``."""
    return sorted(
        n
        for n in names(directory) - before
        if n.startswith(f"{database}_") and n.endswith((".sql.gz", ".sql.zst"))
    )


@pytest.fixture
def run(
    baked_project: Path, postgres: PostgresServer
) -> Callable[..., subprocess.CompletedProcess]:
    """``run(database, *args, **env)``: the baked tool against ``database`` on the test server."""

    def run_for(database: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return run_tool(baked_project, args, {**postgres.env(database), **env})

    return run_for


@pytest.fixture
def shop(database: Callable[..., str]) -> str:
    """A fresh small database with a unique name."""
    return database("small")


# --- boundaries -------------------------------------------------------------------------


def test_weekly_retention_counts_weeks_of_seven_days(
    shop: str, tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """With 2 weeks: a weekly backup 13 days 23 hours old stays, one 14 days 1 hour old goes,
    schema-only weekly backups are pruned alike, daily backups are left to daily runs."""
    backups = tmp_path / "backups"
    young = fake_backup(backups, f"{shop}_weekly_{stamp(2)}.sql.gz", 14 * DAY - HOUR)
    old = fake_backup(backups, f"{shop}_weekly_{stamp(1)}.sql.gz", 14 * DAY + HOUR)
    young_schema = fake_backup(backups, f"{shop}_weekly_{stamp(2)}_schema.sql.gz", DAY)
    old_schema = fake_backup(backups, f"{shop}_weekly_{stamp(1)}_schema.sql.gz", 30 * DAY)
    daily = fake_backup(backups, f"{shop}_daily_{stamp(1)}.sql.gz", 99 * DAY)

    result = run(shop, "--type=weekly", BACKUP_DIR=str(backups), BACKUP_RETENTION_WEEKLY="2")

    assert result.returncode == 0, describe(result)
    assert young.exists() and Path(f"{young}.sha256").exists()
    assert not old.exists() and not Path(f"{old}.sha256").exists()
    assert young_schema.exists()
    assert not old_schema.exists(), "schema-only backups of the type are pruned with it"
    assert daily.exists()


def test_monthly_retention_counts_months_of_thirty_days(
    shop: str, tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """With 1 month: 29 days 23 hours stays; 30 days 1 hour and 31 days go."""
    backups = tmp_path / "backups"
    young = fake_backup(backups, f"{shop}_monthly_{stamp(3)}.sql.gz", 30 * DAY - HOUR)
    just_over = fake_backup(backups, f"{shop}_monthly_{stamp(2)}.sql.gz", 30 * DAY + HOUR)
    calendar_month = fake_backup(backups, f"{shop}_monthly_{stamp(1)}.sql.gz", 31 * DAY)

    result = run(shop, "--type=monthly", BACKUP_DIR=str(backups), BACKUP_RETENTION_MONTHLY="1")

    assert result.returncode == 0, describe(result)
    assert young.exists()
    assert not just_over.exists()
    assert not calendar_month.exists()


def test_daily_boundary_and_zero_keeps_everything(
    shop: str, tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """Retention 0 keeps a years-old backup; then 3 days prunes 3 days 1 hour, not 2 days 23."""
    backups = tmp_path / "backups"
    ancient = fake_backup(backups, f"{shop}_daily_{stamp(1)}.sql.gz", 999 * DAY)
    young = fake_backup(backups, f"{shop}_daily_{stamp(3)}.sql.gz", 3 * DAY - HOUR)
    over = fake_backup(backups, f"{shop}_daily_{stamp(2)}.sql.gz", 3 * DAY + HOUR)

    before = names(backups)
    kept = run(shop, BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="0")
    assert kept.returncode == 0, describe(kept)
    assert ancient.exists() and young.exists() and over.exists()

    pruned = run(shop, BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="3")
    assert pruned.returncode == 0, describe(pruned)
    assert young.exists()
    assert not over.exists() and not ancient.exists()
    assert len(new_backups(backups, before, shop)) == 2, "both runs' own backups remain"


# --- what is ours -----------------------------------------------------------------------


def test_a_directory_shared_by_two_databases(
    database: Callable[..., str], tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """``shop`` and ``shop_daily`` share a directory: each run prunes only its own backups,
    and files that are nobody's backups are never touched."""
    shop = database("small", name="shop")
    shop_daily = database("small", name="shop_daily")
    backups = tmp_path / "backups"
    shop_old = fake_backup(backups, f"{shop}_daily_{stamp(1)}.sql.gz", 30 * DAY)
    other_old = fake_backup(backups, f"{shop_daily}_daily_{stamp(1)}.sql.gz", 30 * DAY)
    strangers = [
        fake_backup(backups, name, 30 * DAY, checksum=False)
        for name in (
            "notes.txt",
            f"{shop}_daily_{stamp(5)}.sql.gz.partial",
            f".{shop}_daily_{stamp(6)}.sql.gz.tmp",
            f"{shop}.lock",
            f".{shop}_daily_{stamp(4)}.sql.gz.partial",
            ".db-backup.lock",
            f"{shop}_daily_{stamp(7)}.sql",
            f"{shop}_hourly_{stamp(8)}.sql.gz",
            f"shopping_daily_{stamp(9)}.sql.gz",
        )
    ]

    before = names(backups)
    first = run(shop, BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="7")
    assert first.returncode == 0, describe(first)
    assert not shop_old.exists()
    assert other_old.exists() and Path(f"{other_old}.sha256").exists()
    shop_backups = new_backups(backups, before, shop)
    assert len(shop_backups) == 1, describe(first)

    second = run(shop_daily, BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="7")
    assert second.returncode == 0, describe(second)
    assert not other_old.exists()
    assert (backups / shop_backups[0]).exists(), f"{shop_daily}'s run deleted {shop}'s backup"
    assert (backups / f"{shop_backups[0]}.sha256").exists()
    for stranger in strangers:
        assert stranger.exists(), f"{stranger.name} was touched"


def test_keep_min_protects_old_backups_and_ignores_failed_and_unchecked_ones(
    shop: str, tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """With BACKUP_KEEP_MIN=3 and every old backup past 7 days: the new backup and the two
    newest good old ones stay; a quarantined backup stays but does not count; a backup
    without its checksum does not count and is pruned."""
    backups = tmp_path / "backups"
    good = [
        fake_backup(backups, f"{shop}_daily_{stamp(n)}.sql.gz", (30 - n) * DAY) for n in range(5)
    ]
    quarantined = fake_backup(
        backups, f"{shop}_daily_{stamp(8)}.sql.gz.failed", 10 * DAY, checksum=False
    )
    unchecked = fake_backup(backups, f"{shop}_daily_{stamp(9)}.sql.gz", 9 * DAY, checksum=False)

    result = run(shop, BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="7", BACKUP_KEEP_MIN="3")

    assert result.returncode == 0, describe(result)
    assert [p.exists() for p in good] == [False, False, False, True, True]
    assert quarantined.exists()
    assert not unchecked.exists()


def test_keep_min_keeps_the_last_old_backup_in_the_dry_run(
    shop: str, tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """With BACKUP_KEEP_MIN=2 the dry run keeps the newest old backup beside the next one."""
    backups = tmp_path / "backups"
    newest_old = fake_backup(backups, f"{shop}_daily_{stamp(2)}.sql.gz", 20 * DAY)
    oldest = fake_backup(backups, f"{shop}_daily_{stamp(1)}.sql.gz", 40 * DAY)

    result = run(
        shop, "--dry-run", BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="7", BACKUP_KEEP_MIN="2"
    )

    assert result.returncode == 0, describe(result)
    line = next(ln for ln in result.stdout.splitlines() if newest_old.name in ln)
    assert "keep" in line and "BACKUP_KEEP_MIN" in line, describe(result)
    line = next(ln for ln in result.stdout.splitlines() if oldest.name in ln)
    assert "DELETE" in line, describe(result)


# --- failures ---------------------------------------------------------------------------


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Factory making a file undeletable (even by root) with ``chattr +i``; undone afterwards."""
    made: list[Path] = []
    chattr = shutil.which("chattr")

    def make(path: Path) -> None:
        if chattr is None:
            pytest.skip("chattr is not installed: no way to make a deletion fail as root")
        result = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"this file system refuses chattr +i: {result.stderr.strip()}")
        made.append(path)

    yield make
    for path in made:
        subprocess.run([chattr, "-i", str(path)], capture_output=True, check=False)


def test_a_failed_deletion_exits_7_names_the_files_left_and_keeps_the_backup(
    shop: str,
    tmp_path: Path,
    run: Callable[..., subprocess.CompletedProcess],
    immutable: Callable[[Path], None],
) -> None:
    """An old backup that cannot be deleted: the new backup is made, the run exits 7 naming
    the file, and the stuck backup keeps its checksum; other old backups still go."""
    backups = tmp_path / "backups"
    stuck = fake_backup(backups, f"{shop}_daily_{stamp(1)}.sql.gz", 30 * DAY)
    other = fake_backup(backups, f"{shop}_daily_{stamp(2)}.sql.gz", 30 * DAY)
    immutable(stuck)
    before = names(backups)

    result = run(shop, BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="7")

    assert result.returncode == 7, describe(result)
    assert stuck.exists() and Path(f"{stuck}.sha256").exists()
    assert not other.exists()
    assert stuck.name in result.stderr, describe(result)
    made = new_backups(backups, before, shop)
    assert len(made) == 1 and (backups / f"{made[0]}.sha256").exists(), describe(result)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BACKUP_RETENTION_DAILY", "-1"),
        ("BACKUP_RETENTION_WEEKLY", "four"),
        ("BACKUP_RETENTION_MONTHLY", "1.5"),
        ("BACKUP_KEEP_MIN", "-2"),
    ],
)
def test_a_bad_retention_value_exits_2_before_anything_is_dumped(
    shop: str,
    tmp_path: Path,
    run: Callable[..., subprocess.CompletedProcess],
    variable: str,
    value: str,
) -> None:
    """A negative or non-numeric retention exits 2 naming the variable; nothing is touched."""
    backups = tmp_path / "backups"
    old = fake_backup(backups, f"{shop}_daily_{stamp(1)}.sql.gz", 30 * DAY)
    before = names(backups)

    result = run(shop, **{"BACKUP_DIR": str(backups), variable: value})

    assert result.returncode == 2, describe(result)
    assert variable in result.stderr, describe(result)
    assert names(backups) == before and old.exists()


# --- dry run and listing ----------------------------------------------------------------


def test_dry_run_prints_the_plan_and_changes_nothing(
    shop: str, tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """--dry-run shows each backup's type, age, keep/DELETE and rule; no file changes."""
    backups = tmp_path / "backups"
    old = fake_backup(backups, f"{shop}_daily_{stamp(1)}.sql.gz", 10 * DAY)
    young = fake_backup(backups, f"{shop}_daily_{stamp(2)}.sql.gz", 2 * DAY)
    before = {p.name: p.stat().st_mtime for p in backups.iterdir()}

    result = run(shop, "--dry-run", BACKUP_DIR=str(backups), BACKUP_RETENTION_DAILY="7")

    assert result.returncode == 0, describe(result)
    assert {p.name: p.stat().st_mtime for p in backups.iterdir()} == before
    lines = result.stdout.splitlines()
    old_line = next(ln for ln in lines if old.name in ln)
    assert "DELETE" in old_line and "older than 7 days" in old_line and "10d" in old_line
    young_line = next(ln for ln in lines if young.name in ln)
    assert "keep" in young_line and "within 7 days" in young_line and "daily" in young_line


def test_list_shows_every_backup_newest_first_with_checksum_state(
    shop: str, tmp_path: Path, run: Callable[..., subprocess.CompletedProcess]
) -> None:
    """--list shows only this database's backups, newest first, with type and checksum state."""
    backups = tmp_path / "backups"
    made = run(shop, BACKUP_DIR=str(backups))
    assert made.returncode == 0, describe(made)
    fake_backup(backups, f"{shop}_weekly_{stamp(2)}_schema.sql.gz", 3 * DAY)
    fake_backup(backups, f"{shop}_monthly_{stamp(1)}.sql.gz", 40 * DAY, checksum=False)
    fake_backup(backups, f"other_daily_{stamp(1)}.sql.gz", 1 * DAY)

    result = run(shop, "--list", BACKUP_DIR=str(backups))

    assert result.returncode == 0, describe(result)
    rows = [ln for ln in result.stdout.splitlines() if f"{shop}_" in ln]
    assert [r.split()[1] for r in rows] == ["daily", "weekly", "monthly"], describe(result)
    assert "schema" in rows[1]
    assert "present" in rows[0] and "present" in rows[1] and "missing" in rows[2]
    assert "other_daily" not in result.stdout


# --- remote -----------------------------------------------------------------------------


def put_backup(
    s3: S3Endpoint, bucket: str, key: str, age: dt.timedelta, checksum: bool = True
) -> None:
    """A small backup object (and its ``.sha256`` object) whose LastModified is ``age`` ago."""
    client = s3.client()
    client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"-- PostgreSQL database dump\n"))
    backdate_object(s3, bucket, key, age)
    if checksum:
        client.put_object(Bucket=bucket, Key=key + ".sha256", Body=b"0" * 64 + b"  x\n")
        backdate_object(s3, bucket, key + ".sha256", age)


def test_remote_retention_deletes_old_objects_with_their_checksums(
    shop: str,
    tmp_path: Path,
    s3: S3Endpoint,
    bucket: str,
    run: Callable[..., subprocess.CompletedProcess],
) -> None:
    """Under ``${prefix}daily/``: this database's old objects go with their .sha256; young
    ones, other databases' and other types' objects stay; the new backup is uploaded."""
    prefix = "backups/"
    old = f"{prefix}daily/{shop}_daily_{stamp(1)}.sql.gz"
    young = f"{prefix}daily/{shop}_daily_{stamp(2)}.sql.gz"
    foreign = f"{prefix}daily/other_daily_{stamp(1)}.sql.gz"
    weekly = f"{prefix}weekly/{shop}_weekly_{stamp(1)}.sql.gz"
    for key, age in ((old, 10 * DAY), (young, 2 * DAY), (foreign, 99 * DAY), (weekly, 99 * DAY)):
        put_backup(s3, bucket, key, age)

    result = run(
        shop,
        BACKUP_DIR=str(tmp_path / "backups"),
        BACKUP_RETENTION_DAILY="7",
        **s3.env(bucket, prefix),
    )

    assert result.returncode == 0, describe(result)
    keys = set(s3.list_keys(bucket))
    assert old not in keys and f"{old}.sha256" not in keys
    assert {young, f"{young}.sha256", foreign, f"{foreign}.sha256", weekly} <= keys
    uploaded = [
        k for k in keys if k.startswith(f"{prefix}daily/{shop}_daily_") and k.endswith(".sql.gz")
    ]
    assert len(uploaded) == 2, sorted(keys)


def test_remote_keep_min_and_dry_run_and_listing(
    shop: str,
    tmp_path: Path,
    s3: S3Endpoint,
    bucket: str,
    run: Callable[..., subprocess.CompletedProcess],
) -> None:
    """The dry run shows the remote plan, keep-min protects old remote backups, --list lists."""
    prefix = "db/"
    old = [f"{prefix}daily/{shop}_daily_{stamp(n)}.sql.gz" for n in range(3)]
    for n, key in enumerate(old):
        put_backup(s3, bucket, key, (30 - n) * DAY)
    env = {
        "BACKUP_DIR": str(tmp_path / "backups"),
        "BACKUP_RETENTION_DAILY": "7",
        "BACKUP_KEEP_MIN": "2",
        **s3.env(bucket, prefix),
    }

    dry = run(shop, "--dry-run", **env)
    assert dry.returncode == 0, describe(dry)
    assert set(s3.list_keys(bucket)) == {*old, *(f"{k}.sha256" for k in old)}
    assert any(old[0].rsplit("/", 1)[1] in ln and "DELETE" in ln for ln in dry.stdout.splitlines())

    made = run(shop, **env)
    assert made.returncode == 0, describe(made)
    keys = set(s3.list_keys(bucket))
    assert old[2] in keys, "the newest old backup is one of the 2 kept"
    assert old[0] not in keys and old[1] not in keys

    listed = run(shop, "--list", **env)
    assert listed.returncode == 0, describe(listed)
    remote_rows = [ln for ln in listed.stdout.splitlines() if ln.startswith("s3")]
    assert len(remote_rows) == 2 and all("present" in ln for ln in remote_rows), describe(listed)


# --- lifecycle example ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baked_project", "expected"),
    [
        ({}, {"backups/daily/": 7, "backups/weekly/": 28, "backups/monthly/": 360}),
        (
            {"backup_retention_daily": "0", "backup_retention_monthly": "2"},
            {"backups/weekly/": 28, "backups/monthly/": 60},
        ),
    ],
    indirect=["baked_project"],
    ids=["defaults", "zero-daily"],
)
def test_lifecycle_example_is_accepted_by_s3_and_matches_the_retention(
    baked_project: Path, s3: S3Endpoint, bucket: str, expected: dict[str, int]
) -> None:
    """The generated s3-lifecycle.example.json is valid JSON that S3 accepts, one rule per type."""
    path = baked_project / "tools" / "db-backup" / "s3-lifecycle.example.json"
    document = json.loads(path.read_text())

    expiring = {
        rule["Filter"]["Prefix"]: rule["Expiration"]["Days"]
        for rule in document["Rules"]
        if "Expiration" in rule
    }
    assert expiring == expected

    result = s3.aws(
        [
            "s3api",
            "put-bucket-lifecycle-configuration",
            "--bucket",
            bucket,
            "--lifecycle-configuration",
            f"file://{path}",
        ]
    )
    assert result.returncode == 0, result.stderr
    stored = s3.client().get_bucket_lifecycle_configuration(Bucket=bucket)
    assert len(stored["Rules"]) == len(document["Rules"])
