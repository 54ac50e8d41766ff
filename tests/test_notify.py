"""Notifications of a real backup run: healthchecks-style pings, the JSON webhook, dead receivers.

A stdlib HTTP server on 127.0.0.1 records every request the tool makes.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.backup_support import backups_in
from tests.helpers import describe, program_dir, run_tool
from tests.services._net import free_port
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

CHECK = "/ping/0f6c1d2e-aaaa-bbbb-cccc-1234567890ab"


@dataclass(frozen=True)
class Request:
    """One request the receiver got."""

    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    body: bytes
    content_type: str


class Receiver:
    """An HTTP server on 127.0.0.1 that answers 200 and remembers every request."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                received.append(
                    Request(
                        self.command,
                        parts.path,
                        parse_qs(parts.query, keep_blank_values=True),
                        self.rfile.read(length) if length else b"",
                        self.headers.get("Content-Type", ""),
                    )
                )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = _record

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def small_db(database: Callable[..., str]) -> str:
    return database("small")


def test_ping_start_then_success_with_the_log_as_body(
    baked_project: Path, postgres: PostgresServer, small_db: str, receiver: Receiver
) -> None:
    """A good run: GET <url>/start, then POST <url> carrying the run's last log lines."""
    env = {**postgres.env(small_db), "BACKUP_PING_URL": receiver.url + CHECK}
    result = run_tool(baked_project, [], env)
    assert result.returncode == 0, describe(result)
    start, finish = receiver.requests
    assert (start.method, start.path) == ("GET", f"{CHECK}/start")
    assert (finish.method, finish.path) == ("POST", CHECK)
    assert start.query["rid"] == finish.query["rid"]  # one run id pairs them
    assert b"Backup completed successfully" in finish.body
    assert postgres.password.encode() not in finish.body
    assert CHECK[6:] not in result.stdout + result.stderr  # the check's token is never logged


def test_ping_start_then_exit_code_on_a_wrong_password(
    baked_project: Path, postgres: PostgresServer, small_db: str, receiver: Receiver
) -> None:
    """A failed run: /start, then POST <url>/3 with the error lines; the exit code stays 3."""
    env = {
        **postgres.env(small_db, password="wrong-password-here"),
        "BACKUP_PING_URL": receiver.url + CHECK,
    }
    result = run_tool(baked_project, [], env)
    assert result.returncode == 3, describe(result)
    assert [(r.method, r.path) for r in receiver.requests] == [
        ("GET", f"{CHECK}/start"),
        ("POST", f"{CHECK}/3"),
    ]
    body = receiver.requests[1].body.decode()
    assert "[ERROR]" in body and "password authentication failed" in body
    assert "wrong-password-here" not in body


def test_webhook_is_called_on_failure_only_by_default(
    baked_project: Path, postgres: PostgresServer, small_db: str, receiver: Receiver
) -> None:
    """A good run calls nothing; a failed one POSTs one JSON object describing it."""
    hook = {"BACKUP_WEBHOOK_URL": receiver.url + "/hook"}
    good = run_tool(baked_project, [], {**postgres.env(small_db), **hook})
    assert good.returncode == 0, describe(good)
    assert receiver.requests == []

    bad = run_tool(baked_project, [], {**postgres.env(small_db, password="nope-nope"), **hook})
    assert bad.returncode == 3, describe(bad)
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.content_type == "application/json"
    payload = json.loads(request.body)
    assert payload["database"] == small_db and payload["type"] == "daily"
    assert payload["status"] == "failure" and payload["exit_code"] == 3
    assert payload["file"] is None and payload["size_bytes"] is None
    assert "password authentication failed" in payload["error"]
    assert isinstance(payload["duration_seconds"], float)


def test_webhook_always_reports_the_backup_made(
    baked_project: Path, postgres: PostgresServer, small_db: str, receiver: Receiver
) -> None:
    """With BACKUP_WEBHOOK_ON=always a good run sends its file and size."""
    env = {
        **postgres.env(small_db),
        "BACKUP_WEBHOOK_URL": receiver.url + "/hook",
        "BACKUP_WEBHOOK_ON": "always",
    }
    result = run_tool(baked_project, ["--type=weekly"], env)
    assert result.returncode == 0, describe(result)
    (request,) = receiver.requests
    payload = json.loads(request.body)
    (made,) = backups_in(baked_project / "backups")
    assert payload["status"] == "success" and payload["exit_code"] == 0
    assert payload["type"] == "weekly" and payload["error"] is None
    assert Path(payload["file"]).name == made
    assert payload["size_bytes"] == (baked_project / "backups" / made).stat().st_size


@pytest.mark.parametrize("password", [None, "wrong-password-here"], ids=["good-run", "failed-run"])
def test_unreachable_receivers_keep_the_exit_code_and_cost_seconds(
    baked_project: Path, postgres: PostgresServer, small_db: str, password: str | None
) -> None:
    """Ping and webhook on a port nobody listens on: WARNING lines, the run's own exit code."""
    dead = f"http://127.0.0.1:{free_port()}"
    env = {
        **postgres.env(small_db, password=password),
        "BACKUP_PING_URL": dead + CHECK,
        "BACKUP_WEBHOOK_URL": dead + "/hook",
    }
    began = time.monotonic()
    result = run_tool(baked_project, [], env, timeout=60)
    took = time.monotonic() - began
    assert result.returncode == (0 if password is None else 3), describe(result)
    warnings = [line for line in result.stderr.splitlines() if "[WARNING]" in line]
    assert any("start ping not delivered to http://127.0.0.1:" in w for w in warnings), describe(
        result
    )
    assert all(CHECK[6:] not in w for w in warnings)
    # Each notification: a refused connection, half a second, a second refusal.
    assert took < 20, f"notifications to a dead port took {took:.1f} s"


def test_apprise_sends_a_message_on_failure_only(
    baked_project: Path, postgres: PostgresServer, small_db: str, receiver: Receiver
) -> None:
    """BACKUP_NOTIFY_URLS through apprise (its json:// target here): nothing for a good run,
    one message with the error and the log lines for a failed one."""
    pytest.importorskip("apprise", reason="apprise (the notification extra) is not installed")
    notify = {"BACKUP_NOTIFY_URLS": receiver.url.replace("http://", "json://") + "/apprise"}
    good = run_tool(baked_project, [], {**postgres.env(small_db), **notify})
    assert good.returncode == 0, describe(good)
    assert receiver.requests == []
    bad = run_tool(baked_project, [], {**postgres.env(small_db, password="nope-nope"), **notify})
    assert bad.returncode == 3, describe(bad)
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/apprise")
    message = json.loads(request.body)
    assert message["type"] == "failure"
    assert message["title"].startswith(f"FAILED: backup of {small_db} (daily) failed with exit 3")
    assert "[ERROR]" in message["message"] and "nope-nope" not in message["message"]


def test_notify_urls_without_apprise_exit_2_naming_it(
    baked_project: Path, postgres: PostgresServer, small_db: str, tmp_path: Path
) -> None:
    """Run by a python3 that lacks apprise: exit 2 with one line saying what to install."""
    system = Path("/usr/bin/python3")
    if not system.is_file():
        pytest.skip("no system python3 to run the tool without apprise")
    probe = subprocess.run([str(system), "-c", "import apprise"], capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("the system python3 has apprise: no python3 without it to test with")
    path = program_dir(tmp_path / "bin", python=False, links={"python3": str(system)})
    env = {**postgres.env(small_db), "PATH": path, "BACKUP_NOTIFY_URLS": "ntfy://ntfy.sh/topic"}
    result = run_tool(baked_project, [], env)
    assert result.returncode == 2, describe(result)
    (line,) = result.stderr.splitlines()
    assert "[ERROR] BACKUP_NOTIFY_URLS needs the Python package apprise" in line
    assert "apt-get install apprise" in line
    assert backups_in(baked_project / "backups") == []
