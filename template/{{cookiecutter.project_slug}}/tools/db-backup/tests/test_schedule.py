"""Schedules and durations: what ``--schedule``, ``BACKUP_SCHEDULE`` and ``--max-age`` accept."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from db_backup.cli import Command, main, parse_command, schedule_of, scheduled_arguments
from db_backup.durations import format_duration, parse_duration
from db_backup.errors import ConfigError
from db_backup.schedule import Cron, Every, clock_zone, parse_schedule

HAS_CRONITER = importlib.util.find_spec("croniter") is not None
needs_croniter = pytest.mark.skipif(
    not HAS_CRONITER, reason="croniter (the schedule extra) is not installed"
)
UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("6h", 21_600),
        ("26h", 93_600),
        ("90m", 5_400),
        ("1h30m", 5_400),
        ("7d", 604_800),
        ("2w", 1_209_600),
        ("1.5h", 5_400),
        (" 6H ", 21_600),
        ("1h 30m", 5_400),
    ],
)
def test_durations_are_read_with_their_units(text: str, seconds: float) -> None:
    """Units s, m, h, d, w, alone or in a row, any case and spacing."""
    assert parse_duration(text, "X") == seconds


@pytest.mark.parametrize("text", ["", "26", "6 hours", "h", "-5m", "0s", "5y", "400d", "1e3s"])
def test_bad_durations_are_one_config_error_naming_the_setting(text: str) -> None:
    """No unit, an unknown unit, zero, or more than a year: exit 2 naming the variable."""
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, "BACKUP_MAX_AGE")
    assert caught.value.exit_code == 2
    assert caught.value.msg.startswith("BACKUP_MAX_AGE must be")
    assert caught.value.detail is None and caught.value.hint is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "30s"), (21_600, "6h"), (5_400, "1h30m"), (93_600, "26h"), (61, "1m1s")],
)
def test_durations_are_written_back_shortly(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("@every 30s", 30), ("@every 6h", 21_600), ("@EVERY   2s", 2), ("@every 1h30m", 5_400)],
)
def test_every_needs_no_library_and_counts_from_the_previous_slot(
    text: str, seconds: float
) -> None:
    """``@every`` is an interval: each slot is the previous one plus the duration."""
    schedule = parse_schedule(text)
    assert isinstance(schedule, Every) and schedule.seconds == seconds
    start = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert schedule.next_after(start) == start + dt.timedelta(seconds=seconds)


def test_every_counts_elapsed_time_across_a_daylight_saving_change() -> None:
    """One hour after 01:30 CET on the night clocks go forward is 03:30 CEST, an hour later."""
    berlin = ZoneInfo("Europe/Berlin")
    before = dt.datetime(2026, 3, 29, 1, 30, tzinfo=berlin)
    after = parse_schedule("@every 1h").next_after(before)
    assert after.timestamp() - before.timestamp() == 3600
    assert (after.hour, after.minute, after.utcoffset()) == (3, 30, dt.timedelta(hours=2))


@needs_croniter
@pytest.mark.parametrize(
    ("text", "after", "expected"),
    [
        ("30 2 * * *", dt.datetime(2026, 1, 1, 12, 0), dt.datetime(2026, 1, 2, 2, 30)),
        ("30 2 * * *", dt.datetime(2026, 1, 1, 1, 0), dt.datetime(2026, 1, 1, 2, 30)),
        ("@hourly", dt.datetime(2026, 1, 1, 12, 10), dt.datetime(2026, 1, 1, 13, 0)),
        ("@daily", dt.datetime(2026, 1, 1, 12, 10), dt.datetime(2026, 1, 2, 0, 0)),
        ("@weekly", dt.datetime(2026, 1, 1, 12, 10), dt.datetime(2026, 1, 4, 0, 0)),  # Sunday
        ("@monthly", dt.datetime(2026, 1, 15), dt.datetime(2026, 2, 1)),
        ("*/15 * * * 1-5", dt.datetime(2026, 1, 2, 23, 50), dt.datetime(2026, 1, 5, 0, 0)),
    ],
)
def test_cron_expressions_and_macros_name_the_next_slot(
    text: str, after: dt.datetime, expected: dt.datetime
) -> None:
    schedule = parse_schedule(text)
    assert isinstance(schedule, Cron)
    assert schedule.next_after(after.replace(tzinfo=UTC)) == expected.replace(tzinfo=UTC)


@needs_croniter
def test_cron_follows_the_zone_across_a_daylight_saving_change() -> None:
    """02:30 every day in Berlin is 01:30 UTC in winter and 00:30 UTC in summer."""
    berlin = ZoneInfo("Europe/Berlin")
    schedule = parse_schedule("30 2 * * *")
    winter = schedule.next_after(dt.datetime(2026, 1, 10, 12, tzinfo=berlin))
    summer = schedule.next_after(dt.datetime(2026, 7, 10, 12, tzinfo=berlin))
    assert winter.astimezone(UTC).hour == 1 and summer.astimezone(UTC).hour == 0


BAD_SCHEDULES = [
    ("", "is empty"),
    ("@every", "needs a duration"),
    ("@every soon", "must be a duration"),
    ("@every 0s", "must be between"),
    ("@reboot", "is not a schedule"),
    ("@fortnightly", "is not a schedule"),
    ("0 2 * *", "must have five fields"),
    ("0 0 2 * * *", "must have five fields"),
]


@pytest.mark.parametrize(
    ("text", "says"), BAD_SCHEDULES, ids=[t or "empty" for t, _ in BAD_SCHEDULES]
)
def test_bad_schedules_are_one_config_error_line(text: str, says: str) -> None:
    """Each is exit 2 with one line that names the setting (no detail, no hint)."""
    with pytest.raises(ConfigError) as caught:
        parse_schedule(text, "BACKUP_SCHEDULE")
    assert says in caught.value.msg and "BACKUP_SCHEDULE" in caught.value.msg
    assert caught.value.detail is None and caught.value.hint is None


@needs_croniter
@pytest.mark.parametrize("text", ["61 * * * *", "* 25 * * *", "0 2 * * funday"])
def test_out_of_range_cron_fields_are_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a valid cron expression"):
        parse_schedule(text)


def test_cron_without_croniter_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without croniter a cron expression is exit 2 naming croniter and its Debian package."""
    monkeypatch.setitem(sys.modules, "croniter", None)  # import croniter now fails
    with pytest.raises(ConfigError) as caught:
        parse_schedule("30 2 * * *")
    assert "croniter" in caught.value.msg and "python3-croniter" in caught.value.msg
    assert isinstance(parse_schedule("@every 1h"), Every)  # intervals still work


def test_zone_is_backup_tz_then_tz() -> None:
    assert clock_zone({"BACKUP_TZ": "Europe/Berlin", "TZ": "UTC"}) == ZoneInfo("Europe/Berlin")
    assert clock_zone({"TZ": "America/New_York"}) == ZoneInfo("America/New_York")
    assert clock_zone({"TZ": ":UTC"}) == ZoneInfo("UTC")
    with pytest.raises(ConfigError, match="BACKUP_TZ 'Mars/Olympus' is not a time zone"):
        clock_zone({"BACKUP_TZ": "Mars/Olympus"})


def test_schedule_comes_from_the_flag_or_backup_schedule() -> None:
    """The flag wins; a bare --schedule takes BACKUP_SCHEDULE, which alone schedules nothing."""
    env = {"BACKUP_SCHEDULE": "@every 1h"}
    assert schedule_of(parse_command(["--schedule=@daily"]), env) == "@daily"
    assert schedule_of(parse_command(["--schedule"]), env) == "@every 1h"
    assert schedule_of(parse_command([]), env) is None
    assert schedule_of(parse_command(["--once"]), env) is None
    assert schedule_of(parse_command(["--list"]), env) is None
    assert schedule_of(parse_command([]), {}) is None
    with pytest.raises(ConfigError, match="needs BACKUP_SCHEDULE"):
        schedule_of(parse_command(["--schedule"]), {})


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--schedule=@every 2s"], {}, ["--type=auto", "--once"]),
        (["--schedule", "@every 2s", "--verify"], {}, ["--verify", "--type=auto", "--once"]),
        (["--schedule", "--verify", "--type=daily"], {}, ["--verify", "--type=daily", "--once"]),
        ([], {"BACKUP_TYPE": "weekly"}, ["--once"]),
        (["-v", "--schema-only"], {}, ["-v", "--schema-only", "--type=auto", "--once"]),
        (["--schedule=@daily", "--verify-remote"], {}, ["--verify-remote", "--once"]),
    ],
)
def test_scheduled_runs_get_the_other_flags(
    argv: list[str], env: dict[str, str], expected: list[str]
) -> None:
    """Each run: the flags as given less --schedule, --type=auto unless a type is set, --once."""
    assert scheduled_arguments(parse_command(argv), env) == expected


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--schedule=@daily", "--list"], "--schedule runs backups"),
        (["--schedule=@daily", "--once"], "contradict"),
        (["--max-age=2h"], "--max-age goes with --check"),
        (["--check", "--list"], "not allowed with"),
    ],
)
def test_contradictory_flags_exit_2(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, {}) == 2
    assert says in capsys.readouterr().err


def test_a_bad_schedule_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad BACKUP_SCHEDULE stops the scheduler before it starts: exit 2, one ERROR line."""
    environ = {
        "DB_BACKUP_PROJECT_ROOT": str(tmp_path),
        "BACKUP_SCHEDULE": "every day",
        "PGPASSWORD": "x",
    }
    assert main(["--schedule"], environ) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(
        r"\[ERROR\] BACKUP_SCHEDULE 'every day' must have five", err[0]
    )


def test_command_keeps_the_arguments() -> None:
    command = parse_command(["--check", "--max-age", "3h"])
    assert isinstance(command, Command) and command.options.mode == "check"
    assert command.max_age == "3h" and command.argv == ("--check", "--max-age", "3h")
