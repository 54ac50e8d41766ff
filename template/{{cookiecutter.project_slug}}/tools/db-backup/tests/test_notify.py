"""Notification helpers: URLs shown without tokens, ping URLs built right, log tails bounded."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from db_backup import notify
from db_backup.errors import ConfigError
from db_backup.notify import LogTail, Ping, RunReport, _with, deliver, notifier_for, safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hc-ping.com/0f6c1d2e-aaaa-bbbb-cccc-1234567890ab", "https://hc-ping.com/***"),
        ("http://127.0.0.1:8000/ping/abc?x=1", "http://127.0.0.1:8000/***"),
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("https://user:secret@example.com/x", "https://example.com/***"),
    ],
)
def test_logged_urls_show_scheme_and_host_only(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_ping_urls_get_the_suffix_before_the_query() -> None:
    assert (
        _with("https://hc.example/ping/abc", suffix="start") == "https://hc.example/ping/abc/start"
    )
    assert _with("https://hc.example/ping/abc/", suffix="3", query={"rid": "r"}) == (
        "https://hc.example/ping/abc/3?rid=r"
    )
    assert _with(
        "https://kuma.example/api/push/tok?status=up&msg=OK&ping=",
        query={"status": "down", "msg": "exit 3"},
    ) == ("https://kuma.example/api/push/tok?ping=&status=down&msg=exit+3")


def test_uptime_kuma_push_urls_are_recognised() -> None:
    assert Ping("https://kuma.example/api/push/abc?status=up").kuma
    assert not Ping("https://hc-ping.com/uuid").kuma


def test_log_tail_keeps_the_newest_lines_within_the_limit() -> None:
    tail = LogTail(lines=3)
    for number in range(5):
        tail.emit(
            logging.LogRecord("db_backup", logging.INFO, __file__, 1, f"line {number}", None, None)
        )
    assert all(line.endswith(f"line {n}") for line, n in zip(tail.lines, (2, 3, 4), strict=True))
    assert tail.text(limit=len(tail.lines[-1]) + 1).count("\n") == 1


def test_summary_and_payload_describe_the_run() -> None:
    report = RunReport("backup", "shop", "daily", "/b/shop_daily_x.sql.gz", 123)
    assert report.summary(0, None) == "backup of shop (daily) succeeded: /b/shop_daily_x.sql.gz"
    assert (
        report.summary(3, "cannot connect")
        == "backup of shop (daily) failed with exit 3: cannot connect"
    )
    payload = report.payload(3, "cannot connect", 1.23456)
    assert payload["status"] == "failure" and payload["duration_seconds"] == 1.235
    assert set(payload) >= {
        "database",
        "type",
        "status",
        "exit_code",
        "file",
        "size_bytes",
        "duration_seconds",
        "error",
    }


def test_no_setting_no_notifier_and_bad_urls_are_config_errors() -> None:
    assert notifier_for({}, RunReport("backup")) is None
    with pytest.raises(ConfigError, match="BACKUP_PING_URL must be an http"):
        notifier_for({"BACKUP_PING_URL": "ftp://x/y"}, RunReport("backup"))
    with pytest.raises(ConfigError, match="BACKUP_WEBHOOK_ON must be one of"):
        notifier_for(
            {"BACKUP_WEBHOOK_URL": "http://x/y", "BACKUP_WEBHOOK_ON": "sometimes"},
            RunReport("backup"),
        )


@pytest.fixture
def answering() -> Iterator[tuple[str, list[str], list[int]]]:
    """A local server answering each request with the next status of ``statuses`` (then 200)."""
    paths: list[str] = []
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/check/token-abcdef", paths, statuses
    server.shutdown()
    server.server_close()


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 0.3)
    monkeypatch.setattr(notify, "RETRY_DELAY_SECONDS", 0.01)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.usefixtures("quick")
def test_a_server_error_is_retried_once(
    answering: tuple[str, list[str], list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    url, paths, statuses = answering
    statuses.extend([503])
    assert deliver("ping", url)
    assert len(paths) == 2 and warnings(caplog) == []
    statuses.extend([500, 502])
    assert not deliver("ping", url)
    assert len(paths) == 4
    (line,) = warnings(caplog)
    assert line.startswith("ping not delivered to http://127.0.0.1:") and "HTTP 502" in line
    assert "token-abcdef" not in line


@pytest.mark.usefixtures("quick")
def test_a_refused_request_is_not_retried(
    answering: tuple[str, list[str], list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    """A 4xx answer says the request is wrong: asking again would not help."""
    url, paths, statuses = answering
    statuses.append(404)
    assert not deliver("webhook", url)
    assert len(paths) == 1 and "HTTP 404" in warnings(caplog)[0]


@pytest.mark.usefixtures("quick")
def test_a_hung_receiver_costs_one_timeout(caplog: pytest.LogCaptureFixture) -> None:
    """A server that accepts the connection and never answers: one attempt, then a WARNING."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # the kernel completes connections nobody accepts
        port = listener.getsockname()[1]
        assert not deliver("ping", f"http://127.0.0.1:{port}/x/secret-path")
        listener.settimeout(0.2)
        connections = []
        with contextlib.suppress(TimeoutError):
            while True:
                connections.append(listener.accept()[0])
        for connection in connections:
            connection.close()
    assert len(connections) == 1  # no second attempt after a timeout
    (line,) = warnings(caplog)
    assert "no answer within 0.3 s" in line and "secret-path" not in line
