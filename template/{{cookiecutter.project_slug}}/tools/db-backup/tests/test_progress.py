"""Progress lines: one per interval with bytes, rate and elapsed time; quiet for short ones."""

from __future__ import annotations

import logging

import pytest

from db_backup import progress
from db_backup.progress import Progress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "progress"]


def test_quiet_below_the_interval_then_one_line_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Chunks within the first interval say nothing; each interval after that one line."""
    caplog.set_level(logging.INFO, logger="db_backup")
    clock = Clock()
    meter = Progress("dump", "dumping", interval=30, clock=clock)
    for _ in range(10):
        clock.now += 2
        meter.add(1 << 20)
    assert records(caplog) == []
    clock.now += 15  # 35 s after the start
    meter.add(1 << 20)
    clock.now += 1
    meter.add(1 << 20)  # within the next interval: quiet
    (line,) = records(caplog)
    assert line.levelname == "INFO"
    assert line.getMessage() == "dumping: 11.0 MiB so far, 321.8 KiB/s, 35.0 s elapsed"
    assert line.fields == {
        "event": "progress",
        "stage": "dump",
        "bytes": 11 << 20,
        "total_bytes": None,
        "bytes_per_second": round((11 << 20) / 35),
        "elapsed_seconds": 35.0,
    }
    clock.now += 30
    meter.add(0)
    assert len(records(caplog)) == 2


def test_a_known_total_gives_a_percentage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="db_backup")
    clock = Clock()
    meter = Progress("upload", "uploading x.sql.gz", total=4 << 20, interval=1, clock=clock)
    clock.now += 2
    meter.add(1 << 20)
    (line,) = records(caplog)
    assert "1.0 MiB of 4.0 MiB (25%) so far" in line.getMessage()


@pytest.mark.parametrize(
    ("raw", "seconds"), [("", 30.0), ("0.5", 0.5), ("junk", 30.0), ("-1", 30.0)]
)
def test_interval_can_be_shortened_for_tests(
    raw: str, seconds: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(progress.INTERVAL_VARIABLE, raw)
    assert progress.interval_seconds() == seconds
