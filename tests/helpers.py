"""Helpers for running a baked project's backup tool the way an operator would."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

TOOL = Path("scripts") / "db-backup.sh"


def unique_name(prefix: str) -> str:
    """A name no other test uses: ``prefix-`` and 8 hex digits."""
    return f"{prefix}-{secrets.token_hex(4)}"


def tool_environ(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for the tool: PATH, HOME and LANG plus ``env``.

    Nothing else is inherited, so a developer's PG* or AWS* variables never leak into a
    test. The test virtualenv's bin directory leads PATH, so the shim's ``python3`` is the
    interpreter that has the optional boto3 extra; ``env`` may replace PATH.
    """
    venv_bin = str(Path(sys.executable).parent)
    inherited_path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    environ = {
        "PATH": os.pathsep.join([venv_bin, inherited_path]),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
    }
    environ.update(env or {})
    return environ


def run_tool(
    project: Path,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 300,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``<project>/scripts/db-backup.sh args`` with a clean environment; capture text output.

    The exit status is not checked: tests assert on it (see ``describe``).
    """
    return subprocess.run(
        [str(project / TOOL), *args],
        env=tool_environ(env),
        cwd=cwd or project,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


run_backup = run_tool


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A readable account of a finished run, for assertion messages."""
    args = result.args if isinstance(result.args, str) else " ".join(map(str, result.args))
    return (
        f"command: {args}\nexit status: {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )
