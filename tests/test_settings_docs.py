"""The template's env examples and README tables (and the .env.example fragment) match the table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]


def settings_docs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "-r", str(REPOSITORY_ROOT), "settings-docs", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_template_files_generated_from_the_settings_table_are_up_to_date() -> None:
    """``settings-docs --check`` finds nothing stale in the template repository.

    After changing tools/db-backup/src/db_backup/variables.py, run ``./dev settings-docs``.
    """
    result = settings_docs("--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
