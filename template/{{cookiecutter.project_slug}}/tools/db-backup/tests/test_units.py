"""Human-readable sizes, durations and rates in log lines and listings."""

from __future__ import annotations

import pytest

from db_backup.units import human_duration, human_rate, human_size


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (20 * 1024**2, "20.0 MiB")],
)
def test_sizes_are_written_in_binary_units(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.42, "0.4 s"), (12.34, "12.3 s"), (245, "4m 05s"), (7380, "2h 03m")]
)
def test_durations_switch_units_as_they_grow(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_a_rate_is_a_size_per_second() -> None:
    assert human_rate(3 * 1024**2, 2.0) == "1.5 MiB/s"
