"""Temporary names in shared directories: a leftover or a neighbour never blocks a run."""

from __future__ import annotations

import os
from pathlib import Path

from db_backup.atomic import write_text_atomic
from db_backup.backup import prepare_backup_dir


def test_atomic_write_is_not_blocked_by_a_leftover_of_the_same_pid(tmp_path: Path) -> None:
    """A crashed run with our pid (pid 1 in every container) left its temporary file."""
    target = tmp_path / "backup.prom"
    (tmp_path / f".backup.prom.tmp-{os.getpid()}").write_text("half a file")
    write_text_atomic(target, "new\n")
    assert target.read_text() == "new\n"


def test_backup_dir_check_is_not_blocked_by_a_leftover_probe(tmp_path: Path) -> None:
    """A run killed during the writability probe must not make the directory 'unwritable'."""
    (tmp_path / f".write-test-{os.getpid()}").touch()
    prepare_backup_dir(tmp_path)
