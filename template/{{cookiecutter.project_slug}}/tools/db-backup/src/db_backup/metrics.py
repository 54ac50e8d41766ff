"""Prometheus metrics of every run: a textfile-collector file and a Pushgateway push.

Samples for other databases or types already in the file are kept, so one
file can serve several schedules. ``backup_last_success_timestamp`` keeps its
previous value when a run fails, so an alert on its age fires rather than the
series disappearing.

Besides the per-type series of the spec, three series carry only the
``database`` label and change with a run of *any* type: the time and size of
the last good backup and the exit code of the last run. Alerts written on them
are not fooled by ``--type=auto`` (on the weekly day only ``type="weekly"`` is
written) and a failure is resolved by the next success, whatever its type.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_text_atomic

log = logging.getLogger(__name__)

HELP = {
    "backup_last_success_timestamp": "Unix timestamp of last successful backup",
    "backup_last_run_timestamp": "Unix timestamp of the end of the last backup run",
    "backup_last_exit_code": "Exit code of the last backup run (0 is success)",
    "backup_size_bytes": "Size of last backup in bytes (0 when the last run made none)",
    "backup_duration_seconds": "Duration of backup operation in seconds",
    "backup_last_verified_timestamp": "Unix timestamp of the last test restore a backup passed",
    "backup_last_success_timestamp_seconds": (
        "Unix timestamp of the last successful full backup of any type"
    ),
    "backup_last_success_size_bytes": (
        "Size in bytes of the last successful full backup of any type"
    ),
    "backup_last_run_exit_code": "Exit code of the last backup run of any type (0 is success)",
}
METRIC_NAMES = tuple(HELP)

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


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
    schema_only: bool = False  # a schema-only backup is no good backup of the data


def labels(database: str, backup_type: str | None = None) -> str:
    """``{database="...",type="..."}`` (``type`` left out when None), Prometheus-escaped."""
    pairs = f'database="{_escape(database)}"'
    if backup_type is not None:
        pairs += f',type="{_escape(backup_type)}"'
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
    return _text(merged(run, previous))


def merged(run: RunMetrics, previous: dict[tuple[str, str], str]) -> dict[tuple[str, str], str]:
    """The previous samples with this run's written over them."""
    own = labels(run.database, run.backup_type)
    database = labels(run.database)
    samples = {k: v for k, v in previous.items() if k[0] in HELP}
    samples[("backup_last_run_timestamp", own)] = _number(run.finished_at)
    samples[("backup_last_exit_code", own)] = str(run.exit_code)
    samples[("backup_duration_seconds", own)] = f"{run.duration_seconds:.3f}"
    samples[("backup_size_bytes", own)] = str(run.size_bytes)
    samples[("backup_last_run_exit_code", database)] = str(run.exit_code)
    if run.succeeded:
        samples[("backup_last_success_timestamp", own)] = _number(run.finished_at)
        if not run.schema_only:
            samples[("backup_last_success_timestamp_seconds", database)] = _number(run.finished_at)
            samples[("backup_last_success_size_bytes", database)] = str(run.size_bytes)
    return samples


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


def for_push(samples: dict[tuple[str, str], str], database: str) -> str:
    """The samples of ``database`` without their ``database`` label, as a push body.

    The Pushgateway's grouping key (``/database/<name>``) gives every pushed
    series that label; a pushed sample must not carry it again.
    """
    kept = {}
    for (name, text), value in samples.items():
        pairs = dict((m["name"], m["value"]) for m in _LABEL.finditer(text))
        if pairs.pop("database", None) != _escape(database):
            continue
        rest = ",".join(f'{key}="{pairs[key]}"' for key in sorted(pairs))
        kept[(name, "{" + rest + "}" if rest else "")] = value
    return _text(kept)


def publish(run: RunMetrics, path: Path | None, pushgateway_url: str | None) -> None:
    """Merge this run into the textfile at ``path`` (mode 0644, replaced atomically) and
    push the database's samples to the Pushgateway; either failing is only a warning."""
    samples = merged(run, _previous(path) if path is not None else {})
    _deliver(samples, run.database, path, pushgateway_url)


def publish_verified(
    path: Path | None, pushgateway_url: str | None, database: str, backup_type: str, when: float
) -> None:
    """Record that a backup of this type passed a test restore (``--verify``, ``--verify-remote``).

    Only ``backup_last_verified_timestamp`` changes; every other sample is kept.
    """
    samples = {k: v for k, v in (_previous(path) if path else {}).items() if k[0] in HELP}
    samples[("backup_last_verified_timestamp", labels(database, backup_type))] = _number(when)
    _deliver(samples, database, path, pushgateway_url)


def _deliver(
    samples: dict[tuple[str, str], str],
    database: str,
    path: Path | None,
    pushgateway_url: str | None,
) -> None:
    """Write ``samples`` to the textfile and push the database's part; warn on failure."""
    if path is not None:
        try:
            write_text_atomic(path, _text(samples), mode=0o644)
        except OSError as exc:
            log.warning(f"cannot write metrics to {path}: {exc.strerror or exc}")
    if pushgateway_url:
        from .pushgateway import push

        push(pushgateway_url, database, for_push(samples, database))


def _previous(path: Path) -> dict[tuple[str, str], str]:
    try:
        return parse_samples(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}
