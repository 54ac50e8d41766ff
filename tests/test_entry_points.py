"""The developer entry points: ./dev, tasks.py, the README quick start and .ci/run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import describe
from tests.services.datasets import REPOSITORY_ROOT

README = REPOSITORY_ROOT / "README.md"
SCRIPTS = ("dev", ".ci/run")
TASKS = {"bake", "demo", "test", "lint", "bench"}


def quick_start_commands() -> list[str]:
    """The commands of the first shell block under the README's "Quick start" heading."""
    text = README.read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the quick start has no ```sh block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip()]


def invoke(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run this virtualenv's invoke on the repository's tasks.py."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPOSITORY_ROOT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_readme_quick_start_is_the_demo_and_the_test_command() -> None:
    """The quick start has exactly two commands: ./dev demo and ./dev test."""
    assert quick_start_commands() == ["./dev demo", "./dev test"]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the README's test command as written."""
    test_command = quick_start_commands()[1]
    lines = [line.strip() for line in (REPOSITORY_ROOT / ".ci/run").read_text().splitlines()]
    assert test_command in lines


@pytest.mark.parametrize("script", SCRIPTS)
def test_entry_script_is_executable_strict_bash(script: str) -> None:
    """The entry scripts are executable bash with errexit, nounset and pipefail."""
    path = REPOSITORY_ROOT / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


@pytest.mark.parametrize("script", SCRIPTS)
def test_entry_script_passes_shellcheck(script: str) -> None:
    """shellcheck finds nothing in the entry scripts."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (./dev installs it: apt-get install shellcheck)")
    result = subprocess.run(
        [shellcheck, str(REPOSITORY_ROOT / script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, describe(result)


def test_every_task_is_listed_with_a_one_line_docstring() -> None:
    """invoke --list shows bake, demo, test, lint and bench, each with its one-line summary."""
    result = invoke("--list")
    assert result.returncode == 0, describe(result)
    listed = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^  (\S+)\s+(.+)$", line)
        if match:
            listed[match.group(1)] = match.group(2)
    assert set(listed) >= TASKS
    for name in TASKS:
        assert listed[name].endswith("."), f"{name}: {listed[name]!r} is cut or wraps"


def test_bake_task_applies_key_value_answers(tmp_path: Path) -> None:
    """invoke bake --output DIR with key=value answers bakes the named project there."""
    result = invoke("bake", "--output", str(tmp_path), "--", "project_name=Corner Shop")
    assert result.returncode == 0, describe(result)
    assert (tmp_path / "corner_shop" / "scripts" / "db-backup.sh").is_file()


@pytest.mark.integration
def test_demo_makes_a_verified_backup_and_shows_it(tmp_path: Path) -> None:
    """The demo bakes, backs up a throwaway server with --verify, and lists the files."""
    output = tmp_path / "demo"
    result = invoke("demo", "--dataset", "small", "--output", str(output), timeout=600)

    assert result.returncode == 0, describe(result)
    backups = sorted((output / "my_project" / "backups").glob("my_project_daily_*.sql.gz"))
    assert len(backups) == 1, describe(result)
    assert f"{backups[0].name}.sha256" in result.stdout
    assert "the PostgreSQL server is stopped" in result.stdout
