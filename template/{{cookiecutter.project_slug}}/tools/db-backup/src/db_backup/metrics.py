"""Prometheus textfile-collector metrics, rewritten atomically at the end of every run.

Samples for other databases or types already in the file are kept, so one
file can serve several schedules. ``backup_last_success_timestamp`` keeps its
previous value when a run fails, so an alert on its age fires rather than the
series disappearing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_text_atomic

HELP = {
    "backup_last_success_timestamp": "Unix timestamp of last successful backup",
    "backup_last_run_timestamp": "Unix timestamp of the end of the last backup run",
    "backup_last_exit_code": "Exit code of the last backup run (0 is success)",
    "backup_size_bytes": "Size of last backup in bytes (0 when the last run made none)",
    "backup_duration_seconds": "Duration of backup operation in seconds",
    "backup_last_verified_timestamp": "Unix timestamp of the last test restore a backup passed",
}
METRIC_NAMES = tuple(HELP)

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})?\s+(?P<value>\S+)")


@dataclass(frozen=True)
class RunMetrics:
    """What one run reports."""

    database: str
    backup_type: str
    exit_code: int
    finished_at: float  # unix time
    duration_seconds: float
    size_bytes: int
    succeeded: bool


def labels(database: str, backup_type: str) -> str:
    """``{database="...",type="..."}`` with Prometheus escaping."""
    pairs = f'database="{_escape(database)}",type="{_escape(backup_type)}"'
    return "{" + pairs + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_samples(text: str) -> dict[tuple[str, str], str]:
    """``{(metric name, label text): value}`` for every sample line of a textfile."""
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if match and not line.startswith("#"):
            samples[(match["name"], match["labels"] or "")] = match["value"]
    return samples


def render(run: RunMetrics, previous: dict[tuple[str, str], str]) -> str:
    """The whole file: this run's samples merged over the previous ones."""
    own = labels(run.database, run.backup_type)
    samples = {k: v for k, v in previous.items() if k[0] in HELP}
    samples[("backup_last_run_timestamp", own)] = _number(run.finished_at)
    samples[("backup_last_exit_code", own)] = str(run.exit_code)
    samples[("backup_duration_seconds", own)] = f"{run.duration_seconds:.3f}"
    samples[("backup_size_bytes", own)] = str(run.size_bytes)
    if run.succeeded:
        samples[("backup_last_success_timestamp", own)] = _number(run.finished_at)
    return _text(samples)


def _text(samples: dict[tuple[str, str], str]) -> str:
    """The textfile holding ``samples``, metric by metric with HELP and TYPE lines."""
    lines = []
    for name in METRIC_NAMES:
        rows = sorted((lab, value) for (metric, lab), value in samples.items() if metric == name)
        if not rows:
            continue
        lines.append(f"# HELP {name} {HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(f"{name}{lab} {value}" for lab, value in rows)
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value))


def write_metrics(path: Path, run: RunMetrics) -> None:
    """Merge this run into the textfile at ``path`` and replace it atomically (mode 0644)."""
    write_text_atomic(path, render(run, _previous(path)), mode=0o644)


def write_verified(path: Path, database: str, backup_type: str, when: float) -> None:
    """Record that a backup of this type passed a test restore (``--verify-remote``).

    Only ``backup_last_verified_timestamp`` changes; every other sample is kept.
    """
    samples = {k: v for k, v in _previous(path).items() if k[0] in HELP}
    samples[("backup_last_verified_timestamp", labels(database, backup_type))] = _number(when)
    write_text_atomic(path, _text(samples), mode=0o644)


def _previous(path: Path) -> dict[tuple[str, str], str]:
    try:
        return parse_samples(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}
