"""The shipped Prometheus rules (tested with promtool) and the Pushgateway push of a real run.

The rules file and its promtool unit tests live in the baked project's
``tools/db-backup/monitoring``; promtool comes from Debian's ``prometheus`` package
(``./dev`` installs it). The push is received by a stdlib HTTP server on 127.0.0.1 and
read back with prometheus_client's parser, the format Prometheus itself reads.
"""

from __future__ import annotations

import ast
import http.server
import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer

MONITORING = Path("tools") / "db-backup" / "monitoring"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian package prometheus: apt-get install prometheus)",
)


def promtool(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=folder, capture_output=True, text=True, timeout=300, check=False
    )


@needs_promtool
def test_rules_are_valid_and_their_unit_tests_pass(baked_project: Path) -> None:
    """``promtool check rules`` accepts the four alerts; ``promtool test rules`` passes,
    the weekly-day case (only type="weekly" written) included."""
    folder = baked_project / MONITORING
    checked = promtool(folder, "check", "rules", "prometheus-rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout
    tested = promtool(folder, "test", "rules", "prometheus-rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@needs_promtool
def test_rule_unit_tests_catch_a_rule_on_the_daily_series(
    baked_project: Path, tmp_path: Path
) -> None:
    """The unit tests fail for the rule the issue trackers complain about: freshness read
    from type="daily", which looks stale on every weekly day."""
    folder = baked_project / MONITORING
    for name in ("prometheus-rules.yml", "prometheus-rules.test.yml"):
        shutil.copy(folder / name, tmp_path / name)
    rules = tmp_path / "prometheus-rules.yml"
    text = rules.read_text()
    fresh = "time() - backup_last_success_timestamp_seconds > 26 * 3600"
    assert fresh in text
    rules.write_text(
        text.replace(fresh, 'time() - backup_last_success_timestamp{type="daily"} > 26 * 3600')
    )
    tested = promtool(tmp_path, "test", "rules", "prometheus-rules.test.yml")
    assert tested.returncode != 0
    assert "alertname: DatabaseBackupTooOld, time: 6d23h" in tested.stdout + tested.stderr


def metric_names(project: Path) -> set[str]:
    """The metric names the baked tool writes (the keys of ``metrics.HELP``)."""
    source = project / "tools" / "db-backup" / "src" / "db_backup" / "metrics.py"
    for node in ast.parse(source.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "HELP":
            return set(ast.literal_eval(node.value))
    raise AssertionError("no HELP in metrics.py")


def test_grafana_dashboard_reads_only_metrics_the_tool_writes(baked_project: Path) -> None:
    """The dashboard is JSON after baking, and every series it queries exists."""
    dashboard = json.loads((baked_project / MONITORING / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in expressions for name in re.findall(r"\bbackup_[a-z_]+", expr)}
    assert used and used <= metric_names(baked_project)
    assert all('database=~"$database"' in expr for expr in expressions)


# --- the Pushgateway ---------------------------------------------------------------------


@dataclass
class Pushgateway:
    """A stdlib HTTP server on 127.0.0.1 recording every push (method, path, body)."""

    url: str = ""
    pushes: list[tuple[str, str, str]] = field(default_factory=list)


@pytest.fixture
def pushgateway() -> Iterator[Pushgateway]:
    record = Pushgateway()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8")
            record.pushes.append((self.command, self.path, body))
            self.send_response(200)
            self.end_headers()

        do_PUT = do_POST

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


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text-format body, parsed as Prometheus parses it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_a_run_pushes_its_metrics_and_a_failure_keeps_the_success_time(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    pushgateway: Pushgateway,
) -> None:
    """A good run POSTs every metric to /metrics/job/db_backup/database/<name> without the
    grouping label; a failed run pushes its exit code and no success time, so the
    Pushgateway keeps the last one."""
    dbname = database("small")
    env = {**postgres.env(dbname), "BACKUP_PUSHGATEWAY_URL": pushgateway.url}
    good = run_tool(baked_project, [], env)
    assert good.returncode == 0, describe(good)
    [(method, path, body)] = pushgateway.pushes
    assert (method, path) == ("POST", f"/metrics/job/db_backup/database/{dbname}")
    pushed = samples(body)
    daily = (("type", "daily"),)
    assert pushed[("backup_last_run_exit_code", ())] == 0
    assert pushed[("backup_last_exit_code", daily)] == 0
    assert pushed[("backup_last_success_timestamp_seconds", ())] > 1.7e9
    assert pushed[("backup_last_success_timestamp", daily)] > 1.7e9
    backup = next((baked_project / "backups").glob(f"{dbname}_daily_*.sql.gz"))
    assert pushed[("backup_size_bytes", daily)] == backup.stat().st_size
    assert pushed[("backup_last_success_size_bytes", ())] == backup.stat().st_size
    assert all("database" not in dict(labels) for _, labels in pushed)
    assert ("backup_last_verified_timestamp", daily) not in pushed  # no --verify

    failed = run_tool(baked_project, [], {**env, "PGPASSWORD": "wrong"})
    assert failed.returncode == 3, describe(failed)
    pushed = samples(pushgateway.pushes[1][2])
    assert pushed[("backup_last_run_exit_code", ())] == 3
    assert not [name for name, _ in pushed if "success" in name]


def test_a_test_restore_of_verify_is_recorded_as_verified(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    pushgateway: Pushgateway,
    tmp_path: Path,
) -> None:
    """--verify with its test restore sets backup_last_verified_timestamp in the file, and
    the pushes carry it."""
    dbname = database("small")
    metrics = tmp_path / "backup.prom"
    env = {
        **postgres.env(dbname),
        "BACKUP_METRICS_FILE": str(metrics),
        "BACKUP_PUSHGATEWAY_URL": pushgateway.url,
        "BACKUP_VERIFY_RESTORE": "always",
    }
    result = run_tool(baked_project, ["--verify"], env)
    assert result.returncode == 0, describe(result)
    in_file = samples(metrics.read_text())
    verified = in_file[
        ("backup_last_verified_timestamp", (("database", dbname), ("type", "daily")))
    ]
    assert (
        verified
        >= in_file[("backup_last_run_timestamp", (("database", dbname), ("type", "daily")))] - 600
    )
    pushed = samples(pushgateway.pushes[-1][2])
    assert pushed[("backup_last_verified_timestamp", (("type", "daily"),))] == verified
    assert pushed[("backup_last_run_exit_code", ())] == 0


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A URL whose server accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize("where", ["closed port", "silent server"])
def test_an_unreachable_pushgateway_leaves_the_exit_code_alone(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    silent_listener: str,
    where: str,
) -> None:
    """Nothing listening, or a server that never answers (the push times out): the backup
    still exits 0, with one WARN naming the Pushgateway."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    url = closed if where == "closed port" else silent_listener
    env = {**postgres.env(database("small")), "BACKUP_PUSHGATEWAY_URL": url}
    result = run_tool(baked_project, [], env, timeout=120)
    assert result.returncode == 0, describe(result)
    warnings = [line for line in result.stderr.splitlines() if "[WARNING]" in line]
    assert [line for line in warnings if f"metrics not pushed to {url}" in line], describe(result)


def test_a_bad_pushgateway_url_is_exit_2(baked_project: Path) -> None:
    """A URL that is no http(s) URL is a settings error before anything runs."""
    env = {"PGPASSWORD": "unused", "BACKUP_PUSHGATEWAY_URL": "pushgateway:9091"}
    result = run_tool(baked_project, [], env)
    assert result.returncode == 2, describe(result)
    assert "BACKUP_PUSHGATEWAY_URL must be an http:// or https:// URL" in result.stderr
