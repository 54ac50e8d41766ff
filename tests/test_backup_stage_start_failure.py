"""A pipeline stage that cannot even start is a backup creation error (exit 4), not a crash."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

BACKUP_FAILED = 4


def test_a_compressor_that_cannot_be_executed_exits_4_and_leaves_nothing(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
) -> None:
    """An executable ``pigz`` that the kernel refuses to run (no shebang: exec format error)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "pigz").write_bytes(b"\x00not a program\n")
    (fake_bin / "pigz").chmod(0o755)
    dbname = database("small")
    backup_dir = tmp_path / "backups"
    path = os.pathsep.join([str(fake_bin), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**postgres.env(dbname), "BACKUP_DIR": str(backup_dir), "PATH": path}

    result = run_tool(baked_project, [], env)

    assert result.returncode == BACKUP_FAILED, describe(result)
    assert "cannot start pigz" in result.stderr, describe(result)
    assert "unexpected error" not in result.stderr, describe(result)
    assert [p.name for p in backup_dir.iterdir() if not p.name.endswith(".lock")] == []
