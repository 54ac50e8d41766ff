"""``--schedule``: the scheduler makes a backup per slot in child runs and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backup_support import backups_in, generated_database, snapshot
from tests.helpers import TOOL, alive, children_of, tool_environ
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

# Enough rows that a dump compressed at gzip -9 on one thread takes a few seconds here.
BIG_ROWS = 600_000
SLOW = {"BACKUP_COMPRESSION_LEVEL": "9", "BACKUP_COMPRESSION_THREADS": "1"}


class Scheduler:
    """The tool started in the background with its output in files, readable while it runs."""

    def __init__(self, project: Path, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.out, self.err = logs / "stdout.log", logs / "stderr.log"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [str(project / TOOL), *args],
                env=tool_environ(env),
                cwd=project,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                pytest.fail(f"the scheduler ended (exit {self.proc.returncode}):\n{self.text()}")
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"timed out waiting for {what}:\n{self.text()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def start(baked_project: Path, tmp_path: Path) -> Iterator[Callable[..., Scheduler]]:
    started: list[Scheduler] = []

    def make(args: list[str], env: dict[str, str]) -> Scheduler:
        scheduler = Scheduler(baked_project, args, env, tmp_path)
        started.append(scheduler)
        return scheduler

    yield make
    for scheduler in started:
        scheduler.kill()


@pytest.fixture(scope="module")
def big_database(postgres: PostgresServer) -> Iterator[str]:
    with generated_database(postgres, f"schedule_big_{os.getpid()}", BIG_ROWS) as name:
        yield name


def test_every_two_seconds_makes_distinct_backups_then_stops_on_sigterm(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    start: Callable[..., Scheduler],
) -> None:
    """Two slots, two backups with their .sha256, the next run time logged; SIGTERM: exit 0."""
    dbname = database("small")
    backups = baked_project / "backups"
    scheduler = start(["--schedule=@every 2s"], postgres.env(dbname))
    scheduler.wait_for(lambda: len(backups_in(backups)) >= 2, "two backups")
    scheduler.wait_for(lambda: scheduler.text().count("Next backup at") >= 2, "the next slot")
    assert scheduler.stop() == 0, scheduler.text()
    made = backups_in(backups)
    assert len(made) == len(set(made)) >= 2
    assert all((backups / f"{name}.sha256").is_file() for name in made)
    assert not [item for item in os.listdir(backups) if ".partial-" in item]
    log = scheduler.text()
    assert "Scheduler started: @every 2s" in log
    assert log.count("Backup completed successfully") == len(made)
    assert "Scheduler stopped by SIGTERM" in log


def test_backup_schedule_is_the_expression_of_a_bare_schedule_flag_only(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    start: Callable[..., Scheduler],
) -> None:
    """``--schedule`` takes BACKUP_SCHEDULE; SIGINT while idle ends it with 0. The variable
    alone (a host sharing .env with compose) still makes one backup and returns."""
    dbname = database("small")
    env = {**postgres.env(dbname), "BACKUP_SCHEDULE": "@every 1h"}
    scheduler = start(["--schedule"], env)
    scheduler.wait_for(lambda: "Scheduler started: @every 1h" in scheduler.text(), "the start")
    assert scheduler.stop(signal.SIGINT) == 0
    assert backups_in(baked_project / "backups") == []
    once = subprocess.run(
        [str(baked_project / TOOL)],
        env=tool_environ(env),
        cwd=baked_project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert once.returncode == 0, once.stderr
    assert len(backups_in(baked_project / "backups")) == 1


def test_bad_schedule_exits_2_before_anything(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    dbname = database("small")
    result = subprocess.run(
        [str(baked_project / TOOL), "--schedule=every night"],
        env=tool_environ(postgres.env(dbname)),
        cwd=baked_project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "[ERROR] --schedule 'every night' must have five fields" in line


def test_sigterm_mid_run_stops_the_backup_cleanly_and_exits_0(
    baked_project: Path,
    postgres: PostgresServer,
    big_database: str,
    start: Callable[..., Scheduler],
) -> None:
    """A slot reached during a long run is skipped with a WARNING; SIGTERM mid-dump reaches the
    run, which removes its partial file and stops pg_dump; the scheduler then exits 0."""
    backups = baked_project / "backups"
    scheduler = start(["--schedule=@every 1s"], {**postgres.env(big_database), **SLOW})

    def partial() -> list[Path]:
        if not backups.is_dir():
            return []
        return [
            p for p in backups.iterdir() if ".partial-" in p.name and p.stat().st_size > 1 << 18
        ]

    scheduler.wait_for(lambda: bool(partial()), "a dump under way")
    scheduler.wait_for(lambda: "Skipped the backup for" in scheduler.text(), "a skipped slot")
    (run,) = children_of(scheduler.proc.pid)
    workers = children_of(run)
    assert len(workers) == 2, workers  # pg_dump and the compressor
    assert scheduler.stop() == 0, scheduler.text()
    assert not alive(run) and not any(alive(pid) for pid in workers)
    assert snapshot(backups) == {}, scheduler.text()  # nothing partial, nothing half-made
    log = scheduler.text()
    assert "interrupted by SIGTERM" in log
    assert "Scheduled backup failed (exit 1)" in log
    assert "Scheduler stopped by SIGTERM (the running backup ended)" in log
