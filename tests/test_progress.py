"""Progress lines on long transfers: dump, the read of the test restore, upload to S3.

The interval (30 s) is shortened through ``DB_BACKUP_PROGRESS_SECONDS`` so a test-sized
database shows them; at the default a short run prints none.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backup_support import generated_database
from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Endpoint

pytestmark = pytest.mark.integration

ROWS = 200_000
FAST = {"DB_BACKUP_PROGRESS_SECONDS": "0.001"}


@pytest.fixture(scope="module")
def medium_database(postgres: PostgresServer) -> Iterator[str]:
    with generated_database(postgres, f"progress_{os.getpid()}", ROWS) as name:
        yield name


def progress_events(stdout: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "progress"]


def test_dump_and_test_restore_report_progress_as_json_events(
    baked_project: Path, postgres: PostgresServer, medium_database: str
) -> None:
    """JSON logs carry ``progress`` events with growing byte counts, rate and elapsed time."""
    env = {**postgres.env(medium_database), **FAST, "BACKUP_LOG_FORMAT": "json"}
    result = run_tool(baked_project, ["--verify"], env)
    assert result.returncode == 0, describe(result)
    events = progress_events(result.stdout)
    stages = {event["stage"] for event in events}
    assert stages == {"dump", "read"}, events
    dumped = [event["bytes"] for event in events if event["stage"] == "dump"]
    assert dumped == sorted(dumped) and dumped[-1] > 0
    for event in events:
        assert event["level"] == "INFO"
        assert isinstance(event["bytes_per_second"], int)
        assert isinstance(event["elapsed_seconds"], float)
        assert " so far, " in str(event["message"]) and " elapsed" in str(event["message"])


def test_text_lines_and_quiet_below_the_interval(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Text logs: ``dumping ...: N so far, rate, elapsed``; at the default 30 s: no such line."""
    dbname = database("small")
    quick = run_tool(baked_project, [], postgres.env(dbname))
    assert quick.returncode == 0, describe(quick)
    assert " so far, " not in quick.stdout
    shown = run_tool(baked_project, ["--type=weekly"], {**postgres.env(dbname), **FAST})
    assert shown.returncode == 0, describe(shown)
    assert "[INFO] dumping (compressed bytes written): " in shown.stdout, describe(shown)


def test_upload_reports_progress_with_its_total(
    baked_project: Path,
    postgres: PostgresServer,
    medium_database: str,
    s3: S3Endpoint,
    bucket: str,
) -> None:
    env = {**postgres.env(medium_database), **s3.env(bucket), **FAST, "BACKUP_LOG_FORMAT": "json"}
    result = run_tool(baked_project, [], env)
    assert result.returncode == 0, describe(result)
    uploads = [event for event in progress_events(result.stdout) if event["stage"] == "upload"]
    assert uploads, describe(result)
    assert all(isinstance(event["total_bytes"], int) for event in uploads)
    assert "uploading " in str(uploads[-1]["message"]) and "%) so far" in str(
        uploads[-1]["message"]
    )
