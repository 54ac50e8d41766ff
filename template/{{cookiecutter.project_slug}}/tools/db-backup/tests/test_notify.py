"""Notification helpers: URLs shown without tokens, ping URLs built right, log tails bounded."""

from __future__ import annotations

import logging

import pytest

from db_backup.errors import ConfigError
from db_backup.notify import LogTail, Ping, RunReport, _with, notifier_for, safe_url


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
