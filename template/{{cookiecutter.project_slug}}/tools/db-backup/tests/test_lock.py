"""One run per backup directory and database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from db_backup.errors import GeneralError
from db_backup.lock import BackupLock


def test_second_lock_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    """While a run holds the lock, another gets exit 1 with the holder's pid."""
    with BackupLock(tmp_path, "shop"):
        with pytest.raises(GeneralError, match=f"pid {os.getpid()}") as caught:
            BackupLock(tmp_path, "shop").acquire()
        assert caught.value.exit_code == 1


def test_other_databases_do_not_wait(tmp_path: Path) -> None:
    """The lock is per database: another database's backup runs in parallel."""
    with BackupLock(tmp_path, "shop"), BackupLock(tmp_path, "blog"):
        pass


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    """Releasing the lock lets the next run in."""
    with BackupLock(tmp_path, "shop"):
        pass
    with BackupLock(tmp_path, "shop"):
        pass
