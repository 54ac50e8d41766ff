"""Prometheus metrics: names, labels, merging, what a failed run leaves, and the push."""

from __future__ import annotations

import base64
import http.server
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from db_backup.errors import ConfigError
from db_backup.metrics import (
    RunMetrics,
    for_push,
    labels,
    merged,
    parse_samples,
    publish,
    publish_verified,
)
from db_backup.pushgateway import check_url, group_path, push, shown


def run(
    exit_code: int, finished: float, size: int, backup_type: str = "daily", **extra: bool
) -> RunMetrics:
    return RunMetrics("shop", backup_type, exit_code, finished, 12.5, size, exit_code == 0, **extra)


def test_success_writes_every_metric(tmp_path: Path) -> None:
    """A good run writes the spec's metrics, exit code, last run time and the
    database-wide series."""
    path = tmp_path / "backup.prom"
    publish(run(0, 1700000000, 1234), path, None)
    text = path.read_text()
    own = labels("shop", "daily")
    for line in (
        f"backup_last_success_timestamp{own} 1700000000",
        f"backup_size_bytes{own} 1234",
        f"backup_duration_seconds{own} 12.500",
        f"backup_last_exit_code{own} 0",
        f"backup_last_run_timestamp{own} 1700000000",
        '\nbackup_last_success_timestamp_seconds{database="shop"} 1700000000\n',
        '\nbackup_last_success_size_bytes{database="shop"} 1234\n',
        '\nbackup_last_run_exit_code{database="shop"} 0\n',
        "# TYPE backup_size_bytes gauge",
    ):
        assert line in text
    assert path.stat().st_mode & 0o777 == 0o644


def test_failure_keeps_the_last_success_timestamp(tmp_path: Path) -> None:
    """A failed run records its exit code but leaves the last success time as it was."""
    path = tmp_path / "backup.prom"
    publish(run(0, 1700000000, 1234), path, None)
    publish(run(3, 1700086400, 0), path, None)
    samples = parse_samples(path.read_text())
    own = labels("shop", "daily")
    assert samples[("backup_last_success_timestamp", own)] == "1700000000"
    assert samples[("backup_last_exit_code", own)] == "3"
    assert samples[("backup_last_run_timestamp", own)] == "1700086400"
    assert samples[("backup_size_bytes", own)] == "0"
    assert samples[("backup_last_success_timestamp_seconds", labels("shop"))] == "1700000000"
    assert samples[("backup_last_success_size_bytes", labels("shop"))] == "1234"
    assert samples[("backup_last_run_exit_code", labels("shop"))] == "3"


def test_a_success_of_another_type_resolves_a_failure(tmp_path: Path) -> None:
    """A failed monthly run, then a good daily one: the database-wide exit code is 0 and
    the freshness series moves on, while the monthly series still shows its failure."""
    path = tmp_path / "backup.prom"
    publish(run(4, 1700000000, 0, "monthly"), path, None)
    publish(run(0, 1700086400, 99, "daily"), path, None)
    samples = parse_samples(path.read_text())
    assert samples[("backup_last_run_exit_code", labels("shop"))] == "0"
    assert samples[("backup_last_success_timestamp_seconds", labels("shop"))] == "1700086400"
    assert samples[("backup_last_exit_code", labels("shop", "monthly"))] == "4"


def test_schema_only_backup_is_not_a_good_backup_of_the_data(tmp_path: Path) -> None:
    """A schema-only run moves neither the freshness nor the size of the last good backup."""
    path = tmp_path / "backup.prom"
    publish(run(0, 1700000000, 5000), path, None)
    publish(run(0, 1700000500, 10, schema_only=True), path, None)
    samples = parse_samples(path.read_text())
    assert samples[("backup_last_success_timestamp_seconds", labels("shop"))] == "1700000000"
    assert samples[("backup_last_success_size_bytes", labels("shop"))] == "5000"
    assert samples[("backup_last_run_exit_code", labels("shop"))] == "0"


def test_other_types_in_the_file_are_kept(tmp_path: Path) -> None:
    """Daily and weekly runs share one file without erasing each other."""
    path = tmp_path / "backup.prom"
    publish(run(0, 1700000000, 1, "weekly"), path, None)
    publish(run(0, 1700000100, 2, "daily"), path, None)
    samples = parse_samples(path.read_text())
    assert samples[("backup_size_bytes", labels("shop", "weekly"))] == "1"
    assert samples[("backup_size_bytes", labels("shop", "daily"))] == "2"


def test_verified_changes_only_its_own_sample(tmp_path: Path) -> None:
    """A passed restore drill sets backup_last_verified_timestamp and keeps the rest."""
    path = tmp_path / "backup.prom"
    publish(run(0, 1700000000, 1), path, None)
    before = parse_samples(path.read_text())
    publish_verified(path, None, "shop", "weekly", 1700000900)
    after = parse_samples(path.read_text())
    assert after.pop(("backup_last_verified_timestamp", labels("shop", "weekly"))) == "1700000900"
    assert after == before


def test_an_unwritable_file_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A metrics file that cannot be written costs a warning, never the run."""
    path = tmp_path / "missing-dir" / "backup.prom"
    with caplog.at_level(logging.WARNING):
        publish(run(0, 1700000000, 1), path, None)
    assert f"cannot write metrics to {path}" in caplog.text


def test_label_values_are_escaped() -> None:
    """Quotes and backslashes in a database name cannot break the format."""
    assert labels('a"b\\c', "daily") == '{database="a\\"b\\\\c",type="daily"}'


def test_push_body_holds_one_database_without_its_label() -> None:
    """The grouping key carries ``database``: the body has only that database's samples,
    the ``type`` label kept, the database-wide series bare."""
    samples = merged(run(0, 1700000000, 7), {})
    samples.update(merged(RunMetrics("other", "daily", 0, 1, 1.0, 1, True), {}))
    body = for_push(samples, "shop")
    assert 'backup_size_bytes{type="daily"} 7\n' in body
    assert "\nbackup_last_run_exit_code 0\n" in body
    assert "database" not in body.replace("# HELP", "")
    assert " 1\n" not in body  # nothing of database "other"


# --- the Pushgateway -----------------------------------------------------------------


@dataclass
class Receiver:
    """A stdlib HTTP server on 127.0.0.1 that records every request."""

    status: int = 200
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    record = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            record.requests.append(("POST", self.path, dict(self.headers), body))
            self.send_response(record.status)
            self.end_headers()
            self.wfile.write(b"pushgateway says no" if record.status >= 400 else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


def test_push_posts_the_body_to_the_database_group(receiver: Receiver, tmp_path: Path) -> None:
    """One POST to /metrics/job/db_backup/database/<name>, text format; the textfile too."""
    path = tmp_path / "backup.prom"
    publish(run(0, 1700000000, 1234), path, receiver.url + "/")
    [(method, target, headers, body)] = receiver.requests
    assert (method, target) == ("POST", "/metrics/job/db_backup/database/shop")
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"backup_last_success_size_bytes 1234\n" in body
    assert path.is_file()


def test_push_without_a_file_sends_this_run_only(receiver: Receiver) -> None:
    """Without BACKUP_METRICS_FILE the push carries this run's samples; a failure pushes no
    success time (POST keeps the Pushgateway's last one)."""
    publish(run(3, 1700000000, 0), None, receiver.url)
    body = receiver.requests[0][3].decode()
    assert "backup_last_run_exit_code 3\n" in body
    pushed = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line[:1] != "#"}
    assert not {name for name in pushed if "success" in name}
    assert "backup_last_exit_code" in pushed


def test_push_credentials_become_basic_auth_and_stay_out_of_logs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """user:password in the URL is sent as basic authentication and never logged."""
    receiver.status = 500
    url = receiver.url.replace("http://", "http://ops:s3cr%40t@") + "/prefix"
    with caplog.at_level(logging.WARNING):
        assert push(url, "shop", "x 1\n") is False
    [(_, target, headers, _)] = receiver.requests
    assert target == "/prefix/metrics/job/db_backup/database/shop"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ops:s3cr@t").decode()
    assert "HTTP 500 pushgateway says no" in caplog.text
    assert "s3cr" not in caplog.text and "ops" not in caplog.text


def test_an_unreachable_pushgateway_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing listening: False and one warning naming the URL."""
    with caplog.at_level(logging.WARNING):
        assert push("http://127.0.0.1:9/", "shop", "x 1\n", timeout=2) is False
    assert "metrics not pushed to http://127.0.0.1:9/" in caplog.text


@pytest.mark.parametrize(
    ("database", "path"),
    [
        ("shop", "/metrics/job/db_backup/database/shop"),
        ("my shop", "/metrics/job/db_backup/database/my%20shop"),
        ("a/b", "/metrics/job/db_backup/database@base64/YS9i"),
    ],
)
def test_group_path_encodes_the_database_name(database: str, path: str) -> None:
    assert group_path(database) == path


@pytest.mark.parametrize("url", ["pushgateway:9091", "ftp://host/", "http://", "http://h:99999"])
def test_a_bad_pushgateway_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="BACKUP_PUSHGATEWAY_URL"):
        check_url(url)


def test_shown_url_has_no_credentials() -> None:
    assert shown("https://u:p@[::1]:9091/x?token=1") == "https://[::1]:9091/x"
