"""The listing: this database's backups, newest first, with type, age, size and checksum state."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from pathlib import Path

from db_backup import listing
from db_backup.storage import LocalStore, StoredBackup

NOW = dt.datetime(2025, 6, 15, 12, 0, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


def make_backup(directory: Path, filename: str, age: dt.timedelta, checksum: str | None) -> Path:
    """A backup file; ``checksum`` is "good", "bad" or None (no .sha256)."""
    path = directory / filename
    path.write_bytes(b"-- PostgreSQL database dump\n" * 10)
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))
    if checksum is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if checksum == "good" else "0" * 64
        sidecar = filename.removesuffix(".failed") + ".sha256"
        sidecar += ".failed" if filename.endswith(".failed") else ""
        (directory / sidecar).write_text(f"{digest}  {filename}\n")
    return path


class ListingStore:
    """A remote store's listing over fixed backups."""

    location = "s3"
    label = "remote"

    def __init__(self, backups: list[StoredBackup]) -> None:
        self.backups = backups

    def list_backups(self, database: str, backup_type: str | None = None) -> list[StoredBackup]:
        return [b for b in self.backups if backup_type is None or f"/{backup_type}/" in b.key]


def remote(key: str, size: int, modified: dt.datetime, has_checksum: bool) -> StoredBackup:
    filename = key.rsplit("/", 1)[-1]
    return StoredBackup.for_name(
        "shop", filename, modified, size, has_checksum=has_checksum, key=key, address=f"s3://{key}"
    )


def list_in(directory: Path, *others: object, **options: bool) -> list[listing.ListedBackup]:
    stores = [LocalStore(directory), *others]
    return listing.list_backups(stores, "shop", **options)  # type: ignore[arg-type]


def test_lists_local_and_remote_backups_newest_first(tmp_path: Path) -> None:
    make_backup(tmp_path, "shop_daily_20250614_000000.sql.gz", 1 * DAY, "good")
    make_backup(tmp_path, "shop_weekly_20250601_000000_schema.sql.zst", 14 * DAY, None)
    make_backup(tmp_path, "other_daily_20250614_000000.sql.gz", 0 * DAY, "good")
    make_backup(tmp_path, "shop_daily_daily_20250614_000000.sql.gz", 0 * DAY, "good")
    (tmp_path / "notes.txt").write_text("not a backup")
    store = ListingStore(
        [
            remote("b/monthly/shop_monthly_20250501_000000.sql.gz", 2048, NOW - 45 * DAY, False),
            remote(
                "b/daily/shop_daily_20250615_000000.sql.gz",
                4096,
                NOW - dt.timedelta(hours=12),
                True,
            ),
        ]
    )

    backups = list_in(tmp_path, store)

    assert [(b.location, b.filename, b.checksum) for b in backups] == [
        ("s3", "shop_daily_20250615_000000.sql.gz", "present"),
        ("local", "shop_daily_20250614_000000.sql.gz", "present"),
        ("local", "shop_weekly_20250601_000000_schema.sql.zst", "missing"),
        ("s3", "shop_monthly_20250501_000000.sql.gz", "missing"),
    ]


def test_verified_checksums_tell_ok_from_mismatch(tmp_path: Path) -> None:
    make_backup(tmp_path, "shop_daily_20250614_000000.sql.gz", 1 * DAY, "good")
    make_backup(tmp_path, "shop_daily_20250613_000000.sql.gz", 2 * DAY, "bad")
    make_backup(tmp_path, "shop_daily_20250612_000000.sql.gz", 3 * DAY, None)
    (tmp_path / "shop_daily_20250611_000000.sql.gz.sha256").write_text("garbage\n")
    make_backup(tmp_path, "shop_daily_20250611_000000.sql.gz", 4 * DAY, None)

    backups = list_in(tmp_path, verify_checksums=True)

    assert [b.checksum for b in backups] == ["ok", "MISMATCH", "missing", "unreadable"]


def test_quarantined_backups_are_listed_as_failed(tmp_path: Path) -> None:
    make_backup(tmp_path, "shop_daily_20250614_000000.sql.gz.failed", 1 * DAY, "good")

    backups = list_in(tmp_path, verify_checksums=True)
    out = io.StringIO()
    listing.print_listing(backups, out=out, now=NOW)

    assert [b.checksum for b in backups] == ["ok"]
    assert "daily failed" in out.getvalue()


def test_print_listing_shows_type_age_size_and_checksum(tmp_path: Path) -> None:
    make_backup(tmp_path, "shop_daily_20250614_000000_schema.sql.gz", 1 * DAY, "good")
    out = io.StringIO()

    listing.print_listing(list_in(tmp_path), out=out, now=NOW)

    header, row, summary = out.getvalue().splitlines()
    assert header.split() == ["WHERE", "TYPE", "AGE", "SIZE", "CHECKSUM", "ROLES", "BACKUP"]
    assert row.split()[:7] == ["local", "daily", "schema", "1d", "0h", "280", "B"]
    assert "present" in row and row.endswith("shop_daily_20250614_000000_schema.sql.gz")
    assert summary.startswith("1 backup(s): 1 local")


def test_an_empty_directory_says_so(tmp_path: Path) -> None:
    out = io.StringIO()
    listing.print_listing(list_in(tmp_path / "none"), out=out)
    assert "No backups found." in out.getvalue()


def test_a_backup_with_its_roles_file_says_so(tmp_path: Path) -> None:
    """The roles file is shown beside its backup, never listed as a backup itself."""
    make_backup(tmp_path, "shop_daily_20250614_000000.sql.gz", 1 * DAY, "good")
    make_backup(tmp_path, "shop_daily_20250613_000000.sql.gz", 2 * DAY, "good")
    (tmp_path / "shop_daily_20250614_000000.roles.sql").write_text("CREATE ROLE shop;\n")
    out = io.StringIO()

    backups = list_in(tmp_path)
    listing.print_listing(backups, out=out, now=NOW)

    assert [(b.filename, b.roles) for b in backups] == [
        ("shop_daily_20250614_000000.sql.gz", True),
        ("shop_daily_20250613_000000.sql.gz", False),
    ]
    rows = out.getvalue().splitlines()[1:3]
    assert [row.split()[-2] for row in rows] == ["yes", "-"]
