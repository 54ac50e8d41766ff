"""Backup files and objects for the integration tests: make them, age them, look at them."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Endpoint

LOG_LINE = re.compile(
    r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] \[(DEBUG|INFO|WARNING|ERROR|SUCCESS)\] "
)
DAY = dt.timedelta(days=1)


def write_with_checksum(path: Path, data: bytes) -> Path:
    """A backup file holding ``data`` and a ``.sha256`` that matches it, as the tool writes them."""
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return path


def age_file(path: Path, age: dt.timedelta) -> None:
    """Set ``path``'s modification time ``age`` into the past (``touch -d``)."""
    stamp = time.time() - age.total_seconds()
    os.utime(path, (stamp, stamp))


def fake_backup(
    directory: Path, filename: str, age: dt.timedelta = 2 * DAY, *, checksum: bool = True
) -> Path:
    """A small gzip file named like a backup, its ``.sha256`` beside it, modified ``age`` ago."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    data = gzip.compress(f"-- PostgreSQL database dump ({filename})\n".encode())
    if checksum:
        write_with_checksum(path, data)
        age_file(path.with_name(filename + ".sha256"), age)
    else:
        path.write_bytes(data)
    age_file(path, age)
    return path


def backdate_object(s3: S3Endpoint, bucket: str, key: str, age: dt.timedelta) -> None:
    """Move an object's LastModified into the past on moto's server (``touch -d`` for S3)."""
    if s3.kind != "moto":
        pytest.skip(f"{s3.kind} cannot backdate an object's LastModified; moto's server can")
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    fake = s3_backends[DEFAULT_ACCOUNT_ID]["global"].buckets[bucket].keys[key]
    fake.last_modified = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - age


def snapshot(directory: Path) -> dict[str, str]:
    """``{name: sha256}`` of every file in ``directory`` except the tool's lock files."""
    if not directory.is_dir():
        return {}
    return {
        item.name: hashlib.sha256(item.read_bytes()).hexdigest()
        for item in sorted(directory.iterdir())
        if item.is_file() and not item.name.endswith(".lock")
    }


def backups_in(directory: Path) -> list[str]:
    """Names of finished backups (``.sql.gz``/``.sql.zst``) in ``directory``, sorted."""
    if not directory.is_dir():
        return []
    return sorted(
        item.name
        for item in directory.iterdir()
        if item.name.endswith((".sql.gz", ".sql.zst")) and not item.name.startswith(".")
    )


def error_lines(stderr: str) -> list[str]:
    """The ``[ERROR]`` log lines of a run."""
    return [line for line in stderr.splitlines() if "] [ERROR] " in line]


@contextlib.contextmanager
def generated_database(postgres: PostgresServer, name: str, rows: int) -> Iterator[str]:
    """Database ``name`` with one generated table ``big`` of ``rows`` rows; dropped afterwards."""
    postgres.drop_database(name)
    postgres.create_database(name)
    postgres.psql(
        "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 3) AS payload "
        f"FROM generate_series(1, {rows}) AS g",
        name,
    )
    try:
        yield name
    finally:
        postgres.drop_database(name)
