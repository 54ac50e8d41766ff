"""Real projects to apply the template onto, and what the tests do with them.

The projects are unmodified trees in ``../shared/host-projects`` (beside the repository;
``BACKUP_TEST_HOST_PROJECTS_DIR`` names another folder). A test copies one to a
temporary folder, applies the template with the command the README documents, and
checks what it got with the same tools a user has: compose's JSON schema, the project's
own pytest and ruff, and the backup script against a real PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.services.datasets import REPOSITORY_ROOT

HOST_PROJECTS_VARIABLE = "BACKUP_TEST_HOST_PROJECTS_DIR"
BIN = Path(sys.executable).parent
VOLATILE = re.compile(r"\s+in [0-9.]+s\b.*$")
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def host_projects_dir() -> Path:
    """Where the shared host projects are."""
    named = os.environ.get(HOST_PROJECTS_VARIABLE, "").strip()
    return Path(named) if named else REPOSITORY_ROOT.parent / "shared" / "host-projects"


def host_project(name: str) -> Path:
    """The pristine tree of host project ``name``; the test skips (saying why) without it."""
    source = host_projects_dir() / name
    if not source.is_dir():
        pytest.skip(
            f"{source} is absent: the host-project tests need ../shared/host-projects beside "
            f"the repository (or {HOST_PROJECTS_VARIABLE})"
        )
    return source


def copy_project(source: Path, parent: Path, name: str | None = None) -> Path:
    """A writable copy of ``source`` at ``parent/name`` (the shared trees are read-only)."""
    target = parent / (name or source.name)
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return target


def apply_template(
    project: Path, scratch: Path, **answers: str
) -> subprocess.CompletedProcess[str]:
    """Apply the template onto ``project`` exactly as the README says:

    ``cookiecutter <template> --no-input --overwrite-if-exists -o <parent> project_slug=<name>``
    """
    scratch.mkdir(parents=True, exist_ok=True)
    extra = [f"{key}={value}" for key, value in answers.items()]
    command = [
        str(BIN / "cookiecutter"),
        str(REPOSITORY_ROOT),
        "--no-input",
        "--overwrite-if-exists",
        "-o",
        str(project.parent),
        f"project_slug={project.name}",
        *extra,
    ]
    environ = {**os.environ, "TMPDIR": str(scratch), "HOME": str(scratch)}
    return subprocess.run(
        command, capture_output=True, text=True, env=environ, timeout=300, check=False
    )


def tree_digest(root: Path, *, modes: bool = True) -> dict[str, str]:
    """{relative path: sha256 (and mode)} of every file, caches left out."""
    digest = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if IGNORED_PARTS & set(relative.parts) or not path.is_file():
            continue
        mode = " " + oct(stat.S_IMODE(path.stat().st_mode)) if modes else ""
        digest[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest() + mode
    return digest


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a checker in ``cwd``; output kept for assertions."""
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def compose_schema_errors(path: Path) -> str:
    """check-jsonschema's complaint about a compose file against the compose-spec schema."""
    result = run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        path.parent,
    )
    return (
        ""
        if result.returncode == 0
        else f"exit {result.returncode}: {result.stdout}{result.stderr}"
    )


def pytest_collection(project: Path) -> list[str]:
    """What the project's own pytest configuration collects from its root.

    The project's configuration (rootdir, testpaths, python_files, conftest files) is
    used as it is; only ``addopts`` is emptied, because it names plugins of the project's
    dependencies (pytest-django's ``--ds``) that cannot be installed here. Test ids and
    the paths that fail to import are listed, so a change in either shows.
    """
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
        ],
        project,
    )
    lines = []
    for line in result.stdout.splitlines():
        if "::" in line and not line.startswith(" "):
            lines.append(line)
        elif line.startswith("ERROR "):
            lines.append(VOLATILE.sub("", line.split(" - ")[0]))
    return sorted(lines)


def ruff_findings(project: Path) -> tuple[list[str], list[str]]:
    """What ``ruff check`` and ``ruff format --check`` find in the project (its settings):
    the diagnostics, and the files that would be reformatted."""
    ruff = str(BIN / "ruff")
    lint = run([ruff, "check", "--no-cache", "--output-format", "concise", "."], project)
    style = run([ruff, "format", "--check", "--no-cache", "."], project)
    findings = [line for line in lint.stdout.splitlines() if re.match(r"\S+:\d+:\d+: ", line)]
    reformat = [line for line in style.stdout.splitlines() if line.startswith(("Would", " -->"))]
    return findings, reformat


# pre-commit-hooks' hooks (ids as a project's .pre-commit-config.yaml names them): the
# program the package installs and the file suffixes the hook is given (None: every file).
PRE_COMMIT_HOOKS = {
    "trailing-whitespace": ("trailing-whitespace-fixer", None),
    "end-of-file-fixer": ("end-of-file-fixer", None),
    "detect-private-key": ("detect-private-key", None),
    "check-yaml": ("check-yaml", (".yml", ".yaml")),
    "check-toml": ("check-toml", (".toml",)),
    "check-json": ("check-json", (".json",)),
    "check-docstring-first": ("check-docstring-first", (".py",)),
    "debug-statements": ("debug-statement-hook", (".py",)),
    "check-builtin-literals": ("check-builtin-literals", (".py",)),
}
PRE_COMMIT_HOOKS_REPO = "github.com/pre-commit/pre-commit-hooks"


def pre_commit_hook_ids(project: Path) -> list[str]:
    """The pre-commit-hooks hooks the project's .pre-commit-config.yaml runs."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return [
        hook["id"]
        for repo in config.get("repos", [])
        if str(repo.get("repo", "")).rstrip("/").endswith(PRE_COMMIT_HOOKS_REPO)
        for hook in repo.get("hooks", [])
        if hook["id"] in PRE_COMMIT_HOOKS
    ]


def run_pre_commit_hook(hook_id: str, root: Path, files: list[str]) -> tuple[int, dict[str, str]]:
    """Run one hook on ``files`` (relative to ``root``) as pre-commit would; return its exit
    status and the text of each file it rewrote, keyed by path."""
    program, suffixes = PRE_COMMIT_HOOKS[hook_id]
    chosen = [name for name in files if suffixes is None or name.endswith(suffixes)]
    if not chosen:
        return 0, {}
    before = {name: (root / name).read_bytes() for name in chosen}
    result = run([str(BIN / program), *chosen], root)
    rewritten = {
        name: (root / name).read_text(encoding="utf-8", errors="replace")
        for name in chosen
        if (root / name).read_bytes() != before[name]
    }
    return result.returncode, rewritten


def runs_hook(project: Path, hook_id: str) -> bool:
    """Whether the project's .pre-commit-config.yaml runs a hook with this id."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    return any(
        hook.get("id") == hook_id
        for repo in config.get("repos", [])
        for hook in repo.get("hooks", [])
    )


def typos_findings(project: Path, files: list[str]) -> str:
    """What the typos spell checker (a pre-commit hook of some projects) says of ``files``,
    with the project's own typos settings."""
    result = run([str(BIN / "typos"), "--force-exclude", *files], project)
    return f"exit {result.returncode}: {result.stdout}{result.stderr}" if result.returncode else ""


def pyproject_fmt_findings(project: Path, files: list[str]) -> str:
    """What pyproject-fmt (a pre-commit hook of some projects) would rewrite in ``files``."""
    result = run([str(BIN / "pyproject-fmt"), "--check", *files], project)
    return f"exit {result.returncode}: {result.stdout}{result.stderr}" if result.returncode else ""
