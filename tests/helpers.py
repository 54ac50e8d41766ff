"""Helpers for running a baked project's backup tool the way an operator would."""

from __future__ import annotations

import os
import secrets
import shutil
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


def start_tool(
    project: Path,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    *,
    script: Path = TOOL,
    own_session: bool = False,
) -> subprocess.Popen[str]:
    """Start ``<project>/<script> args`` (db-backup.sh by default) in the background, as cron
    would; with ``own_session`` in a session of its own, so its whole group can be killed.

    The same clean environment as ``run_tool``; stdout and stderr are captured as text.
    """
    return subprocess.Popen(
        [str(project / script), *args],
        env=tool_environ(env),
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_session,
    )


# What scripts/db-backup.sh itself runs before it hands over to python3.
SHIM_PROGRAMS = ("bash", "readlink", "dirname", "date")


def program_dir(
    directory: Path,
    programs: Sequence[str] = (),
    *,
    python: bool = True,
    links: Mapping[str, str] | None = None,
    scripts: Mapping[str, str] | None = None,
) -> str:
    """A directory to use as the whole PATH, holding only what a test allows the tool.

    The shim's own programs and ``programs`` are symlinked from this PATH, ``links`` maps
    names to given paths, ``python3`` is this interpreter unless ``python`` is false, and
    ``scripts`` maps names to small bash bodies (fakes). Returns the directory as a string.
    """
    directory.mkdir()
    if python:
        os.symlink(os.path.realpath(sys.executable), directory / "python3")
    for program in (*SHIM_PROGRAMS, *programs):
        found = shutil.which(program)
        assert found, f"{program} is needed for this test"
        os.symlink(os.path.realpath(found), directory / program)
    for name, target in (links or {}).items():
        os.symlink(target, directory / name)
    for name, body in (scripts or {}).items():
        script = directory / name
        script.write_text("#!/bin/bash\n" + body + "\n")
        script.chmod(0o755)
    return str(directory)


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A readable account of a finished run, for assertion messages."""
    args = result.args if isinstance(result.args, str) else " ".join(map(str, result.args))
    return (
        f"command: {args}\nexit status: {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
