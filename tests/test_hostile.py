"""Hostile conditions: a killed tool, held locks, lost connections, planted symlinks, odd names.

Each test runs the baked tool as a real process against the real server and checks
what an operator would see: the exit code, one clear line, and what is left on
disk or on the server.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backup_support import backups_in, error_lines, generated_database
from tests.helpers import alive, children_of, describe, run_tool, start_tool, tool_environ
from tests.restore_support import run_restore, start_restore
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def locked_table(postgres: PostgresServer, database: Callable[..., str]) -> Iterator[str]:
    """A database whose table ``big`` another session holds in ACCESS EXCLUSIVE mode."""
    dbname = database("small")
    postgres.psql("CREATE TABLE big AS SELECT g AS id FROM generate_series(1, 1000) AS g", dbname)
    holder = subprocess.Popen(
        postgres.psql_command(dbname),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=postgres.psql_env(),
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write("BEGIN;\nLOCK TABLE big IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "locked"
    yield dbname
    holder.stdin.close()
    holder.wait(timeout=30)


def lock_waiters(postgres: PostgresServer, dbname: str) -> int:
    """Sessions of ``dbname`` that wait for a lock."""
    return int(
        postgres.psql(
            "SELECT count(*) FROM pg_stat_activity "
            f"WHERE datname = '{dbname}' AND wait_event_type = 'Lock'"
        )
    )


# --- 1: children die with the tool; pg_dump does not wait on a lock forever ----------------


def test_sigkill_of_the_tool_kills_pg_dump_and_the_compressor(
    baked_project: Path, postgres: PostgresServer, locked_table: str
) -> None:
    """pg_dump waits for a held lock; the tool is killed with SIGKILL: its children die too."""
    env = {**postgres.env(locked_table), "BACKUP_LOCK_WAIT_TIMEOUT": "10"}
    proc = start_tool(baked_project, [], env)
    wait_until(lambda: lock_waiters(postgres, locked_table) == 1, "pg_dump to wait for the lock")
    children = children_of(proc.pid)
    assert len(children) == 2, children  # pg_dump and the compressor
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    # Well before the 10 s lock wait could end pg_dump by itself.
    wait_until(lambda: not any(alive(child) for child in children), "the children to die", 3)
    # The server notices a vanished client only when it next talks to it; the lock wait
    # timeout bounds how long pg_dump's session stays queued behind the lock.
    wait_until(lambda: lock_waiters(postgres, locked_table) == 0, "pg_dump's session to end")


def test_a_held_lock_fails_the_dump_with_exit_4_naming_the_table(
    baked_project: Path, postgres: PostgresServer, locked_table: str
) -> None:
    """BACKUP_LOCK_WAIT_TIMEOUT=1: exit 4 within seconds, the line names the table and setting."""
    env = {**postgres.env(locked_table), "BACKUP_LOCK_WAIT_TIMEOUT": "1"}
    result = run_tool(baked_project, [], env, timeout=60)
    assert result.returncode == 4, describe(result)
    first = error_lines(result.stderr)[0]
    assert "pg_dump waited 1 s for a lock on table public.big" in first, describe(result)
    assert "BACKUP_LOCK_WAIT_TIMEOUT" in result.stderr
    assert backups_in(baked_project / "backups") == []
    assert not [p for p in (baked_project / "backups").iterdir() if ".partial-" in p.name]


# --- 3: the server failing the test restore is exit 3, and the backup is kept --------------

BIG_ROWS = 800_000


@pytest.fixture(scope="module")
def big_database(postgres: PostgresServer) -> Iterator[str]:
    """A database whose test restore takes long enough to cut its connection half way."""
    with generated_database(postgres, f"hostile_big_{os.getpid()}", BIG_ROWS) as name:
        yield name


def scratch_sessions(postgres: PostgresServer, dbname: str) -> list[str]:
    """Backend pids of sessions connected to a scratch database of ``dbname``."""
    return postgres.psql(
        "SELECT pid FROM pg_stat_activity "
        f"WHERE datname LIKE '{dbname}\\_verify\\_%' AND backend_type = 'client backend'"
    ).split()


def scratch_databases(postgres: PostgresServer, dbname: str) -> list[str]:
    """Scratch databases of ``dbname`` that exist."""
    return postgres.psql(
        f"SELECT datname FROM pg_database WHERE datname LIKE '{dbname}\\_verify\\_%'"
    ).split()


def test_a_lost_connection_during_the_test_restore_is_exit_3_and_keeps_the_backup(
    baked_project: Path, postgres: PostgresServer, big_database: str
) -> None:
    """The test restore's session is terminated: exit 3; the file keeps its name and verifies."""
    backups = baked_project / "backups"
    proc = start_tool(baked_project, ["--verify"], postgres.env(big_database))
    wait_until(lambda: bool(scratch_sessions(postgres, big_database)), "the test restore", 120)
    pids = ",".join(scratch_sessions(postgres, big_database))
    postgres.psql(f"SELECT pg_terminate_backend(pid) FROM unnest(ARRAY[{pids}]) AS pid")
    out, err = proc.communicate(timeout=300)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    assert result.returncode == 3, describe(result)
    assert "test restore: the connection to the server was lost" in err, describe(result)
    (kept,) = backups_in(backups)
    assert (backups / f"{kept}.sha256").is_file()
    assert not [p.name for p in backups.iterdir() if p.name.endswith(".failed")]
    assert f"backup kept, unverified: {backups / kept}" in err, describe(result)
    assert scratch_databases(postgres, big_database) == []
    again = run_tool(
        baked_project, ["--verify-file", str(backups / kept)], postgres.env(big_database)
    )
    assert again.returncode == 0, describe(again)


# --- 9: dangling symlinks at the next names: no spin, every retry bounded ------------------


def test_dangling_symlinks_at_the_next_names_are_skipped_not_spun_on(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """Symlinks to nowhere at every name of the next two minutes: the backup takes a later one."""
    dbname = database("small")
    backups = baked_project / "backups"
    backups.mkdir(exist_ok=True)  # the hook makes it for the compose bind mount
    now = dt.datetime.now().replace(microsecond=0)
    planted = []
    for offset in range(-5, 120):
        name = f"{dbname}_daily_{now + dt.timedelta(seconds=offset):%Y%m%d_%H%M%S}.sql.gz"
        os.symlink(tmp_path / "nowhere" / name, backups / name)
        planted.append(name)

    result = run_tool(baked_project, [], postgres.env(dbname), timeout=60)

    assert result.returncode == 0, describe(result)
    made = [name for name in backups_in(backups) if not (backups / name).is_symlink()]
    assert len(made) == 1 and made[0] not in planted, made
    assert all((backups / name).is_symlink() for name in planted)
    assert not (tmp_path / "nowhere").exists()


def test_no_free_name_at_all_is_exit_4_at_once(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """Every name of the next hour taken by a dangling symlink: exit 4 with one line, no spin."""
    dbname = database("small")
    backups = baked_project / "backups"
    backups.mkdir(exist_ok=True)  # the hook makes it for the compose bind mount
    now = dt.datetime.now().replace(microsecond=0)
    for offset in range(-30, 3700):
        name = f"{dbname}_daily_{now + dt.timedelta(seconds=offset):%Y%m%d_%H%M%S}.sql.gz"
        os.symlink(tmp_path / "nowhere", backups / name)

    result = run_tool(baked_project, [], postgres.env(dbname), timeout=60)

    assert result.returncode == 4, describe(result)
    assert "no free backup file name" in error_lines(result.stderr)[0], describe(result)
    assert not [p for p in backups.iterdir() if ".partial-" in p.name or p.name.endswith(".sha256")]


# --- 10: the lock file: no symlink followed, only our own regular file used ----------------


@pytest.mark.parametrize("planted", ["symlink", "other-owner", "hard-link"])
def test_a_planted_lock_file_is_refused_and_its_target_untouched(
    planted: str,
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
) -> None:
    """A symlink, another user's file or a hard link at ``.<db>.lock``: exit 2, nothing written."""
    dbname = database("small")
    backups = baked_project / "backups"
    backups.mkdir(exist_ok=True)  # the hook makes it for the compose bind mount
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    lock = backups / f".{dbname}.lock"
    if planted == "symlink":
        os.symlink(victim, lock)
    elif planted == "hard-link":
        os.link(victim, lock)
    else:
        lock.write_text("precious\n")
        os.chown(lock, 65534, 65534)  # nobody

    result = run_tool(baked_project, [], postgres.env(dbname))

    assert result.returncode == 2, describe(result)
    assert f"refusing the lock file {lock}" in error_lines(result.stderr)[0], describe(result)
    target = lock if planted == "other-owner" else victim
    assert target.read_text() == "precious\n"
    assert backups_in(backups) == []


# --- 13: a closed stdout never stops a backup ----------------------------------------------


@pytest.mark.parametrize("closed", [">&-", "2>&-", ">&- 2>&-"])
def test_a_closed_stdout_or_stderr_still_makes_the_backup(
    closed: str, baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Run as ``db-backup.sh >&-`` (cron with closed streams): exit 0 and a verified backup."""
    dbname = database("small")
    result = subprocess.run(
        [
            "bash",
            "-c",
            f'exec "$0" --verify {closed}',
            str(baked_project / "scripts" / "db-backup.sh"),
        ],
        env=tool_environ(postgres.env(dbname)),
        cwd=baked_project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, describe(result)
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr, describe(
        result
    )
    if closed == ">&-":  # errors and warnings still reach the open stream
        assert all(line.startswith("[") for line in result.stderr.splitlines()), describe(result)
    (made,) = backups_in(baked_project / "backups")
    assert (baked_project / "backups" / f"{made}.sha256").is_file()


# --- 6 and 8: names PostgreSQL would not keep as given are refused up front ----------------


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("POSTGRES_DB", "shop\nother", "control character"),
        ("POSTGRES_DB", "tab\there", "control character"),
        ("POSTGRES_DB", "del\x7f", "control character"),
        ("POSTGRES_USER", "backup\r", "control character"),
        ("POSTGRES_DB", "d" * 230, "230 bytes long"),
        ("POSTGRES_DB", "é" * 32, "64 bytes long"),
        ("POSTGRES_USER", "u" * 64, "64 bytes long"),
    ],
    ids=["db-newline", "db-tab", "db-del", "user-cr", "db-230", "db-64-utf8", "user-64"],
)
def test_a_name_postgresql_would_not_keep_is_exit_2_with_one_line(
    variable: str, value: str, words: str, baked_project: Path, postgres: PostgresServer
) -> None:
    """Control characters or more than 63 bytes: exit 2, one line naming the variable."""
    env = {**postgres.env("postgres"), variable: value}
    result = run_tool(baked_project, [], env)
    assert result.returncode == 2, describe(result)
    (line,) = result.stderr.splitlines()
    assert "[ERROR] " in line and variable in line and words in line, describe(result)
    assert not (baked_project / "backups").exists() or backups_in(baked_project / "backups") == []


@pytest.mark.parametrize("baked_project", [{"postgres_db": "d" * 63}], indirect=True)
def test_a_63_byte_database_name_is_backed_up(
    baked_project: Path, postgres: PostgresServer
) -> None:
    """The longest name PostgreSQL keeps works end to end, its file names included."""
    dbname = "d" * 63
    postgres.drop_database(dbname)
    postgres.create_database(dbname)
    try:
        result = run_tool(baked_project, ["--verify"], postgres.env(dbname))
        assert result.returncode == 0, describe(result)
        (made,) = backups_in(baked_project / "backups")
        assert made.startswith(f"{dbname}_daily_")
    finally:
        postgres.drop_database(dbname)


# --- 7: quoted env-file values verbatim; only unquoted surrounding whitespace trimmed ------


@pytest.mark.parametrize(
    ("line", "dbname"),
    [
        ("POSTGRES_DB='{name} '", "{name} "),
        ('POSTGRES_DB=" {name}"', " {name}"),
        ("POSTGRES_DB=   {name}   ", "{name}"),
    ],
    ids=["single-quoted-trailing-space", "double-quoted-leading-space", "unquoted-trimmed"],
)
def test_quoted_env_file_values_are_taken_verbatim(
    line: str, dbname: str, baked_project: Path, postgres: PostgresServer
) -> None:
    """The database named in the env file, spaces and all, is the one backed up."""
    name = f"trail_{os.getpid()}"
    target = dbname.format(name=name)
    postgres.drop_database(target)
    postgres.create_database(target)
    try:
        (baked_project / "scripts" / "backup-config.env").write_text(line.format(name=name) + "\n")
        env = postgres.env("unused")
        del env["POSTGRES_DB"]
        result = run_tool(baked_project, [], env)
        assert result.returncode == 0, describe(result)
        assert f"Database: {target}@" in result.stdout, describe(result)
        (made,) = backups_in(baked_project / "backups")
        assert made.startswith(f"{target}_daily_"), made
    finally:
        postgres.drop_database(target)


# --- 11: missing directories are created with an explicit mode, whatever the umask --------


def test_missing_parents_are_created_0700_under_umask_000(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> None:
    """BACKUP_DIR three levels below an existing directory, umask 000: every new one is 0700."""
    dbname = database("small")
    top = tmp_path / "new"
    backup_dir = top / "deeper" / "backups"
    env = {**postgres.env(dbname), "BACKUP_DIR": str(backup_dir)}
    result = subprocess.run(
        ["bash", "-c", 'umask 000 && exec "$0"', str(baked_project / "scripts" / "db-backup.sh")],
        env=tool_environ(env),
        cwd=baked_project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, describe(result)
    for directory in (top, top / "deeper", backup_dir):
        assert oct(directory.stat().st_mode & 0o7777) == oct(0o700), directory
    for made in backup_dir.iterdir():
        assert oct(made.stat().st_mode & 0o777) == oct(0o600), made


# --- 12: a directory at a partial-file name is left alone and reported as such -------------


def test_a_directory_at_a_partial_name_is_left_alone_and_not_reported_removed(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """A stale partial file is removed and said so; a directory with such a name is kept."""
    dbname = database("small")
    backups = baked_project / "backups"
    backups.mkdir(exist_ok=True)  # the hook makes it for the compose bind mount
    directory = backups / f".{dbname}_daily_20200101_000000.sql.gz.partial-12345"
    (directory / "inside").mkdir(parents=True)
    stale = backups / f".{dbname}_daily_20200102_000000.sql.gz.partial-23456"
    stale.write_bytes(b"cut short")

    for run in range(2):
        result = run_tool(baked_project, [], postgres.env(dbname))
        assert result.returncode == 0, describe(result)
        assert (f"removed {stale.name}" in result.stderr) == (run == 0), describe(result)
        assert f"removed {directory.name}" not in result.stderr, describe(result)
        assert f"{directory.name} has the name of a partial file but is a directory" in (
            result.stderr
        ), describe(result)
        assert (directory / "inside").is_dir()
    assert not stale.exists()


# --- 14: BACKUP_TIMEOUT: a frozen server session does not hold the run forever ------------


def run_frozen(
    proc: subprocess.Popen[str], sessions: Callable[[], list[str]], what: str
) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Wait for the run's server ``sessions``, stop them (SIGSTOP) until ``proc`` has ended.

    Returns the run's result and its child processes as they were while frozen. Without
    BACKUP_TIMEOUT the run would wait for the frozen sessions for ever.
    """
    frozen: list[int] = []

    def freeze() -> bool:
        frozen.extend(int(pid) for pid in sessions())
        return bool(frozen)

    try:
        wait_until(freeze, what, 120)
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        children = children_of(proc.pid)
        out, err = proc.communicate(timeout=180)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), children


def test_a_frozen_dump_session_ends_at_backup_timeout_with_exit_4(
    baked_project: Path, postgres: PostgresServer, big_database: str
) -> None:
    """pg_dump's server process stopped (SIGSTOP): exit 4 naming BACKUP_TIMEOUT, nothing kept."""
    backups = baked_project / "backups"
    env = {**postgres.env(big_database), "BACKUP_TIMEOUT": "4"}
    proc = start_tool(baked_project, [], env)

    def dump_sessions() -> list[str]:
        return postgres.psql(
            "SELECT pid FROM pg_stat_activity "
            f"WHERE datname = '{big_database}' AND application_name = 'db-backup' "
            # pg_dump's COPY, not the tool's short login probe before it (freezing that
            # one would time the run out while preparing, not while dumping)
            "AND query LIKE 'COPY %'"
        ).split()

    result, children = run_frozen(proc, dump_sessions, "pg_dump's session")
    assert result.returncode == 4, describe(result)
    assert "BACKUP_TIMEOUT of 4 s reached while dumping" in error_lines(result.stderr)[0], describe(
        result
    )
    assert not any(alive(child) for child in children)
    assert backups_in(backups) == []
    assert not [p.name for p in backups.iterdir() if ".partial-" in p.name]


def test_a_frozen_test_restore_ends_at_backup_timeout_with_exit_3_and_keeps_the_backup(
    baked_project: Path, postgres: PostgresServer, big_database: str
) -> None:
    """The scratch database's session stopped (SIGSTOP): exit 3, the backup kept unverified."""
    backups = baked_project / "backups"
    env = {**postgres.env(big_database), "BACKUP_TIMEOUT": "30"}
    proc = start_tool(baked_project, ["--verify"], env)
    try:
        result, _ = run_frozen(
            proc, lambda: scratch_sessions(postgres, big_database), "the test restore"
        )
    finally:
        for name in scratch_databases(postgres, big_database):
            postgres.drop_database(name)
    assert result.returncode == 3, describe(result)
    assert "BACKUP_TIMEOUT of 30 s reached during the test restore" in result.stderr, describe(
        result
    )
    (kept,) = backups_in(backups)
    assert (backups / f"{kept}.sha256").is_file()
    assert not [p.name for p in backups.iterdir() if p.name.endswith(".failed")]


def test_a_frozen_restore_ends_at_backup_timeout_with_exit_8_and_is_cleaned_next_time(
    baked_project: Path, postgres: PostgresServer, big_database: str
) -> None:
    """db-restore.sh under BACKUP_TIMEOUT: exit 8, nothing committed; the next run cleans up."""
    assert run_tool(baked_project, [], postgres.env(big_database)).returncode == 0
    env = {**postgres.env(big_database), "BACKUP_TIMEOUT": "20"}
    proc = start_restore(baked_project, [f"--target={big_database}_frozen"], env)

    def restore_sessions() -> list[str]:
        return postgres.psql(
            f"SELECT pid FROM pg_stat_activity WHERE datname = '{big_database}_frozen'"
        ).split()

    result, _ = run_frozen(proc, restore_sessions, "the restore's session")
    try:
        assert result.returncode == 8, describe(result)
        assert "BACKUP_TIMEOUT of 20 s reached while restoring" in result.stderr, describe(result)
        # Dropped now, or (its session was frozen) named and dropped by the next restore.
        again = run_restore(baked_project, ["--dry-run"], env)
        assert again.returncode == 0, describe(again)
        later = run_restore(baked_project, [f"--target={big_database}_thawed"], env)
        assert later.returncode == 0, describe(later)
        assert not postgres.database_exists(f"{big_database}_frozen"), describe(later)
    finally:
        postgres.drop_database(f"{big_database}_frozen")
        postgres.drop_database(f"{big_database}_thawed")
