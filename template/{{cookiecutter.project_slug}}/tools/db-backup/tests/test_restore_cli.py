"""db-restore's command line and the pure rules behind it: names, marks, which backup is latest."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from db_backup.command import UsageError
from db_backup.connection import ConnectionInfo
from db_backup.databases import (
    IN_PROGRESS,
    MAX_IDENTIFIER_BYTES,
    Server,
    check_database_name,
    stamped_name,
)
from db_backup.errors import ConfigError
from db_backup.restore_cli import parse_options
from db_backup.restore_source import choose_backup

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5)


def test_the_defaults_restore_the_latest_backup_into_a_new_database() -> None:
    """No arguments: latest, any type, local then S3, a generated target, no swap."""
    options = parse_options([])
    request = options.request
    assert (request.backup, request.backup_type, request.source, request.target) == (
        "latest",
        None,
        None,
        None,
    )
    assert not (request.replace or request.confirmed or request.dry_run or options.listing)


def test_every_flag_reaches_the_request() -> None:
    """Each flag of the contract sets its field."""
    options = parse_options(
        ["x.sql.gz", "--type=weekly", "--from=s3", "--target=t", "--replace", "--yes", "-v"]
    )
    request = options.request
    assert (request.backup, request.backup_type, request.source, request.target) == (
        "x.sql.gz",
        "weekly",
        "s3",
        "t",
    )
    assert request.replace and request.confirmed and options.verbose


@pytest.mark.parametrize(
    "argv",
    [
        ["--type=auto"],
        ["--from=ftp"],
        ["--target="],
        ["a", "b"],
        ["--list", "--replace"],
        ["--list", "--dry-run"],
        ["--log-format=xml"],
        ["--bogus"],
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str]) -> None:
    """Every malformed command line is a ``UsageError`` (exit 2)."""
    with pytest.raises(UsageError):
        parse_options(argv)


def test_stamped_names_fit_in_63_bytes_and_never_split_a_character() -> None:
    """A long (multi-byte) database name is cut so the suffix always survives."""
    assert stamped_name("shop", "restored", WHEN) == "shop_restored_20260102_030405"
    name = stamped_name("é" * 40, "before_restore", WHEN)
    assert len(name.encode()) <= MAX_IDENTIFIER_BYTES
    assert name.endswith("_before_restore_20260102_030405")
    name.encode().decode("utf-8")  # whole characters only


@pytest.mark.parametrize(
    ("name", "problem"),
    [("", "empty"), ("a\nb", "control characters"), ("x" * 64, "64 bytes long")],
)
def test_unusable_target_names_are_configuration_errors(name: str, problem: str) -> None:
    """PostgreSQL would cut or refuse these names: refuse them first, with the reason."""
    with pytest.raises(ConfigError, match=problem):
        check_database_name(name, "--target")


class _Answers(Server):
    """A server whose catalogue answers are given: for the orphan rules alone."""

    def __init__(self, rows: list[list[str]]) -> None:
        super().__init__(ConnectionInfo("localhost", 5432, "shop", "shop"))
        self.rows = rows

    def run(self, sql: str, *, what: str, database: str | None = None) -> list[list[str]]:
        return self.rows


def test_only_marked_databases_of_dead_runs_are_orphans() -> None:
    """Same host: a dead pid; another host: no session for two minutes; never a stranger."""
    import socket

    here = socket.gethostname()
    old = "2000-01-01T00:00:00Z"
    fresh = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [
        ["dead_here", f"{IN_PROGRESS}: pid 111 on {here} since {old}", "0"],
        ["alive_here", f"{IN_PROGRESS}: pid {os.getpid()} on {here} since {old}", "1"],
        ["gone_elsewhere", f"{IN_PROGRESS}: pid 5 on other-host since {old}", "0"],
        ["busy_elsewhere", f"{IN_PROGRESS}: pid 5 on other-host since {old}", "1"],
        ["young_elsewhere", f"{IN_PROGRESS}: pid 5 on other-host since {fresh}", "0"],
        ["odd_mark", f"{IN_PROGRESS}: something else", "0"],
    ]
    orphans = _Answers(rows).orphans(alive=lambda pid: pid != 111)
    assert [o.name for o in orphans] == ["dead_here", "gone_elsewhere"]


def _backup(directory: Path, name: str, *, checksum: bool = True) -> None:
    (directory / name).write_bytes(b"x")
    if checksum:
        (directory / f"{name}.sha256").write_text(f"{'0' * 64}  {name}\n")


def test_latest_is_the_newest_good_backup_of_the_type_asked_for(tmp_path: Path) -> None:
    """Quarantined, checksum-less and other databases' files are never chosen."""
    _backup(tmp_path, "shop_daily_20260101_010000.sql.gz")
    _backup(tmp_path, "shop_weekly_20260102_010000.sql.zst")
    _backup(tmp_path, "shop_daily_20260103_010000.sql.gz.failed")
    _backup(tmp_path, "shop_daily_20260104_010000.sql.gz", checksum=False)
    _backup(tmp_path, "shop_stats_daily_20260105_010000.sql.gz")

    def latest(backup_type: str | None = None) -> str:
        chosen = choose_backup(
            "latest", database="shop", backup_dir=tmp_path, s3=None, backup_type=backup_type
        )
        return chosen.name

    assert latest() == "shop_weekly_20260102_010000.sql.zst"
    assert latest("daily") == "shop_daily_20260101_010000.sql.gz"
    with pytest.raises(ConfigError, match="no good monthly backup of shop"):
        latest("monthly")


def test_a_named_backup_is_a_path_or_a_name_in_the_backup_directory(tmp_path: Path) -> None:
    """A bare name is looked up in BACKUP_DIR; a missing one is a configuration error."""
    _backup(tmp_path, "shop_daily_20260101_010000.sql.gz")
    by_name = choose_backup(
        "shop_daily_20260101_010000.sql.gz", database="shop", backup_dir=tmp_path, s3=None
    )
    assert by_name.backup.key == str(tmp_path / "shop_daily_20260101_010000.sql.gz")
    with pytest.raises(ConfigError, match="no such backup"):
        choose_backup("nothing.sql.gz", database="shop", backup_dir=tmp_path, s3=None)
    with pytest.raises(ConfigError, match="with 'latest'"):
        choose_backup(
            "shop_daily_20260101_010000.sql.gz",
            database="shop",
            backup_dir=tmp_path,
            s3=None,
            backup_type="daily",
        )
    with pytest.raises(ConfigError, match="needs the S3 settings"):
        choose_backup("s3://bucket/key.sql.gz", database="shop", backup_dir=tmp_path, s3=None)
