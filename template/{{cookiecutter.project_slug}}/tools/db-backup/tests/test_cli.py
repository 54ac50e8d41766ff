"""The command line: flags, modes, and how bad input is reported (exit 2 with the usage)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from db_backup.cli import UsageError, is_schema_only_name, main, parse_options

LINE = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] \[(?P<level>[A-Z]+)\] (?P<msg>.*)$")


@pytest.mark.parametrize(
    ("argv", "backup_type"),
    [
        ([], None),
        (["--type=daily"], "daily"),
        (["--type", "weekly"], "weekly"),
        (["--type=monthly"], "monthly"),
        (["--type", "auto"], "auto"),
    ],
)
def test_type_is_accepted_with_equals_or_space(argv: list[str], backup_type: str | None) -> None:
    """Both ``--type=X`` and ``--type X`` set the type; without it the settings decide."""
    assert parse_options(argv).backup_type == backup_type


def test_flags_set_their_options() -> None:
    """--schema-only, --verify and -v are independent switches of a backup run."""
    options = parse_options(["--schema-only", "--verify", "-v"])
    assert (options.mode, options.schema_only, options.verify, options.verbose) == (
        "backup",
        True,
        True,
        True,
    )
    assert parse_options(["--verbose"]).verbose


@pytest.mark.parametrize(
    ("argv", "mode"),
    [
        (["--dry-run"], "dry-run"),
        (["--list"], "list"),
        (["--verify-file", "x.sql.gz"], "verify-file"),
        (["--verify-file=x.sql.gz"], "verify-file"),
    ],
)
def test_modes(argv: list[str], mode: str) -> None:
    """--dry-run, --list and --verify-file select a mode other than a backup."""
    assert parse_options(argv).mode == mode


def test_verify_file_keeps_the_path() -> None:
    """--verify-file PATH carries the path to verification."""
    assert parse_options(["--verify-file", "b/x.sql.gz"]).verify_file == Path("b/x.sql.gz")


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--type=hourly"],
        ["--type"],
        ["--type", "Daily "],
        ["--schema"],  # abbreviations are refused: a typo must not pass as a flag
        ["--dry-run", "--list"],
        ["--verify-file"],
        ["extra-argument"],
        ["-x"],
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str]) -> None:
    """Unknown flags, bad values and conflicting modes raise UsageError (exit 2)."""
    with pytest.raises(UsageError) as caught:
        parse_options(argv)
    assert caught.value.exit_code == 2


def test_unknown_flag_exits_2_with_one_error_line_and_the_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The error is one log line on stderr, followed by the usage; stdout stays empty."""
    assert main(["--bogus"], environ={}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    match = LINE.match(lines[0])
    assert match and match["level"] == "ERROR" and "--bogus" in match["msg"]
    assert lines[1].startswith("usage: db-backup")


def test_bad_flag_error_is_json_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    """With BACKUP_LOG_FORMAT=json even a usage error is a JSON log object."""
    assert main(["--type=hourly"], environ={"BACKUP_LOG_FORMAT": "json"}) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith("{") and '"level": "ERROR"' in first and "hourly" in first


def test_help_exits_0_and_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """-h prints the usage, the variables and the exit codes, then exits 0."""
    assert main(["-h"], environ={}) == 0
    out = capsys.readouterr().out
    for text in ("--type", "--schema-only", "--verify", "PGPASSWORD", "BACKUP_DIR", "Exit codes"):
        assert text in out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shop_daily_20240101_020000.sql.gz", False),
        ("shop_daily_20240101_020000_schema.sql.gz", True),
        ("shop_weekly_20240101_020000_schema.sql.zst", True),
        ("shop_weekly_20240101_020000_schema.sql.gz.failed", True),
        ("notes.txt", False),
    ],
)
def test_schema_only_is_read_from_the_name(name: str, expected: bool) -> None:
    """--verify-file knows a schema-only backup by its ``_schema`` suffix."""
    assert is_schema_only_name(name) is expected
