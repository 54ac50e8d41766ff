"""File names: the contract pattern, distinct names per run, checksum lines, temporary names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from db_backup.checksums import checksum_line
from db_backup.compression import Compression
from db_backup.dump import free_filename, partial_name, pg_dump_command
from db_backup.naming import backup_filename, checksum_filename, parse_backup_name
from db_backup.tools import parse_major_version

WHEN = dt.datetime(2024, 1, 31, 23, 59, 58)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "shop_daily_20240131_235958.sql.gz"),
        ({"schema_only": True}, "shop_daily_20240131_235958_schema.sql.gz"),
        ({"compression": "zstd"}, "shop_daily_20240131_235958.sql.zst"),
    ],
)
def test_backup_filename_follows_the_contract(kwargs: dict[str, object], expected: str) -> None:
    """``${POSTGRES_DB}_${type}_${YYYYmmdd_HHMMSS}[_schema].sql.gz``."""
    assert backup_filename("shop", "daily", WHEN, **kwargs) == expected  # type: ignore[arg-type]


def test_names_round_trip_through_the_parser() -> None:
    """A name the tool makes is recognised as this database's backup."""
    name = backup_filename("shop", "weekly", WHEN, schema_only=True)
    parsed = parse_backup_name("shop", name)
    assert parsed is not None
    assert (parsed.backup_type, parsed.schema_only, parsed.timestamp) == ("weekly", True, WHEN)


@pytest.mark.parametrize(
    "name",
    [
        "shop_daily_daily_20240131_235958.sql.gz",  # database "shop_daily"
        "shop_daily_stats_daily_20240131_235958.sql.gz",  # database "shop_daily_stats"
        "shop_weekly_agg_monthly_20240131_235958_schema.sql.gz",  # "shop_weekly_agg"
        "shopping_daily_20240131_235958.sql.gz",
        "shop_hourly_20240131_235958.sql.gz",
        "shop_daily_20240131_235958.sql",
        ".shop_daily_20240131_235958.sql.gz.partial-12",
    ],
)
def test_other_names_are_not_ours(name: str) -> None:
    """Names of other databases, unknown types and temporary files are not backups of shop."""
    assert parse_backup_name("shop", name) is None


def test_checksum_file_is_sha256sum_format_with_the_base_name() -> None:
    """``<hex>  <basename>`` so ``sha256sum -c`` works wherever the pair is copied."""
    assert checksum_filename("a.sql.gz") == "a.sql.gz.sha256"
    assert checksum_filename("a.sql.gz.failed") == "a.sql.gz.sha256.failed"
    assert checksum_line("ab" * 32, "a.sql.gz") == f"{'ab' * 32}  a.sql.gz\n"


def test_same_second_runs_get_distinct_names(tmp_path: Path) -> None:
    """An existing backup (or a lone checksum) pushes the new name one second on."""
    gzip = Compression("gzip", 3)
    first = free_filename(tmp_path, "shop", "daily", WHEN, schema_only=False, compression=gzip)
    assert first == "shop_daily_20240131_235958.sql.gz"
    (tmp_path / first).touch()
    second = free_filename(tmp_path, "shop", "daily", WHEN, schema_only=False, compression=gzip)
    assert second == "shop_daily_20240131_235959.sql.gz"
    (tmp_path / checksum_filename(second)).touch()
    third = free_filename(tmp_path, "shop", "daily", WHEN, schema_only=False, compression=gzip)
    assert third == "shop_daily_20240201_000000.sql.gz"


def test_partial_name_is_hidden_and_per_process() -> None:
    """The file being written is a dot-file no backup pattern matches."""
    name = partial_name("shop_daily_20240131_235958.sql.gz", 42)
    assert name == ".shop_daily_20240131_235958.sql.gz.partial-42"
    assert parse_backup_name("shop", name) is None


@pytest.mark.parametrize(
    ("schema_only", "verbose", "extra"),
    [(False, False, []), (True, False, ["--schema-only"]), (True, True, ["--schema-only", "-v"])],
)
def test_pg_dump_command(schema_only: bool, verbose: bool, extra: list[str]) -> None:
    """Plain format with owners and grants, never a prompt; no connection data in argv."""
    argv = pg_dump_command("/usr/bin/pg_dump", schema_only=schema_only, verbose=verbose)
    assert argv[:3] == ["/usr/bin/pg_dump", "--format=plain", "--no-password"]
    assert argv[3:] == [("--verbose" if flag == "-v" else flag) for flag in extra]


def test_pg_dump_command_without_ownership() -> None:
    """BACKUP_OWNERSHIP=drop: the dump leaves owners and grants out."""
    argv = pg_dump_command(
        "/usr/bin/pg_dump", schema_only=False, verbose=False, keep_ownership=False
    )
    assert argv == [
        "/usr/bin/pg_dump",
        "--format=plain",
        "--no-owner",
        "--no-privileges",
        "--no-password",
    ]


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ("pg_dump (PostgreSQL) 15.4 (Debian 15.4-1.pgdg120+1)", 15),
        ("pg_dump (PostgreSQL) 17.0", 17),
        ("pg_dump (PostgreSQL) 9.6.24", 9),
        ("psql (PostgreSQL) 16beta1", 16),
    ],
)
def test_client_major_version(output: str, major: int) -> None:
    """The major version is read from ``--version`` output."""
    assert parse_major_version(output) == major
