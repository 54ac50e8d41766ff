"""Bad inputs and faults: each has its exit code, leaves nothing behind, and loses nothing older.

Every case starts from a backup directory holding an older good backup; afterwards the
directory must hold exactly what it held before (no partial file, no file with a final
name for the failed run, the older backup byte for byte), apart from the lock file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.backup_support import error_lines, fake_backup, generated_database, snapshot
from tests.helpers import (
    TOOL,
    alive,
    children_of,
    describe,
    program_dir,
    run_tool,
    start_tool,
    tool_environ,
)
from tests.services._net import free_port
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

OLD_STAMP = "20200101_000000"


@dataclass(frozen=True)
class Case:
    """One bad input: what changes, and the exit code it must give."""

    id: str
    exit_code: int
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    backup_dir: str | None = None  # "under-file" or "is-file"


BAD_INPUTS = [
    Case("unset-password", 2, drop=("PGPASSWORD",)),
    Case("wrong-password", 3, env={"PGPASSWORD": "definitely-wrong"}),
    Case("unknown-host", 3, env={"POSTGRES_HOST": "nonexistent.invalid"}),
    Case("refused-port", 3, env={"POSTGRES_PORT": "<free port>"}),
    Case("missing-database", 3, env={"POSTGRES_DB": "no_such_database_here"}),
    Case("unknown-flag", 2, args=("--bogus",)),
    Case("bad-type", 2, args=("--type=hourly",)),
    Case("bad-type-space-form", 2, args=("--type", "yearly")),
    Case("non-numeric-retention", 2, env={"BACKUP_RETENTION_DAILY": "seven"}),
    Case("negative-retention", 2, env={"BACKUP_RETENTION_WEEKLY": "-1"}),
    Case("bad-compression-level", 2, env={"BACKUP_COMPRESSION_LEVEL": "42"}),
    # Root ignores permission bits, so these directories fail for every user:
    Case("backup-dir-under-a-file", 2, backup_dir="under-file"),
    Case("backup-dir-is-a-file", 2, backup_dir="is-file"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[case.id for case in BAD_INPUTS])
def test_bad_input_exits_with_its_code_and_changes_nothing(
    case: Case,
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
) -> None:
    """The run fails with its exit code and an [ERROR] line; the directory is as it was."""
    dbname = database("small")
    backups = baked_project / "backups"
    fake_backup(backups, f"{dbname}_daily_{OLD_STAMP}.sql.gz")
    before = snapshot(backups)

    env = {**postgres.env(dbname), "HOME": str(tmp_path)}
    for name in case.drop:
        env.pop(name)
    env.update({k: (str(free_port()) if v == "<free port>" else v) for k, v in case.env.items()})
    if case.backup_dir:
        blocker = tmp_path / "a-regular-file"
        blocker.write_text("not a directory\n")
        env["BACKUP_DIR"] = str(blocker / "backups" if case.backup_dir == "under-file" else blocker)

    result = run_tool(baked_project, case.args, env)
    assert result.returncode == case.exit_code, describe(result)
    assert error_lines(result.stderr), describe(result)
    assert snapshot(backups) == before, describe(result)
    if case.backup_dir:
        assert (tmp_path / "a-regular-file").read_text() == "not a directory\n"


# --- faults during a dump ------------------------------------------------------------------

# Enough rows that a dump compressed at gzip -9 on one thread takes a few seconds here.
BIG_ROWS = 600_000
SLOW = {"BACKUP_COMPRESSION_LEVEL": "9", "BACKUP_COMPRESSION_THREADS": "1"}


@pytest.fixture(scope="module")
def big_database(postgres: PostgresServer) -> Iterator[str]:
    """A database with one generated table large enough to catch a dump in the middle."""
    with generated_database(postgres, f"faults_big_{os.getpid()}", BIG_ROWS) as name:
        yield name


def wait_for_partial(
    backups: Path, proc: subprocess.Popen[str], min_bytes: int = 256 * 1024
) -> Path:
    """Wait until the run's temporary file holds ``min_bytes``: the dump is under way."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the backup ended before it could be interrupted:\n{out}\n{err}")
        if backups.is_dir():
            for item in backups.iterdir():
                if ".partial-" in item.name and item.stat().st_size >= min_bytes:
                    return item
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no partial backup file appeared")


def start_mid_dump(
    project: Path, postgres: PostgresServer, database: str
) -> tuple[Path, dict[str, str], subprocess.Popen[str], Path]:
    """An older good backup in place, then a slow backup of ``database`` caught mid-dump.

    Returns the backup directory, its snapshot before the run, the run, and its partial file.
    """
    backups = project / "backups"
    fake_backup(backups, f"{database}_daily_{OLD_STAMP}.sql.gz")
    before = snapshot(backups)
    proc = start_tool(project, [], {**postgres.env(database), **SLOW})
    return backups, before, proc, wait_for_partial(backups, proc)


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """Wait for a background run and return it as ``run_tool`` would."""
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_pg_dump_killed_mid_dump_exits_4_and_leaves_nothing(
    baked_project: Path, postgres: PostgresServer, big_database: str
) -> None:
    """Terminating pg_dump's server session mid-dump: exit 4 with the server's reason."""
    backups, before, proc, partial = start_mid_dump(baked_project, postgres, big_database)
    killed = postgres.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE application_name = 'db-backup' AND datname = '{big_database}'"
    )
    assert int(killed) >= 1
    result = finish(proc)
    assert result.returncode == 4, describe(result)
    # The server's words vary with timing ("terminating connection due to administrator
    # command" or "server closed the connection unexpectedly"); the stage is always named.
    assert "backup failed: pg_dump exited with status 1" in result.stderr, describe(result)
    assert 'Dumping the contents of table "big" failed' in result.stderr
    assert not partial.exists()
    assert snapshot(backups) == before, describe(result)


def test_sigterm_mid_dump_stops_children_and_cleans_up(
    baked_project: Path, postgres: PostgresServer, big_database: str
) -> None:
    """SIGTERM to the backup: exit 1, pg_dump and the compressor stopped, the partial file gone."""
    backups, before, proc, partial = start_mid_dump(baked_project, postgres, big_database)
    children = children_of(proc.pid)
    assert len(children) == 2, children  # pg_dump and the compressor
    for child in children:  # the password never travels in a process's arguments
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        assert postgres.password.encode() not in cmdline
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    assert result.returncode == 1, describe(result)
    assert "interrupted by SIGTERM" in result.stderr
    assert not any(alive(child) for child in children)
    assert not partial.exists()
    assert snapshot(backups) == before, describe(result)


def test_concurrent_run_exits_1_naming_the_running_one(
    baked_project: Path, postgres: PostgresServer, big_database: str
) -> None:
    """A second run of the same database and directory exits 1 at once, naming the first's pid.

    It leaves nothing behind and does not disturb the running backup or the older one.
    """
    backups, before, first, partial = start_mid_dump(baked_project, postgres, big_database)
    second = run_tool(baked_project, [], {**postgres.env(big_database), **SLOW})
    assert second.returncode == 1, describe(second)
    assert f"pid {first.pid}" in second.stderr, describe(second)
    assert partial.exists()  # the running backup is not disturbed
    during = snapshot(backups)
    del during[partial.name]
    assert during == before, describe(second)
    first.send_signal(signal.SIGTERM)
    finish(first)
    assert not partial.exists()
    assert snapshot(backups) == before


# --- how the tool is reached ---------------------------------------------------------------


def test_missing_python3_is_a_config_error_with_what_to_install(
    baked_project: Path, tmp_path: Path
) -> None:
    """Without python3 on PATH the script exits 2 with one log line saying what to install."""
    path = program_dir(tmp_path / "bin", python=False)
    result = run_tool(baked_project, [], {"PATH": path})
    assert result.returncode == 2, describe(result)
    (line,) = result.stderr.splitlines()
    assert "[ERROR] python3 (3.10 or newer) is required" in line and "apt-get install" in line


def test_python_module_and_script_are_the_same_tool(baked_project: Path) -> None:
    """``python -m db_backup`` (with the package on PYTHONPATH) answers like the script."""
    via_script = run_tool(baked_project, ["--version"])
    module = subprocess.run(
        [sys.executable, "-m", "db_backup", "--version"],
        env=tool_environ({"PYTHONPATH": str(baked_project / "tools" / "db-backup" / "src")}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert via_script.returncode == module.returncode == 0
    assert via_script.stdout == module.stdout and module.stdout.startswith("db-backup ")


def test_script_works_through_a_symlink_from_elsewhere(baked_project: Path, tmp_path: Path) -> None:
    """A symlink to the script (e.g. in /usr/local/bin) still finds the project."""
    link = tmp_path / "db-backup"
    link.symlink_to(baked_project / TOOL)
    result = subprocess.run(
        [str(link), "--help"], env=tool_environ(), cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "Exit codes" in result.stdout


# --- tools and file systems -------------------------------------------------------------


def test_pg_dump_older_than_the_server_is_a_config_error_with_a_hint(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """A pg_dump whose major version is below the server's: exit 2 before dumping, with a hint."""
    old_pg_dump = (
        'if [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 9.6.24"; exit 0; fi\nexit 99'
    )
    path = program_dir(
        tmp_path / "fake-bin", ("psql", "pg_dumpall", "pigz"), scripts={"pg_dump": old_pg_dump}
    )
    result = run_tool(baked_project, [], {**postgres.env(database("small")), "PATH": path})
    assert result.returncode == 2, describe(result)
    assert "pg_dump 9 cannot dump a PostgreSQL" in result.stderr
    assert "hint: install postgresql-client-" in result.stderr
    assert not (baked_project / "backups").exists() or not list(
        (baked_project / "backups").glob("*.sql.gz")
    )


@pytest.mark.parametrize(
    ("missing", "env", "expected"),
    [
        ("pg_dump", {}, "pg_dump is required"),
        ("pg_dumpall", {}, "pg_dumpall is required"),
        ("compressor", {}, "gzip is required"),
        ("compressor", {"BACKUP_COMPRESSION": "zstd"}, "zstd is required"),
    ],
    ids=["no-pg_dump", "no-pg_dumpall", "no-gzip-or-pigz", "no-zstd"],
)
def test_missing_tools_are_config_errors_saying_what_to_install(
    missing: str,
    env: dict[str, str],
    expected: str,
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
) -> None:
    """No pg_dump, no pg_dumpall (for the roles file), no gzip/pigz, or no zstd when asked
    for: exit 2 with an install hint."""
    real = tuple(name for name in ("psql", "pg_dump", "pg_dumpall") if name != missing)
    path = program_dir(tmp_path / "fake-bin", real)
    run_env = {**postgres.env(database("small")), **env, "PATH": path}
    result = run_tool(baked_project, [], run_env)
    assert result.returncode == 2, describe(result)
    assert expected in result.stderr and "hint: install" in result.stderr


@contextlib.contextmanager
def mounted(*argv: str) -> Iterator[None]:
    """Run ``mount argv...`` for the block, or skip the test when mounting is not permitted."""
    target = argv[-1]
    done = subprocess.run(["mount", *argv], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"needs permission to mount (as root): {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", target], check=False)


def test_disk_full_mid_dump_exits_4_and_leaves_nothing(
    baked_project: Path, postgres: PostgresServer, big_database: str, tmp_path: Path
) -> None:
    """A backup directory that fills up mid-dump: exit 4 naming the cause; older backup kept."""
    small_disk = tmp_path / "small-disk"
    small_disk.mkdir()
    with mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small_disk)):
        fake_backup(small_disk, f"{big_database}_daily_{OLD_STAMP}.sql.gz")
        before = snapshot(small_disk)
        env = {**postgres.env(big_database), "BACKUP_DIR": str(small_disk)}
        result = run_tool(baked_project, [], env)
        assert result.returncode == 4, describe(result)
        assert "disk full" in result.stderr and "No space left on device" in result.stderr
        assert snapshot(small_disk) == before, describe(result)


def test_read_only_backup_dir_is_a_config_error(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """A read-only mount refuses even root: exit 2 before dumping, nothing changed."""
    dbname = database("small")
    backups = tmp_path / "ro-backups"
    fake_backup(backups, f"{dbname}_daily_{OLD_STAMP}.sql.gz")
    before = snapshot(backups)
    with mounted("--bind", "-o", "ro", str(backups), str(backups)):
        result = run_tool(baked_project, [], {**postgres.env(dbname), "BACKUP_DIR": str(backups)})
        assert result.returncode == 2, describe(result)
        assert "is not writable" in result.stderr
    assert snapshot(backups) == before
