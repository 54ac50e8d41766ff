"""A backup run with a stand-in pg_dump: a full disk, and what the metrics say afterwards.

The stand-in prints a fixed dump (or fails as pg_dump does), so the real pipeline,
compressor, publishing and metrics run without a server; the server checks of the
preflight are the only step left out (the root suite runs them against PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from db_backup import backup, dump
from db_backup.backup import run_backup
from db_backup.config import Options, Settings, load_settings
from db_backup.errors import DumpError
from db_backup.metrics import labels, parse_samples

SQL = (
    b"--\n-- PostgreSQL database dump\n--\n\n"
    b"--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n"
    b"COPY public.t (id) FROM stdin;\n1\n\\.\n\n"
    b"--\n-- PostgreSQL database dump complete\n--\n\n"
)
STARTED = dt.datetime(2026, 1, 2, 3, 4, 5)


@pytest.fixture
def fake_pg_dump(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Put a ``pg_dump`` first on PATH whose shell body is the given text."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    def install(body: str) -> None:
        program = bin_dir / "pg_dump"
        program.write_text(f"#!/bin/sh\n{body}\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR)

    return install


@pytest.fixture
def dump_prints_sql(tmp_path: Path, fake_pg_dump: Callable[[str], None]) -> None:
    """A pg_dump that writes a small complete plain dump."""
    sql = tmp_path / "dump.sql"
    sql.write_bytes(SQL)
    fake_pg_dump(f"exec /bin/cat '{sql}'")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for database ``shop``, backups in ``tmp_path/backups``, metrics beside them."""
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    (tmp_path / "backups").mkdir(mode=0o700)
    env = {
        "DB_BACKUP_PROJECT_ROOT": str(root),
        "HOME": str(root),
        "PGPASSWORD": "pw",
        "POSTGRES_DB": "shop",
        "BACKUP_DIR": str(tmp_path / "backups"),
        "BACKUP_METRICS_FILE": str(tmp_path / "backup.prom"),
        "BACKUP_COMPRESSION": "gzip",
        "BACKUP_OWNERSHIP": "drop",  # no roles file: pg_dumpall would need a server
    }
    return load_settings(Options(backup_type="daily"), env)


@pytest.fixture
def no_server_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave out the preflight: it logs in to a server, which unit tests do not have."""
    monkeypatch.setattr(backup, "_preflight", lambda settings: None)


def metric(settings: Settings, name: str) -> str | None:
    assert settings.metrics_file is not None
    samples = parse_samples(settings.metrics_file.read_text())
    return samples.get((name, labels(settings.connection.dbname, settings.backup_type)))


# --- a full disk ---------------------------------------------------------------------


def writes_into(device: str, flags: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the temporary backup file a real file whose descriptor writes to ``device``."""
    real = dump.create_exclusive

    def create_exclusive(path: Path, *args: int) -> int:
        fd = real(path, *args)
        target = os.open(device, flags)
        os.dup2(target, fd)
        os.close(target)
        return fd

    monkeypatch.setattr(dump, "create_exclusive", create_exclusive)


@pytest.mark.usefixtures("dump_prints_sql")
def test_a_full_disk_is_named_as_such_and_leaves_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel's ENOSPC (from /dev/full) is a dump error saying the disk is full."""
    writes_into("/dev/full", os.O_WRONLY, monkeypatch)
    with pytest.raises(DumpError) as raised:
        dump.write_dump(settings, started=STARTED)
    error = raised.value
    assert error.msg == (
        f"disk full while writing the backup in {settings.backup_dir}: No space left on device"
    )
    assert error.hint and "free space or point BACKUP_DIR at a larger volume" in error.hint
    assert list(settings.backup_dir.iterdir()) == []


@pytest.mark.usefixtures("dump_prints_sql")
def test_another_write_error_is_not_called_a_full_disk(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write refused for another reason (here EBADF) says so, without the disk-full hint."""
    writes_into("/dev/null", os.O_RDONLY, monkeypatch)
    with pytest.raises(DumpError) as raised:
        dump.write_dump(settings, started=STARTED)
    assert raised.value.msg.startswith(f"cannot write the backup in {settings.backup_dir}: ")
    assert raised.value.hint is None
    assert list(settings.backup_dir.iterdir()) == []


# --- metrics -------------------------------------------------------------------------


@pytest.mark.usefixtures("dump_prints_sql", "no_server_checks")
def test_a_successful_run_records_its_success(settings: Settings) -> None:
    result = run_backup(settings)
    assert re.fullmatch(r"shop_daily_\d{8}_\d{6}\.sql\.gz", result.filename)
    assert gzip.decompress(result.path.read_bytes()) == SQL
    digest = hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.checksum_path.read_text() == f"{digest}  {result.filename}\n"
    assert metric(settings, "backup_last_exit_code") == "0"
    assert metric(settings, "backup_size_bytes") == str(result.size)
    success = metric(settings, "backup_last_success_timestamp")
    assert success is not None and success == metric(settings, "backup_last_run_timestamp")


@pytest.mark.usefixtures("no_server_checks")
def test_a_failed_dump_records_no_success(
    settings: Settings, fake_pg_dump: Callable[[str], None]
) -> None:
    """pg_dump failing: its error line in the message, exit 4 in the metrics, no success."""
    fatal = "FATAL:  terminating connection due to administrator command"
    fake_pg_dump(
        f"echo 'pg_dump: dumping contents of table public.t' >&2; echo '{fatal}' >&2; exit 1"
    )
    with pytest.raises(DumpError) as raised:
        run_backup(settings)
    assert raised.value.msg.startswith("backup failed: ")
    assert raised.value.msg.endswith(f": {fatal}")
    assert raised.value.detail == "pg_dump: dumping contents of table public.t"
    assert list(settings.backup_dir.glob("shop_*")) == []
    assert metric(settings, "backup_last_exit_code") == "4"
    assert metric(settings, "backup_size_bytes") == "0"
    assert metric(settings, "backup_last_run_timestamp") is not None
    assert metric(settings, "backup_last_success_timestamp") is None


@pytest.mark.parametrize(
    ("exit_code", "made", "succeeded"),
    [(0, True, True), (7, True, True), (6, True, False), (5, False, False), (2, False, False)],
    ids=["made", "made-but-old-ones-kept", "made-but-not-uploaded", "verify-failed", "config"],
)
def test_a_run_succeeded_when_its_backup_was_made_and_stored(
    settings: Settings, exit_code: int, made: bool, succeeded: bool
) -> None:
    """Exit 7 (only old backups could not be deleted) counts as a success; exit 6 does not."""
    backup._write_metrics(settings, exit_code, 1.5, 100 if made else 0, made)
    assert metric(settings, "backup_last_exit_code") == str(exit_code)
    assert (metric(settings, "backup_last_success_timestamp") is not None) == succeeded
