"""Baking the template: a one-factor matrix of answers, static checks on every baked file,
the baked project's own tests, and a table of answers that must be refused."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TEMPLATE_SYNTAX = re.compile(r"(?<!\$)\{[{%#]")
GO_TEMPLATE = re.compile(r"\{\{ \$[^{}]*\}\}")


@dataclass(frozen=True)
class Factor:
    """One answer changed from its default, and lines that prove it landed."""

    name: str
    value: Any
    expected_lines: tuple[tuple[str, str], ...] = ()
    defaults_attribute: str | None = None

    @property
    def id(self) -> str:
        return f"{self.name}={self.value}"


CONFIG = "scripts/backup-config.env.example"
MATRIX = [
    Factor(
        "project_name",
        "Shop Ops",
        ((CONFIG, "# Shop Ops Backup Configuration"),),
        "PROJECT_NAME",
    ),
    Factor(
        "project_slug",
        "shop-ops.v2",
        ((CONFIG, "# BACKUP_S3_PREFIX=backups/shop-ops.v2/"), (CONFIG, "POSTGRES_DB=shop_ops_v2")),
    ),
    Factor(
        "postgres_db",
        "shop-db",
        (
            (CONFIG, "POSTGRES_DB=shop-db"),
            ("compose.yml", "      POSTGRES_DB: ${POSTGRES_DB:-shop-db}"),
        ),
        "POSTGRES_DB",
    ),
    Factor("postgres_user", "shop_owner", ((CONFIG, "POSTGRES_USER=shop_owner"),), "POSTGRES_USER"),
    Factor(
        "postgres_port",
        "6543",
        (
            (CONFIG, "POSTGRES_PORT=6543"),
            ("compose.yml", '      - "127.0.0.1:${POSTGRES_PORT:-6543}:5432"'),
            (".env.example", "POSTGRES_PORT=6543"),
        ),
    ),
    Factor(
        "postgres_version",
        "13",
        (
            ("tools/db-backup/Dockerfile", "ARG PG_MAJOR=13"),
            ("compose.yml", "    image: postgres:13"),
            ("compose.yml", "      - postgres_data:/var/lib/postgresql/data"),
            ("compose.yml", '        PG_MAJOR: "13"'),
        ),
    ),
    Factor(
        "backup_compression",
        "zstd",
        ((CONFIG, "BACKUP_COMPRESSION=zstd"),),
        "BACKUP_COMPRESSION",
    ),
    Factor(
        "backup_compression_level",
        "9",
        ((CONFIG, "BACKUP_COMPRESSION_LEVEL=9"),),
        "BACKUP_COMPRESSION_LEVEL",
    ),
    Factor(
        "backup_retention_daily",
        "0",
        ((CONFIG, "BACKUP_RETENTION_DAILY=0"), (".env.example", "BACKUP_RETENTION_DAILY=0")),
        "BACKUP_RETENTION_DAILY",
    ),
    Factor(
        "backup_retention_weekly",
        "8",
        ((CONFIG, "BACKUP_RETENTION_WEEKLY=8"), (".env.example", "BACKUP_RETENTION_WEEKLY=8")),
        "BACKUP_RETENTION_WEEKLY",
    ),
    Factor(
        "backup_retention_monthly",
        "24",
        ((CONFIG, "BACKUP_RETENTION_MONTHLY=24"), (".env.example", "BACKUP_RETENTION_MONTHLY=24")),
        "BACKUP_RETENTION_MONTHLY",
    ),
    Factor(
        "backup_weekly_day",
        "monday",
        ((CONFIG, "BACKUP_WEEKLY_DAY=monday"),),
        "BACKUP_WEEKLY_DAY",
    ),
    Factor("add_compose_backup_service", False),
    Factor("new_compose_file", "no"),
    Factor(
        "compose_backups_mount", "database-volume", (("compose.yml", "      - ./backups:/backups"),)
    ),
    Factor("postgres_service", "postgres", (("compose.yml", "      POSTGRES_HOST: postgres"),)),
]
DEFAULT = Factor("defaults", "")
BAKES = [DEFAULT, *MATRIX]


def template_variables() -> set[str]:
    """The variables cookiecutter.json declares (private keys excluded)."""
    data = json.loads((REPOSITORY_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    return {key for key in data if not key.startswith("_")}


def test_every_matrix_key_exists_in_cookiecutter_json() -> None:
    """Cookiecutter silently drops unknown extra_context keys, so a typo would test nothing."""
    assert {factor.name for factor in MATRIX} <= template_variables()


def test_matrix_varies_every_variable() -> None:
    """Each variable of cookiecutter.json is varied by one matrix entry."""
    assert {factor.name for factor in MATRIX} == template_variables()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where cookiecutter's throwaway template copies go, instead of the shared /tmp."""
    directory = tmp_path_factory.mktemp("cookiecutter-scratch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, "tempdir", str(directory))
        yield directory


@pytest.fixture(scope="module", params=BAKES, ids=[factor.id for factor in BAKES])
def baked(
    request: pytest.FixtureRequest, cookies_session: Any, scratch: Path
) -> tuple[Factor, Path]:
    """The project baked with one answer changed (or none, for ``defaults``)."""
    factor: Factor = request.param
    extra = {} if factor is DEFAULT else {factor.name: factor.value}
    result = cookies_session.bake(extra_context=extra, template=str(REPOSITORY_ROOT))
    assert result.exception is None, f"bake failed: {result.exception!r}"
    return factor, Path(result.project_path)


def baked_files(project: Path) -> list[Path]:
    """Every file of the baked project."""
    return sorted(path for path in project.rglob("*") if path.is_file())


def test_answer_lands_where_expected(baked: tuple[Factor, Path]) -> None:
    """The changed answer appears in the generated files and in the package's defaults."""
    factor, project = baked
    for relative, line in factor.expected_lines:
        assert line in (project / relative).read_text(encoding="utf-8").splitlines(), relative
    if factor.defaults_attribute:
        defaults = load_defaults(project)
        value = getattr(defaults, factor.defaults_attribute)
        assert str(value) == str(factor.value)
    if factor.name == "project_slug":
        assert project.name == factor.value
    if factor.name == "new_compose_file":
        assert not (project / "compose.yml").exists()
        return
    compose = yaml.safe_load((project / "compose.yml").read_text(encoding="utf-8"))
    expect_service = factor.name != "add_compose_backup_service"
    assert ("db-backup" in compose["services"]) is expect_service


def test_new_projects_env_example_sets_what_its_compose_file_requires(
    baked: tuple[Factor, Path],
) -> None:
    """Every ``${VAR:?...}`` of compose.yml is assigned in .env.example, and the database
    port is published on 127.0.0.1 only."""
    factor, project = baked
    compose_file = project / "compose.yml"
    if factor.name == "new_compose_file":
        assert not compose_file.exists()
        assert "POSTGRES_PASSWORD" not in (project / ".env.example").read_text(encoding="utf-8")
        return
    text = compose_file.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):?\?", text))
    assert required, "compose.yml requires no variable: the check would prove nothing"
    example = (project / ".env.example").read_text(encoding="utf-8")
    assigned = set(re.findall(r"^([A-Z0-9_]+)=", example, re.MULTILINE))
    assert required <= assigned
    ports = yaml.safe_load(text)["services"]["postgres"]["ports"]
    assert all(port.startswith("127.0.0.1:") for port in ports)


def load_defaults(project: Path) -> Any:
    """Import the baked ``db_backup/defaults.py`` on its own."""
    path = project / "tools" / "db-backup" / "src" / "db_backup" / "defaults.py"
    spec = importlib.util.spec_from_file_location(f"defaults_{id(project)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_template_syntax_or_staging_is_left(baked: tuple[Factor, Path]) -> None:
    """No ``{{``, ``{%`` or ``{#`` survives rendering, and the staging pieces are gone."""
    _, project = baked
    assert not (project / "_backup_fragments").exists()
    for path in baked_files(project):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        relative = path.relative_to(project)
        text = GO_TEMPLATE.sub("", text)  # Prometheus alert annotations: {{ $value }}
        assert not TEMPLATE_SYNTAX.search(text), f"template syntax left in {relative}"


def run(command: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a checker; its output is kept for the assertion message."""
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def ruff_options(project: Path) -> list[str]:
    """The baked tool brings its own ruff settings; without them, use line length 100."""
    pyproject = project / "tools" / "db-backup" / "pyproject.toml"
    has_config = pyproject.is_file() and "[tool.ruff" in pyproject.read_text(encoding="utf-8")
    return [] if has_config else ["--line-length", "100"]


def test_baked_python_is_ruff_clean(baked: tuple[Factor, Path]) -> None:
    """ruff check and ruff format --check pass on the baked Python."""
    _, project = baked
    ruff = str(BIN / "ruff")
    options = ruff_options(project)
    lint = run([ruff, "check", "--no-cache", *options, "."], project)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    style = run([ruff, "format", "--check", "--no-cache", *options, "."], project)
    assert style.returncode == 0, style.stdout + style.stderr


def test_baked_shell_scripts_pass_shellcheck(baked: tuple[Factor, Path]) -> None:
    """Every baked shell script is shellcheck-clean."""
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed (apt-get install shellcheck)", pytrace=False)
    _, project = baked
    scripts = [str(path) for path in baked_files(project) if path.suffix == ".sh"]
    assert scripts, "the bake has no shell scripts"
    result = run(["shellcheck", *scripts], project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_baked_yaml_parses_and_compose_matches_the_spec(baked: tuple[Factor, Path]) -> None:
    """Every YAML file parses; compose.yml validates against the compose-spec schema."""
    _, project = baked
    for path in baked_files(project):
        if path.suffix in {".yml", ".yaml"}:
            yaml.safe_load(path.read_text(encoding="utf-8"))
    checker = str(BIN / "check-jsonschema")
    if not (project / "compose.yml").exists():
        return
    result = run([checker, "--builtin-schema", "vendor.compose-spec", "compose.yml"], project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_are_executable(baked: tuple[Factor, Path]) -> None:
    """The post-generation hook gives scripts/*.sh their run bit."""
    _, project = baked
    for script in (project / "scripts").glob("*.sh"):
        assert script.stat().st_mode & 0o111 == 0o111, script.name


def test_backup_image_copies_files_that_exist(baked: tuple[Factor, Path]) -> None:
    """The db-backup image builds from the project root: its COPY sources exist there, the
    dockerignore lets them through, and compose points at this Dockerfile."""
    _, project = baked
    dockerfile = project / "tools" / "db-backup" / "Dockerfile"
    copies = [
        line.split()[-2] for line in dockerfile.read_text().splitlines() if line.startswith("COPY")
    ]
    assert copies
    for source in copies:
        assert (project / source).exists(), source
    allowed = (project / "tools" / "db-backup" / "Dockerfile.dockerignore").read_text()
    for source in copies:
        assert f"!{source}" in allowed.splitlines(), source
    compose = project / "compose.yml"
    services = yaml.safe_load(compose.read_text())["services"] if compose.exists() else {}
    if "db-backup" in services:
        build = services["db-backup"]["build"]
        assert (project / build["context"] / build["dockerfile"]).resolve() == dockerfile.resolve()


TOOL_VARIABLE = re.compile(r"\b(?:BACKUP|POSTGRES)_[A-Z0-9_]*[A-Z0-9]\b")
ASSIGNED_VARIABLE = re.compile(r"^#? ?((?:BACKUP|POSTGRES)_[A-Z0-9_]+)=", re.MULTILINE)


def test_every_variable_the_tool_reads_is_documented_and_every_documented_one_read(
    baked: tuple[Factor, Path],
) -> None:
    """The BACKUP_*/POSTGRES_* names in the tool's code, its README and the env examples agree."""
    _, project = baked
    tool = project / "tools" / "db-backup"
    read = {
        name
        for path in (tool / "src").rglob("*.py")
        for name in re.findall(r"[\"']((?:BACKUP|POSTGRES)_[A-Z0-9_]+)[\"']", path.read_text())
    }
    documented = set(TOOL_VARIABLE.findall((tool / "README.md").read_text()))
    assert read - documented == set(), "read by the tool but not in its README"
    assert documented - read == set(), "in the README but never read by the tool"
    for example in (project / "scripts" / "backup-config.env.example", project / ".env.example"):
        assigned = set(ASSIGNED_VARIABLE.findall(example.read_text()))
        assert assigned and assigned - read == set(), f"{example.name} sets what nothing reads"


@pytest.mark.parametrize(
    "extra_context", [{}, {"backup_compression": "zstd"}], ids=["defaults", "zstd"]
)
def test_baked_project_test_suite_passes(
    cookies_session: Any, scratch: Path, extra_context: dict[str, str]
) -> None:
    """The generated tool's own unit tests pass inside the bake."""
    result = cookies_session.bake(extra_context=extra_context, template=str(REPOSITORY_ROOT))
    assert result.exception is None, f"bake failed: {result.exception!r}"
    tool = Path(result.project_path) / "tools" / "db-backup"
    tests = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tool, 600)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]


def test_template_repository_workflow_matches_the_github_schema() -> None:
    """The template's own CI workflow validates against the GitHub workflow schema."""
    workflow = REPOSITORY_ROOT / ".github" / "workflows" / "ci.yml"
    checker = str(BIN / "check-jsonschema")
    result = run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(workflow)], REPOSITORY_ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


# variable, bad value, what the refusal says
INVALID_ANSWERS = [
    ("project_slug", "-rf", "ERROR: project_slug must be a folder name"),
    ("project_slug", "my project", "ERROR: project_slug must be a folder name"),
    (
        "project_name",
        "first\nsecond",
        "ERROR: project_name must be non-empty text on a single line",
    ),
    ("postgres_db", "my db", "ERROR: postgres_db must be 1-63 letters, digits, _ or -"),
    ("postgres_db", "1shop", "ERROR: postgres_db must be 1-63 letters, digits, _ or -"),
    ("postgres_db", "x" * 64, "ERROR: postgres_db must be 1-63 letters, digits, _ or -"),
    ("postgres_user", "o'brien", "ERROR: postgres_user must be 1-63 letters, digits, _ or -"),
    ("postgres_user", "$(id)", "ERROR: postgres_user must be 1-63 letters, digits, _ or -"),
    ("postgres_port", "0", "ERROR: postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", "70000", "ERROR: postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", "port", "ERROR: postgres_port must be an integer from 1 to 65535"),
    (
        "backup_retention_daily",
        "-3",
        "ERROR: backup_retention_daily must be a non-negative integer",
    ),
    ("backup_retention_monthly", "1y", "ERROR: backup_retention_monthly must be a non-negative"),
    (
        "backup_compression_level",
        "12",
        "ERROR: backup_compression_level must be an integer from 1 to 9",
    ),
    ("postgres_version", "9.6", "9.6 provided for choice variable postgres_version"),
    (
        "add_compose_backup_service",
        "maybe",
        "maybe provided for variable add_compose_backup_service",
    ),
]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    INVALID_ANSWERS,
    ids=[f"{name}={value!r}"[:40] for name, value, _ in INVALID_ANSWERS],
)
def test_invalid_answer_is_refused_and_nothing_is_generated(
    cookies: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    """The bake fails with a message naming the variable, and leaves no project behind."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = cookies.bake(extra_context={name: value}, template=str(REPOSITORY_ROOT))
    assert result.exit_code != 0
    assert result.project_path is None
    said = capfd.readouterr().err + str(result.exception)
    assert message in said
    if message.startswith("ERROR:"):
        assert len([line for line in said.splitlines() if line.startswith("ERROR:")]) == 1
    assert not list((tmp_path / "cookies").glob("*/*")), "a project folder was left behind"


def test_code_in_answers_is_never_run_by_a_bake(
    cookies: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project name crafted to break out of Python strings bakes as plain text; the same
    text as a database name is refused. The injected command never runs."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    marker = tmp_path / "pwned"
    payload = f'"""+__import__("os").system("touch {marker}")+"""\\'
    result = cookies.bake(
        extra_context={"project_name": payload, "project_slug": "safe"},
        template=str(REPOSITORY_ROOT),
    )
    assert result.exception is None, repr(result.exception)
    baked_name = load_defaults(Path(result.project_path)).PROJECT_NAME
    assert baked_name == payload
    refused = cookies.bake(extra_context={"postgres_db": payload}, template=str(REPOSITORY_ROOT))
    assert refused.exit_code != 0
    assert not marker.exists()
