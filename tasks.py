"""Developer tasks for the template repository (run them through ``./dev <task>``)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from invoke import Context, Exit, task

if TYPE_CHECKING:
    from tests.services.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent
BUILD_DIR = ROOT / "build"
DEMO_DIR = ROOT / "demo"
DEMO_DATABASE = "my_project"  # the default answer for postgres_db
PYTHON = sys.executable
LINTED_PATHS = ("hooks", "tests", "tasks.py")
REPOSITORY_SCRIPTS = ("dev", ".ci/run")


def require(tool: str, install: str) -> str:
    """Absolute path of ``tool``, or stop the task with one line on how to install it."""
    found = shutil.which(tool) or _beside_python(tool)
    if found is None:
        raise Exit(f"{tool} is missing: {install}")
    return found


def _beside_python(tool: str) -> str | None:
    candidate = Path(PYTHON).parent / tool
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def parse_answers(pairs: Iterable[str]) -> dict[str, str]:
    """Turn ``key=value`` words into cookiecutter answers."""
    answers: dict[str, str] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key:
            raise Exit(f"expected key=value, got {pair!r}")
        answers[key] = value
    return answers


def remainder_pairs(remainder: str) -> list[str]:
    """Split the words after ``--`` into key=value pairs.

    invoke joins those words with spaces, so ``name="Shop Floor"`` arrives as two words; a
    word without ``=`` continues the value before it.
    """
    pairs: list[str] = []
    for word in remainder.split():
        if "=" in word or not pairs:
            pairs.append(word)
        else:
            pairs[-1] += " " + word
    return pairs


def bake_project(output_dir: Path, answers: dict[str, str]) -> Path:
    """Bake the template into ``output_dir`` without prompting; return the project folder."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.main import cookiecutter
    from jinja2 import TemplateError

    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        project = cookiecutter(
            str(ROOT),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            overwrite_if_exists=True,
        )
    except (CookiecutterException, TemplateError, SystemExit) as error:
        raise Exit(f"bake failed: {error}") from error
    return Path(project)


@task(
    iterable=["answer"],
    help={
        "output": "Directory to bake into (default: ./build, emptied first).",
        "answer": "A cookiecutter answer as key=value; repeat it, or list them after --.",
    },
)
def bake(c: Context, output: str = "", answer: list[str] | None = None) -> None:
    """Bake a project into ./build with key=value answers."""
    answers = parse_answers([*(answer or []), *remainder_pairs(c.remainder or "")])
    target = Path(output).resolve() if output else BUILD_DIR
    if not output and target.exists():
        shutil.rmtree(target)
    project = bake_project(target, answers)
    print(f"baked {project}")


def _dataset_for_demo(requested: str) -> str:
    """The dataset to load: the requested one, else Pagila when present, else the small one."""
    from tests.services.datasets import DATASETS

    if not requested:
        return "small" if DATASETS["pagila"].missing_files() else "pagila"
    if requested not in DATASETS:
        raise Exit(f"unknown dataset {requested!r}: choose one of {', '.join(sorted(DATASETS))}")
    missing = DATASETS[requested].missing_files()
    if missing:
        raise Exit(f"dataset {requested!r} is not available: {missing[0]} is missing")
    return requested


def _print_made(backup_dir: Path) -> None:
    """List every file the backup made, with sizes, and show the checksum files."""
    files = sorted(
        path for path in backup_dir.rglob("*") if path.is_file() and not path.name.startswith(".")
    )
    if not files:
        raise Exit(f"the backup reported success but {backup_dir} holds no files")
    print(f"\nmade in {backup_dir}:")
    for path in files:
        print(f"  {path.relative_to(backup_dir)}  {path.stat().st_size:,} bytes")
    for path in files:
        if path.name.endswith(".sha256"):
            print(f"\n{path.relative_to(backup_dir)}:\n  {path.read_text().strip()}")


def _demo_restore(project: Path, server: PostgresServer, env: dict[str, str], dbname: str) -> None:
    """Restore the newest backup with scripts/db-restore.sh; compare it with the source."""
    from tests.helpers import tool_environ

    restored = f"{dbname}_demo_restored"
    command = [str(project / "scripts" / "db-restore.sh"), f"--target={restored}"]
    print(f"\nrunning {' '.join(command)}\n", flush=True)
    server.drop_database(restored)
    try:
        result = subprocess.run(
            command, env=tool_environ(env), cwd=project, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise Exit(f"the restore failed with exit status {result.returncode}", code=1)
        source, copy = server.table_fingerprints(dbname), server.table_fingerprints(restored)
        if source != copy:
            raise Exit(f"{restored} differs from {dbname}", code=1)
        print(f"\n{restored} matches {dbname}: {len(copy)} tables, same rows and contents")
    finally:
        server.drop_database(restored)


@task(
    help={
        "dataset": "pagila (default when ../shared is present), chinook, northwind, small.",
        "output": "A new or empty directory to bake into (default: ./demo, emptied first).",
    }
)
def demo(c: Context, dataset: str = "", output: str = "") -> None:
    """Bake ./demo; back up, verify and restore a sample database."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers import TOOL, tool_environ
    from tests.services._net import ServiceUnavailable
    from tests.services.postgres import postgres_service

    chosen = _dataset_for_demo(dataset)
    target = Path(output).resolve() if output else DEMO_DIR
    if target == DEMO_DIR and target.exists():
        shutil.rmtree(target)
    elif target.exists() and any(target.iterdir()):
        raise Exit(f"{target} is not empty: give a new or empty directory")
    project = bake_project(target, {})
    print(f"baked {project}")
    dbname = DEMO_DATABASE
    backup_dir = project / "backups"
    try:
        with postgres_service() as server:
            print(f"started PostgreSQL ({server.kind}) on {server.host}:{server.port}")
            server.load_dataset(dbname, chosen)
            tables = server.table_fingerprints(dbname)
            rows = sum(fingerprint.rows for fingerprint in tables.values())
            print(f"loaded dataset {chosen!r}: {len(tables)} tables, {rows:,} rows")
            env = {**server.env(dbname), "BACKUP_DIR": str(backup_dir)}
            command = [str(project / TOOL), "--verify"]
            print(f"running {' '.join(command)}\n", flush=True)
            result = subprocess.run(
                command, env=tool_environ(env), cwd=project, stdin=subprocess.DEVNULL
            )
            if result.returncode != 0:
                raise Exit(f"the backup failed with exit status {result.returncode}", code=1)
            _demo_restore(project, server, env, dbname)
    except ServiceUnavailable as error:
        raise Exit(str(error)) from error
    _print_made(backup_dir)
    print(f"\nthe PostgreSQL server is stopped; the baked project stays in {project}")


@task(
    help={
        "args": "Extra pytest arguments as one string (or put them after --).",
    }
)
def test(c: Context, args: str = "") -> None:
    """Run the whole test suite (pytest on tests/ with -ra)."""
    # Extra arguments that name test files or directories replace the default tests/.
    extra = [*shlex.split(args), *shlex.split(c.remainder or "")]
    names_tests = any(Path(arg.split("::")[0]).exists() for arg in extra if not arg.startswith("-"))
    command = [PYTHON, "-m", "pytest", *([] if names_tests else ["tests"]), "-ra", *extra]
    c.run(shlex.join(command), pty=False, echo=True)


@task
def lint(c: Context) -> None:
    """Run ruff and shellcheck here and on a baked project."""
    ruff = require("ruff", "pip install -r requirements-dev.txt")
    shellcheck = require("shellcheck", "apt-get install shellcheck")
    paths = [path for path in LINTED_PATHS if (ROOT / path).exists()]
    if (ROOT / "benchmarks").is_dir():
        paths.append("benchmarks")
    with c.cd(str(ROOT)):
        c.run(shlex.join([ruff, "check", *paths]), echo=True)
        c.run(shlex.join([ruff, "format", "--check", *paths]), echo=True)
        scripts = [script for script in REPOSITORY_SCRIPTS if (ROOT / script).is_file()]
        c.run(shlex.join([shellcheck, *scripts]), echo=True)
    with tempfile.TemporaryDirectory(prefix="lint-bake-") as scratch:
        project = bake_project(Path(scratch), {})
        with c.cd(str(project)):
            c.run(shlex.join([ruff, "check", "."]), echo=True)
            c.run(shlex.join([ruff, "format", "--check", "."]), echo=True)
            shell_scripts = sorted(str(path) for path in project.rglob("*.sh"))
            if shell_scripts:
                c.run(shlex.join([shellcheck, *shell_scripts]), echo=True)


@task(
    help={
        "name": "Run only benchmarks/<name>.py.",
        "args": "Arguments for each script as one string, e.g. '--runs 1'.",
    }
)
def bench(c: Context, name: str = "", args: str = "") -> None:
    """Run the benchmarks/*.py scripts."""
    scripts = sorted((ROOT / "benchmarks").glob(f"{name or '*'}.py"))
    if not scripts and not name:
        print("no benchmarks in benchmarks/")
        return
    if not scripts:
        raise Exit(f"no benchmark matches benchmarks/{name}.py")
    for script in scripts:
        c.run(shlex.join([PYTHON, str(script), *shlex.split(args)]), echo=True)


@task(help={"check": "Only list stale files (exit 1 when there are some)."})
def settings_docs(c: Context, check: bool = False) -> None:
    """Rewrite the settings docs from the tool's settings table."""
    project = ROOT / "template" / "{{cookiecutter.project_slug}}"
    sys.path.insert(0, str(project / "tools" / "db-backup" / "src"))
    from db_backup import variables_docs

    expected = variables_docs.expected_files(project, template=True)
    fragment = project / "_backup_fragments" / "env.example"
    expected[fragment] = variables_docs.fragment_example(template=True)
    stale = variables_docs.stale_files(expected) if check else variables_docs.regenerate(expected)
    for path in stale:
        print(f"{'stale' if check else 'rewritten'}: {path.relative_to(ROOT)}")
    if check and stale:
        raise Exit("run: ./dev settings-docs", code=1)
