"""Applying the template onto real projects, with the command the README documents.

Each project of ``../shared/host-projects`` (and a few small ones written here for the
layouts they lack) is copied to a temporary folder and the template applied onto it.
Then: every compose file validates against the compose-spec schema; the db-backup
service is wired to the project's own database service; ``scripts/db-backup.sh
--verify`` backs up a real PostgreSQL holding the project's own database, user and
password, given nothing but POSTGRES_HOST and POSTGRES_PORT; the project's own pytest
and ruff see exactly what they saw before; and applying again changes no byte.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from backup_wiring.env_text import interpolate, read_env

from tests.helpers import describe, run_tool, tool_environ
from tests.hostprojects import (
    apply_template,
    compose_schema_errors,
    copy_project,
    host_project,
    pre_commit_hook_ids,
    pyproject_fmt_findings,
    pytest_collection,
    ruff_findings,
    run_pre_commit_hook,
    runs_hook,
    tree_digest,
    typos_findings,
)
from tests.services._net import ServiceUnavailable
from tests.services.local_cluster import local_cluster
from tests.services.postgres import PostgresServer, find_bindir, quote_ident

pytestmark = pytest.mark.integration

DJANGO = "cookiecutter-django"
FASTAPI = "full-stack-fastapi-template"
# What applying may change in each project: everything else stays byte for byte.
CHANGED = {
    DJANGO: {".gitignore", "docker-compose.local.yml", "docker-compose.production.yml"},
    FASTAPI: {".gitignore", "compose.yml"},
}


@dataclass
class Applied:
    """A host project before and after applying the template (twice)."""

    name: str
    pristine: Path
    project: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    after_first: dict[str, str]
    after_second: dict[str, str]
    collection_before: list[str]
    collection_after: list[str]
    ruff_before: tuple[list[str], list[str]]
    ruff_after: tuple[list[str], list[str]]
    caches_after_apply: list[str]


@pytest.fixture(scope="module", params=[DJANGO, FASTAPI])
def applied(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Applied:
    """Copy the host project, record what its tools see, apply the template twice."""
    pristine = host_project(request.param)
    work = tmp_path_factory.mktemp("host")
    project = copy_project(pristine, work)
    collection_before = pytest_collection(project)
    ruff_before = ruff_findings(project)
    first = apply_template(project, work / "scratch")
    assert first.returncode == 0, first.stdout + first.stderr
    caches = sorted(str(path.relative_to(project)) for path in project.rglob("__pycache__"))
    after_first = tree_digest(project)
    second = apply_template(project, work / "scratch")
    assert second.returncode == 0, second.stdout + second.stderr
    return Applied(
        request.param,
        pristine,
        project,
        first,
        second,
        after_first,
        tree_digest(project),
        collection_before,
        pytest_collection(project),
        ruff_before,
        ruff_findings(project),
        caches,
    )


def compose(project: Path, name: str) -> dict:
    return yaml.safe_load((project / name).read_text(encoding="utf-8"))


# --- every host project -------------------------------------------------------------------


def test_every_compose_file_matches_the_compose_spec(applied: Applied) -> None:
    """The edited compose files (and the untouched ones) validate against the schema."""
    files = sorted(applied.project.glob("*compose*.y*ml"))
    assert files
    for path in files:
        assert compose_schema_errors(path) == "", path.name


def test_only_the_expected_host_files_change(applied: Applied) -> None:
    """Of the project's own files only the compose files with a database service and
    .gitignore change; new files appear only under tools/db-backup and scripts/."""
    before = tree_digest(applied.pristine, modes=False)
    after = {path: digest.split()[0] for path, digest in applied.after_first.items()}
    changed = {path for path in before if before[path] != after.get(path)}
    assert changed == CHANGED[applied.name]
    added = set(after) - set(before)
    assert added
    assert all(path.startswith(("tools/db-backup/", "scripts/")) for path in added), added
    assert {"scripts/db-backup.sh", "tools/db-backup/Dockerfile"} <= added


def test_compose_edits_add_only_the_backup_service(applied: Applied) -> None:
    """Parsed, each edited compose file is the original plus the db-backup service."""
    for name in CHANGED[applied.name] - {".gitignore"}:
        edited = compose(applied.project, name)
        original = compose(applied.pristine, name)
        assert "db-backup" in edited["services"]
        del edited["services"]["db-backup"]
        assert edited == original, name


def test_applying_leaves_no_python_caches(applied: Applied) -> None:
    """Nothing the apply runs writes __pycache__ folders into the project."""
    assert applied.caches_after_apply == []


def test_reapplying_changes_no_byte(applied: Applied) -> None:
    """A second apply with the same answers leaves every file as the first one did."""
    assert applied.after_second == applied.after_first
    assert "db-backup already up to date" in applied.second.stdout
    assert "WARNING" not in applied.second.stderr


def test_host_pytest_collects_what_it_did_before(applied: Applied) -> None:
    """The project's own pytest, run from its root with its configuration, collects the
    same tests (and fails on the same missing dependencies) as before."""
    assert applied.collection_before, "the host's pytest collected nothing: nothing compared"
    assert applied.collection_after == applied.collection_before
    assert not [line for line in applied.collection_after if "tools/db-backup" in line]


def test_host_ruff_sees_what_it_did_before(applied: Applied) -> None:
    """ruff check and ruff format --check report the same as before (the tool's files
    follow the tool's own ruff settings, which ruff picks for them)."""
    assert applied.ruff_after == applied.ruff_before


def changed_lines(original: str, fixed: str) -> list[str]:
    """The lines of ``original`` that a fixer rewrote."""
    return [
        line[2:]
        for line in difflib.ndiff(original.splitlines(), fixed.splitlines())
        if line.startswith("- ")
    ]


def test_host_pre_commit_hooks_find_nothing_new(applied: Applied, tmp_path: Path) -> None:
    """The project's pre-commit-hooks hooks (the same release, run on the files as pre-commit
    would once they are staged) accept every added file unchanged, and in the host files the
    apply edited they fix exactly what they fixed in the originals."""
    hooks = pre_commit_hook_ids(applied.pristine)
    assert hooks, "the project runs none of pre-commit-hooks' hooks: nothing compared"
    before = tree_digest(applied.pristine, modes=False)
    added = sorted(set(applied.after_first) - set(before))
    edited = sorted(CHANGED[applied.name])
    after_copy = copy_project(applied.project, tmp_path, "after")
    pristine_copy = copy_project(applied.pristine, tmp_path, "before")
    for hook in hooks:
        status, rewritten = run_pre_commit_hook(hook, after_copy, added)
        assert (status, list(rewritten)) == (0, []), hook
        for name in edited:
            original_after = (applied.project / name).read_text(encoding="utf-8")
            original_before = (applied.pristine / name).read_text(encoding="utf-8")
            _, fixed_after = run_pre_commit_hook(hook, after_copy, [name])
            _, fixed_before = run_pre_commit_hook(hook, pristine_copy, [name])
            assert changed_lines(original_after, fixed_after.get(name, original_after)) == (
                changed_lines(original_before, fixed_before.get(name, original_before))
            ), (hook, name)


def test_host_spell_check_finds_nothing_in_the_added_files(applied: Applied) -> None:
    """Where the project's pre-commit runs typos, it accepts every file the apply added or
    edited (with the project's own typos settings)."""
    if not runs_hook(applied.pristine, "typos"):
        pytest.skip(f"{applied.name}'s pre-commit runs no spell checker")
    before = tree_digest(applied.pristine, modes=False)
    added = sorted(set(applied.after_first) - set(before))
    assert typos_findings(applied.project, [*added, *sorted(CHANGED[applied.name])]) == ""


def test_host_pyproject_formatter_leaves_the_added_pyproject_alone(applied: Applied) -> None:
    """Where the project's pre-commit runs pyproject-fmt, it finds nothing to change in the
    pyproject.toml files the apply added."""
    if not runs_hook(applied.pristine, "pyproject-fmt"):
        pytest.skip(f"{applied.name}'s pre-commit does not format pyproject.toml")
    added = [
        path
        for path in set(applied.after_first) - set(tree_digest(applied.pristine, modes=False))
        if path.endswith("pyproject.toml")
    ]
    assert added
    assert pyproject_fmt_findings(applied.project, sorted(added)) == ""


def test_summary_says_what_was_done_and_what_to_run(applied: Applied) -> None:
    """The printed summary names the compose files, the database and three next commands."""
    out = applied.first.stdout
    assert f"backups added to {applied.project} (existing project)" in out
    assert "added service db-backup" in out
    for step in ("first backup:", "check it:", "schedule:", "restore drill:"):
        assert step in out
    assert "README, pyproject, tasks" in out


def test_tool_tests_pass_inside_the_host_project(applied: Applied) -> None:
    """The tool's own tests, started from tools/db-backup as its README says, pass."""
    tool = applied.project / "tools" / "db-backup"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tool,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


# --- the database each project uses --------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    """A PostgreSQL of our own, so roles can take the host projects' names and passwords."""
    bindir = find_bindir("initdb", "pg_ctl", "psql")
    if bindir is None:
        pytest.skip("the host-project backups need the PostgreSQL server binaries (initdb)")
    try:
        with local_cluster(bindir) as address:
            yield PostgresServer(*address, bindir=bindir, kind="local")
    except ServiceUnavailable as error:
        pytest.fail(str(error), pytrace=False)


def make_database(
    server: PostgresServer, dbname: str, user: str, password: str | None, *, trust: bool = False
) -> None:
    """The project's database as its postgres image would create it, with a little data."""
    if user == server.superuser:
        server.psql(f"ALTER ROLE {quote_ident(user)} PASSWORD '{password}'")
        server.password = password or server.password
    else:
        server.create_role(user, password or "unused-password", superuser=True)
    if not server.database_exists(dbname):
        server.create_database(dbname, owner=user)
    server.psql(
        "CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, item text NOT NULL);\n"
        "INSERT INTO orders (item) SELECT 'item ' || n FROM generate_series(1, 50) n;",
        dbname,
    )
    if trust:
        hba = Path(server.psql("SHOW hba_file"))
        rule = f"host all {user} 127.0.0.1/32 trust\n"
        hba.write_text(rule + hba.read_text())
        server.psql("SELECT pg_reload_conf()")


def back_up(project: Path, server: PostgresServer) -> list[str]:
    """Run scripts/db-backup.sh --verify from the project folder, told only where the
    server is; return the backup files it made."""
    result = run_tool(
        project,
        ["--verify"],
        {"POSTGRES_HOST": server.host, "POSTGRES_PORT": str(server.port)},
        cwd=project,
    )
    assert result.returncode == 0, describe(result)
    backups = (project / "backups").iterdir()
    return sorted(path.name for path in backups if not path.name.startswith("."))


IMAGE_ENTRYPOINT = ["python3", "-m", "db_backup"]


def run_like_the_service(
    project: Path, compose_file: str, server: PostgresServer, backups: Path
) -> list[str]:
    """Run the tool as the db-backup service runs it, without Docker: the image's entry
    point with its PYTHONPATH, the project as working directory, the service's environment
    as compose fills it in from .env; only the server's address and the backups folder are
    this machine's. Returns the backup files made."""
    dockerfile = (project / "tools" / "db-backup" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python3", "-m", "db_backup"]' in dockerfile
    service = compose(project, compose_file)["services"]["db-backup"]
    assert service["working_dir"] == "/project"
    assert ".:/project:ro" in service["volumes"]
    dotenv = read_env(project / ".env")
    environment = {}
    for name, value in service["environment"].items():
        filled = interpolate(str(value), dotenv)
        assert filled is not None, f"compose could not fill in {name}={value}"
        environment[name] = filled
    environment.update(
        POSTGRES_HOST=server.host,
        POSTGRES_PORT=str(server.port),
        BACKUP_DIR=str(backups),
        PYTHONPATH=str(project / "tools" / "db-backup" / "src"),
    )
    result = subprocess.run(
        [sys.executable, *IMAGE_ENTRYPOINT[1:], "--verify"],
        cwd=project,
        env=tool_environ(environment),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, describe(result)
    return sorted(path.name for path in backups.iterdir() if not path.name.startswith("."))


def assert_one_backup(names: list[str], database: str) -> None:
    """One daily backup of ``database``: the dump, its roles file, and their checksums."""
    made = sorted(name for name in names if name.startswith(f"{database}_daily_"))
    stems = {name.split(".", 1)[0] for name in made}
    assert len(stems) == 1, made
    (stem,) = stems
    suffixes = [name[len(stem) :] for name in made]
    assert suffixes == [".roles.sql", ".roles.sql.sha256", ".sql.gz", ".sql.gz.sha256"], made


def test_cookiecutter_django_backup_runs_against_its_own_database(
    server: PostgresServer, tmp_path: Path
) -> None:
    """Database, user and password come from .envs/.production/.postgres; the compose
    files each get a db-backup for their own env file, with pg_dump 18 like the server."""
    project = copy_project(host_project(DJANGO), tmp_path)
    result = apply_template(project, tmp_path / "scratch")
    assert result.returncode == 0, result.stderr
    for name, env_file in (
        ("local", ".envs/.local/.postgres"),
        ("production", ".envs/.production/.postgres"),
    ):
        service = compose(project, f"docker-compose.{name}.yml")["services"]["db-backup"]
        assert service["build"]["args"] == {"PG_MAJOR": "18"}
        assert service["environment"]["BACKUP_ENV_FILES"] == env_file
        assert service["environment"]["POSTGRES_HOST"] == "postgres"
        assert service["depends_on"] == {"postgres": {"condition": "service_started"}}
        assert service["volumes"] == [".:/project:ro", "./backups:/backups"]
    assert "volume production_postgres_data_backups" in result.stdout
    assert not (project / "compose.yml").exists()
    settings = dict(
        line.split("=", 1)
        for line in (project / ".envs/.production/.postgres").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    make_database(
        server, settings["POSTGRES_DB"], settings["POSTGRES_USER"], settings["POSTGRES_PASSWORD"]
    )
    made = back_up(project, server)
    assert_one_backup(made, "my_awesome_project")
    in_service = run_like_the_service(
        project, "docker-compose.production.yml", server, tmp_path / "service-backups"
    )
    assert_one_backup(in_service, "my_awesome_project")


def test_fastapi_template_backup_runs_against_its_own_database(
    server: PostgresServer, tmp_path: Path
) -> None:
    """Database app and user postgres come from compose.yml, the password from .env; the
    image gets pg_dump 18 as the server runs postgres:18; the folder name has hyphens."""
    project = copy_project(host_project(FASTAPI), tmp_path)
    result = apply_template(project, tmp_path / "scratch")
    assert result.returncode == 0, result.stderr
    services = compose(project, "compose.yml")["services"]
    service = services["db-backup"]
    assert service["build"]["args"] == {"PG_MAJOR": "18"}
    assert service["environment"]["POSTGRES_DB"] == "app"
    assert service["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?Variable not set}"
    assert service["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert "db-backup" not in compose(project, "compose.override.yml")["services"]
    assert "database app as user postgres" in result.stdout
    make_database(server, "app", "postgres", "changethis")
    made = back_up(project, server)
    assert_one_backup(made, "app")
    in_service = run_like_the_service(project, "compose.yml", server, tmp_path / "service-backups")
    assert_one_backup(in_service, "app")


# --- layouts the shared projects lack ------------------------------------------------------

ANCHORED_TRUST = """\
x-database: &database
  image: postgres:16-alpine
  env_file:
    - ./db.env
  networks:
    - backend

services:
  web:
    image: nginx
    networks: [frontend, backend]
  database:
    <<: *database
    healthcheck:
      test: ["CMD-SHELL", "pg_isready"]

networks:
  frontend: {}
  backend:
    internal: true
"""


def test_trust_auth_database_on_an_internal_network_defined_through_an_anchor(
    server: PostgresServer, tmp_path: Path
) -> None:
    """A service built from a YAML anchor, Alpine image, only on an internal network, trust
    authentication: db-backup joins that network, builds pg_dump 16, and the backup runs
    with no password at all."""
    project = tmp_path / "inventory-service"
    project.mkdir()
    (project / "compose.yaml").write_text(ANCHORED_TRUST)
    (project / "db.env").write_text(
        "POSTGRES_DB=inventory\nPOSTGRES_USER=stock\nPOSTGRES_HOST_AUTH_METHOD=trust\n"
    )
    result = apply_template(project, tmp_path / "scratch")
    assert result.returncode == 0, result.stderr
    assert compose_schema_errors(project / "compose.yaml") == ""
    service = compose(project, "compose.yaml")["services"]["db-backup"]
    assert service["networks"] == ["backend"]
    assert service["build"]["args"] == {"PG_MAJOR": "16"}
    assert service["environment"]["BACKUP_ENV_FILES"] == "db.env"
    assert service["depends_on"] == {"database": {"condition": "service_healthy"}}
    assert "postgres:16 (Debian)" in result.stdout
    assert "no password: the server trusts its clients" in result.stdout
    make_database(server, "inventory", "stock", None, trust=True)
    made = back_up(project, server)
    assert_one_backup(made, "inventory")
    in_service = run_like_the_service(project, "compose.yaml", server, tmp_path / "in-service")
    assert_one_backup(in_service, "inventory")


def test_project_without_compose_backs_up_from_the_host(
    server: PostgresServer, tmp_path: Path
) -> None:
    """No compose file: none is created, the project's tests still pass as before, and the
    backup runs on the host with the answers and the project's .env."""
    project = tmp_path / "plain-app"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    (project / "tests" / "test_app.py").write_text("def test_app():\n    assert True\n")
    (project / ".env").write_text("POSTGRES_PASSWORD=plain-secret\n")
    tests_before = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    result = apply_template(
        project, tmp_path / "scratch", postgres_db="plain", postgres_user="plain_owner"
    )
    assert result.returncode == 0, result.stderr
    assert not list(project.glob("*compose*"))
    assert not (project / ".env.example").exists()
    assert "first backup:  scripts/db-backup.sh --verify" in result.stdout
    assert "backs up database plain as user plain_owner (the answers" in result.stdout
    tests_after = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tests_before.returncode == tests_after.returncode == 0
    assert "1 passed" in tests_after.stdout
    asked = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tools/db-backup"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert asked.returncode == 0, asked.stdout[-3000:]
    passed = re.search(r"(\d+) passed", asked.stdout)
    assert passed is not None and int(passed.group(1)) > 1, asked.stdout[-500:]
    make_database(server, "plain", "plain_owner", "plain-secret")
    made = back_up(project, server)
    assert_one_backup(made, "plain")


def test_reapplying_with_changed_answers_keeps_edits_and_updates_the_rest(tmp_path: Path) -> None:
    """A new answer reaches the template files the user never touched; a file the user
    edited keeps the edit, with the template's difference printed; then nothing moves."""
    project = tmp_path / "shop-app"
    project.mkdir()
    (project / "compose.yml").write_text("services:\n  db:\n    image: postgres:17\n")
    assert apply_template(project, tmp_path / "scratch").returncode == 0
    readme = project / "tools" / "db-backup" / "README.md"
    readme.write_text(readme.read_text() + "\nOur runbook: see wiki.\n")
    defaults = project / "tools" / "db-backup" / "src" / "db_backup" / "defaults.py"
    assert "BACKUP_RETENTION_DAILY = 7\n" in defaults.read_text()
    again = apply_template(project, tmp_path / "scratch", backup_retention_daily="3")
    assert again.returncode == 0, again.stderr
    assert "BACKUP_RETENTION_DAILY = 3\n" in defaults.read_text()
    assert readme.read_text().endswith("\nOur runbook: see wiki.\n")
    assert "tools/db-backup/README.md: you changed it, so it was kept" in again.stderr
    assert "-Our runbook: see wiki." in again.stderr
    settled = tree_digest(project)
    third = apply_template(project, tmp_path / "scratch", backup_retention_daily="3")
    assert third.returncode == 0
    assert tree_digest(project) == settled
