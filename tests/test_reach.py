"""Every way a user reaches the template: the cookiecutter CLI (interactive, --no-input with
overrides, a git URL), pytest-cookies, and applying it onto an existing project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
NOT_TEMPLATE = shutil.ignore_patterns(
    ".git", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", ".venv", "build", "demo"
)
CONFIG = Path("scripts") / "backup-config.env.example"


def cookiecutter(
    args: Sequence[str], home: Path, answers: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the cookiecutter CLI with a private HOME, so no user config or replay leaks in."""
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "COLUMNS": "250",
    }
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", *args],
        input=answers if answers is not None else "",
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def config_values(project: Path) -> dict[str, str]:
    """The uncommented ``NAME=value`` lines of the baked backup-config.env.example."""
    values = {}
    for line in (project / CONFIG).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def test_interactive_prompts_are_asked_and_answers_land(tmp_path: Path) -> None:
    """``cookiecutter <repo>`` asks the readable questions; typed answers reach the files."""
    answers = "\n".join(
        [
            "Shop Ops",  # project_name
            "shop",  # project_slug
            "shop-db",  # postgres_db
            "shopper",  # postgres_user
            "6543",  # postgres_port
            "4",  # postgres_version: 15
            "2",  # backup_compression: zstd
            "7",  # backup_compression_level
            "10",  # backup_retention_daily
            "5",  # backup_retention_weekly
            "36",  # backup_retention_monthly
            "2",  # backup_weekly_day: monday
            "n",  # add_compose_backup_service
            "1",  # new_compose_file: if-new-project
            "1",  # compose_backups_mount: ./backups
            "",  # postgres_service: found by its image
        ]
    )
    result = cookiecutter(
        [str(REPOSITORY_ROOT), "-o", str(tmp_path / "out")], tmp_path / "home", answers + "\n"
    )
    for question in (
        "Project name (shown in logs and docs)",
        "Database to back up (POSTGRES_DB",
        "PostgreSQL major version for a new compose.yml",
        "Days to keep daily backups (0 keeps all)",
        "Add a db-backup service next to each compose PostgreSQL service",
    ):
        assert question in result.stdout
    project = tmp_path / "out" / "shop"
    expected = {
        "POSTGRES_PORT": "6543",
        "POSTGRES_DB": "shop-db",
        "POSTGRES_USER": "shopper",
        "BACKUP_COMPRESSION": "zstd",
        "BACKUP_COMPRESSION_LEVEL": "7",
        "BACKUP_RETENTION_DAILY": "10",
        "BACKUP_RETENTION_WEEKLY": "5",
        "BACKUP_RETENTION_MONTHLY": "36",
        "BACKUP_WEEKLY_DAY": "monday",
    }
    values = config_values(project)
    assert {name: values.get(name) for name in expected} == expected
    assert (project / CONFIG).read_text().startswith("# Shop Ops Backup Configuration\n")
    assert "ARG PG_MAJOR=15" in (project / "tools/db-backup/Dockerfile").read_text()
    compose = yaml.safe_load((project / "compose.yml").read_text())
    assert set(compose["services"]) == {"postgres"}


def test_no_input_with_key_value_overrides(tmp_path: Path) -> None:
    """``cookiecutter <repo> --no-input key=value`` bakes with those answers, defaults else."""
    out = tmp_path / "out"
    cookiecutter(
        [
            str(REPOSITORY_ROOT),
            "--no-input",
            "-o",
            str(out),
            "project_name=Billing",
            "postgres_port=6000",
        ],
        tmp_path / "home",
    )
    project = out / "billing"
    values = config_values(project)
    assert values["POSTGRES_PORT"] == "6000"
    assert values["POSTGRES_DB"] == "billing"
    assert values["BACKUP_RETENTION_DAILY"] == "7"
    assert not (project / "_backup_fragments").exists()


def test_no_input_from_the_repository_root_uses_the_defaults(tmp_path: Path) -> None:
    """``cookiecutter . --no-input`` from the repository root bakes ``my_project``."""
    out = tmp_path / "out"
    cookiecutter([".", "--no-input", "-o", str(out)], tmp_path / "home", cwd=REPOSITORY_ROOT)
    assert config_values(out / "my_project")["POSTGRES_DB"] == "my_project"


def committed_copy(tmp_path: Path) -> Path:
    """A git repository holding the current working tree in one commit."""
    repo = tmp_path / "pg-backup-template"
    shutil.copytree(REPOSITORY_ROOT, repo, ignore=NOT_TEMPLATE)
    git = ["git", "-C", str(repo), "-c", "user.name=Template", "-c", "user.email=t@example.com"]
    for command in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "template"],
    ):
        subprocess.run([*git, *command], check=True, capture_output=True, timeout=60)
    return repo


def test_git_url(tmp_path: Path) -> None:
    """``cookiecutter git+file://...`` clones the template and bakes it."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed (apt-get install git)", pytrace=False)
    repo = committed_copy(tmp_path)
    out = tmp_path / "out"
    cookiecutter(
        [f"git+file://{repo}", "--no-input", "-o", str(out), "project_slug=from_git"],
        tmp_path / "home",
    )
    project = out / "from_git"
    assert (project / "scripts" / "db-backup.sh").stat().st_mode & 0o111
    assert "- ./backups:/backups" in (project / "compose.yml").read_text()


def test_pytest_cookies_bake_with_extra_context(
    cookies: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-cookies' ``cookies.bake(extra_context=...)`` bakes with the given answers."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    result = cookies.bake(
        extra_context={"project_slug": "cookie_shop", "backup_weekly_day": "friday"},
        template=str(REPOSITORY_ROOT),
    )
    assert result.exception is None, repr(result.exception)
    assert result.project_path.name == "cookie_shop"
    assert config_values(result.project_path)["BACKUP_WEEKLY_DAY"] == "friday"


# --- applying the template onto an existing project --------------------------------------

EXISTING_ENV = (
    "# Shop settings\r\n"
    "POSTGRES_DB=shop\r\n"
    "POSTGRES_PASSWORD=change-me  # never commit the real one\r\n"
)
EXISTING_COMPOSE = """\
# Shop development stack
name: shop

services:
  postgres:
    image: postgres:16   # keep in step with production
    environment:
      POSTGRES_DB: shop
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
    volumes:
      - postgres_data:/var/lib/postgresql/data
      - ./scripts/init-db.sql:/docker-entrypoint-initdb.d/init-db.sql:ro
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres"]

  web:
    build: .
    # the app talks to postgres over the default network
    depends_on: [postgres]

volumes:
  postgres_data: {}
"""
EXISTING_GITIGNORE = "__pycache__/\n.env"
USER_FILES = {
    "README.md": "# Shop\n",
    "app/main.py": "print('shop')\n",
    "scripts/init-db.sql": "CREATE TABLE orders (id int);\n",
    "scripts/docker-dev.sh": "#!/bin/sh\necho dev\n",
    "scripts/backup-config.env": "PGPASSWORD_FILE=/run/secrets/db\n",
}


def snapshot(project: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mode, by relative path."""
    return {
        str(path.relative_to(project)): (path.read_bytes(), path.stat().st_mode)
        for path in sorted(project.rglob("*"))
        if path.is_file()
    }


def test_applying_onto_an_existing_project_merges_and_is_idempotent(tmp_path: Path) -> None:
    """``--overwrite-if-exists`` onto a project with its own .env.example, commented
    compose.yml and .gitignore adds only the backup blocks, keeps everything else byte for
    byte, leaves the user's own files alone, and a second application changes nothing."""
    parent = tmp_path / "work"
    project = parent / "shop"
    project.mkdir(parents=True)
    (project / ".env.example").write_bytes(EXISTING_ENV.encode())
    (project / "compose.yml").write_text(EXISTING_COMPOSE)
    (project / ".gitignore").write_text(EXISTING_GITIGNORE)
    for relative, text in USER_FILES.items():
        (project / relative).parent.mkdir(parents=True, exist_ok=True)
        (project / relative).write_text(text)
    user_files = {name: data for name, data in snapshot(project).items() if name in USER_FILES}
    args = [str(REPOSITORY_ROOT), "--no-input", "--overwrite-if-exists", "-o", str(parent)]
    args.append("project_slug=shop")

    cookiecutter(args, tmp_path / "home")

    env_example = (project / ".env.example").read_bytes().decode()
    assert env_example.startswith(EXISTING_ENV + "\r\n# ====")
    assert "\r\nBACKUP_RETENTION_DAILY=7\r\n" in env_example
    assert "\n" not in env_example.replace("\r\n", "")

    compose = (project / "compose.yml").read_text()
    service_start = compose.index("  # Backups of service postgres")
    service_end = compose.index("\nvolumes:\n")
    assert compose[:service_start] + compose[service_end:] == EXISTING_COMPOSE
    services = yaml.safe_load(compose)["services"]
    assert services["db-backup"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["db-backup"]["build"]["args"] == {"PG_MAJOR": "16"}

    gitignore = (project / ".gitignore").read_text()
    assert gitignore.startswith(EXISTING_GITIGNORE + "\n\n#")
    assert gitignore.endswith("backups/\nscripts/backup-config.env\n")

    assert {
        name: data for name, data in snapshot(project).items() if name in USER_FILES
    } == user_files
    assert (project / "scripts" / "db-backup.sh").is_file()
    assert not (project / "_backup_fragments").exists()

    checker = Path(sys.executable).parent / "check-jsonschema"
    schema = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(project / "compose.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr

    first = snapshot(project)
    cookiecutter(args, tmp_path / "home")
    assert snapshot(project) == first
