"""Prometheus textfile metrics: names, labels, merging, and what a failed run leaves."""

from __future__ import annotations

from pathlib import Path

from db_backup.metrics import RunMetrics, labels, parse_samples, write_metrics


def run(exit_code: int, finished: float, size: int, backup_type: str = "daily") -> RunMetrics:
    return RunMetrics("shop", backup_type, exit_code, finished, 12.5, size, exit_code == 0)


def test_success_writes_every_metric(tmp_path: Path) -> None:
    """A good run writes the spec's three metrics plus exit code and last run time."""
    path = tmp_path / "backup.prom"
    write_metrics(path, run(0, 1700000000, 1234))
    text = path.read_text()
    own = labels("shop", "daily")
    for line in (
        f"backup_last_success_timestamp{own} 1700000000",
        f"backup_size_bytes{own} 1234",
        f"backup_duration_seconds{own} 12.500",
        f"backup_last_exit_code{own} 0",
        f"backup_last_run_timestamp{own} 1700000000",
        "# TYPE backup_size_bytes gauge",
    ):
        assert line in text


def test_failure_keeps_the_last_success_timestamp(tmp_path: Path) -> None:
    """A failed run records its exit code but leaves the last success time as it was."""
    path = tmp_path / "backup.prom"
    write_metrics(path, run(0, 1700000000, 1234))
    write_metrics(path, run(3, 1700086400, 0))
    samples = parse_samples(path.read_text())
    own = labels("shop", "daily")
    assert samples[("backup_last_success_timestamp", own)] == "1700000000"
    assert samples[("backup_last_exit_code", own)] == "3"
    assert samples[("backup_last_run_timestamp", own)] == "1700086400"
    assert samples[("backup_size_bytes", own)] == "0"


def test_other_types_in_the_file_are_kept(tmp_path: Path) -> None:
    """Daily and weekly runs share one file without erasing each other."""
    path = tmp_path / "backup.prom"
    write_metrics(path, run(0, 1700000000, 1, "weekly"))
    write_metrics(path, run(0, 1700000100, 2, "daily"))
    samples = parse_samples(path.read_text())
    assert samples[("backup_size_bytes", labels("shop", "weekly"))] == "1"
    assert samples[("backup_size_bytes", labels("shop", "daily"))] == "2"


def test_label_values_are_escaped() -> None:
    """Quotes and backslashes in a database name cannot break the format."""
    assert labels('a"b\\c', "daily") == '{database="a\\"b\\\\c",type="daily"}'
