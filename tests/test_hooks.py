"""The generation hooks, rendered with cookiecutter's own environment and imported."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from backup_wiring import template_files
from backup_wiring.apply import apply
from cookiecutter.utils import create_env_with_context

from tests.hook_loader import (
    REPOSITORY_ROOT,
    hook_context,
    import_source,
    load_hook,
    render_hook,
)

TEMPLATE_PROJECT = REPOSITORY_ROOT / "template" / "{{cookiecutter.project_slug}}"
FRAGMENTS = TEMPLATE_PROJECT / "_backup_fragments"
DEFAULTS = "tools/db-backup/src/db_backup/defaults.py"


def defaults() -> dict[str, Any]:
    """The answers ``--no-input`` gives, without cookiecutter's private keys."""
    return {k: v for k, v in hook_context()["cookiecutter"].items() if not k.startswith("_")}


def test_default_answers_are_accepted(
    pre_gen: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook rendered with the defaults exits with status zero."""
    monkeypatch.chdir(tmp_path)
    assert pre_gen.main() == 0
    template_files.load_snapshot(tmp_path)


ACCEPTED = [
    ("project_name", 'Café "Ops" \\ Dept.'),
    ("project_slug", "_shop2"),
    ("project_slug", "full-stack-fastapi-template"),
    ("project_slug", "2048.example.com"),
    ("project_slug", "class"),
    ("postgres_service", ""),
    ("postgres_service", "db-primary"),
    ("new_compose_file", "yes"),
    ("compose_backups_mount", "database-volume"),
    ("postgres_db", "shop-db"),
    ("postgres_db", "a" * 63),
    ("postgres_user", "_app_user"),
    ("postgres_port", "1"),
    ("postgres_port", "65535"),
    ("postgres_port", 6543),
    ("backup_retention_daily", "0"),
    ("backup_retention_monthly", 120),
]


@pytest.mark.parametrize(("name", "value"), ACCEPTED, ids=[f"{n}={v!r}" for n, v in ACCEPTED])
def test_valid_edge_answers_are_accepted(pre_gen: ModuleType, name: str, value: object) -> None:
    """Values on the edge of each rule pass."""
    pre_gen.validate({**defaults(), name: value}, pre_gen.TEMPLATE_OPTIONS)


def test_compression_levels_follow_the_chosen_program(pre_gen: ModuleType) -> None:
    """zstd accepts 19, gzip stops at 9."""
    options = pre_gen.TEMPLATE_OPTIONS
    answers = {**defaults(), "backup_compression": "zstd", "backup_compression_level": "19"}
    pre_gen.validate(answers, options)
    with pytest.raises(pre_gen.InvalidAnswer, match=r"from 1 to 9 for gzip"):
        pre_gen.validate({**answers, "backup_compression": "gzip"}, options)


REFUSED = [
    ("project_name", "   ", "project_name must be non-empty text on a single line"),
    ("project_name", "two\nlines", "project_name must be non-empty text on a single line"),
    ("project_slug", "-rf", "project_slug must be a folder name"),
    ("project_slug", ".hidden", "project_slug must be a folder name"),
    ("project_slug", "a/b", "project_slug must be a folder name"),
    ("project_slug", "two words", "project_slug must be a folder name"),
    ("project_slug", "café", "project_slug must be a folder name"),
    ("postgres_service", "db; rm", "postgres_service must be empty or a compose service name"),
    ("new_compose_file", "maybe", "new_compose_file must be one of if-new-project, yes, no"),
    ("compose_backups_mount", "/srv", "compose_backups_mount must be one of ./backups"),
    ("postgres_db", "9lives", "postgres_db must be 1-63 letters"),
    ("postgres_db", "-db", "postgres_db must be 1-63 letters"),
    ("postgres_db", "a" * 64, "postgres_db must be 1-63 letters"),
    ("postgres_user", "bob smith", "postgres_user must be 1-63 letters"),
    ("postgres_user", "x;rm -rf ~", "postgres_user must be 1-63 letters"),
    ("postgres_port", "0", "postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", "65536", "postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", "54 32", "postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", True, "postgres_port must be an integer from 1 to 65535"),
    ("postgres_version", "9.6", "postgres_version must be one of 18, 17, 16, 15, 14, 13"),
    ("backup_compression", "bzip2", "backup_compression must be one of gzip, zstd"),
    ("backup_compression_level", "0", "backup_compression_level must be an integer from 1 to 9"),
    ("backup_compression_level", "ten", "backup_compression_level must be an integer from 1 to 9"),
    ("backup_retention_daily", "-1", "backup_retention_daily must be a non-negative integer"),
    ("backup_retention_weekly", "1.5", "backup_retention_weekly must be a non-negative integer"),
    ("backup_weekly_day", "funday", "backup_weekly_day must be one of sunday, monday"),
    ("add_compose_backup_service", "yes", "add_compose_backup_service must be true or false"),
]


@pytest.mark.parametrize(
    ("name", "value", "message"), REFUSED, ids=[f"{n}={v!r}" for n, v, _ in REFUSED]
)
def test_invalid_answer_is_refused_naming_variable_and_rule(
    pre_gen: ModuleType, name: str, value: object, message: str
) -> None:
    """Each bad answer raises InvalidAnswer whose one-line message names it and the rule."""
    with pytest.raises(pre_gen.InvalidAnswer) as caught:
        pre_gen.validate({**defaults(), name: value}, pre_gen.TEMPLATE_OPTIONS)
    text = str(caught.value)
    assert text.startswith(message)
    assert "\n" not in text


def test_refusal_prints_one_line_and_exits_one(tmp_path: Path) -> None:
    """Run as cookiecutter runs it, the hook prints a single ERROR line and exits 1."""
    context = hook_context({"postgres_port": "99999"})
    script = tmp_path / "pre_gen_project.py"
    script.write_text(render_hook("pre_gen_project", context), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "ERROR: postgres_port must be an integer from 1 to 65535 (got '99999')"
    ]


def payloads(marker: Path) -> list[str]:
    """Answers crafted to break out of a Python string literal and run code."""
    command = f"touch {marker}"
    return [
        f'"""+__import__("os").system("{command}")+"""',
        f"'''+__import__('os').system('{command}')+'''",
        f'\\"""+__import__("os").system("{command}")#',
        f'"}}""");__import__("os").system("{command}");x=json.loads(r"""{{"',
        f'\\\n__import__("os").system("{command}")\n',
        "\\",
        f"{{{{ cycler.__init__.__globals__.os.system('{command}') }}}}",
    ]


ANSWER_FIELDS = [
    "project_name",
    "project_slug",
    "postgres_db",
    "postgres_user",
    "postgres_port",
    "postgres_service",
]


@pytest.mark.parametrize("hook_name", ["pre_gen_project", "post_gen_project"])
@pytest.mark.parametrize("field", ANSWER_FIELDS)
def test_crafted_answers_stay_data_and_never_run(
    tmp_path: Path, hook_name: str, field: str
) -> None:
    """Rendered with a code-injecting answer, each hook reads it back verbatim as a string
    and the injected command never runs (the marker file is never created)."""
    marker = tmp_path / "pwned"
    for number, payload in enumerate(payloads(marker)):
        context = hook_context()
        context["cookiecutter"][field] = payload
        source = render_hook(hook_name, context)
        module = import_source(source, tmp_path, f"{hook_name}_{field}_{number}")
        assert module.ANSWERS[field] == payload
        assert not marker.exists(), f"payload {payload!r} in {field} ran"


def test_pre_gen_refuses_crafted_answers_when_run(tmp_path: Path) -> None:
    """Run as a script, the pre-gen hook refuses every crafted answer and runs none of it."""
    marker = tmp_path / "pwned"
    for payload in payloads(marker):
        context = hook_context()
        context["cookiecutter"]["postgres_db"] = payload
        script = tmp_path / "hook.py"
        script.write_text(render_hook("pre_gen_project", context), encoding="utf-8")
        result = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("ERROR: postgres_db must be")
        assert not marker.exists()


def test_rendered_answers_round_trip_through_json(tmp_path: Path) -> None:
    """Every answer, including quotes and backslashes, reaches the hook unchanged."""
    context = hook_context({"project_name": 'He said """hi""" \\ and \'bye\' <&>'})
    module = load_hook("post_gen_project", tmp_path, context)
    received = module.ANSWERS
    assert received == json.loads(json.dumps(context["cookiecutter"]))


# --- post_gen_project on a project directory ------------------------------------------


def render_into(root: Path, context: dict[str, Any], relative: str) -> None:
    """Render one template file into ``root`` as cookiecutter would."""
    environment = create_env_with_context(context)
    text = (TEMPLATE_PROJECT / relative).read_text(encoding="utf-8")
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(environment.from_string(text).render(**context), encoding="utf-8")


def stage(root: Path, context: dict[str, Any] | None = None) -> Path:
    """Lay out what cookiecutter leaves before post_gen: fragments, a script, defaults.py."""
    context = context or hook_context()
    for fragment in FRAGMENTS.iterdir():
        render_into(root, context, f"_backup_fragments/{fragment.name}")
    render_into(root, context, DEFAULTS)
    for shipped in TEMPLATE_PROJECT.glob("scripts/*.sh"):
        script = root / "scripts" / shipped.name
        script.parent.mkdir(exist_ok=True)
        script.write_text("#!/bin/sh\n")
        script.chmod(0o644)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A new project's folder as cookiecutter leaves it before post_gen."""
    return stage(tmp_path / "project")


def existing(tmp_path: Path, files: dict[str, str]) -> Path:
    """An existing project holding ``files``, with the template's files staged into it."""
    root = tmp_path / "existing"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return stage(root)


def snapshot_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_new_project_gets_compose_env_example_and_gitignore(
    post_gen: ModuleType, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """A new project: compose.yml with postgres (on 127.0.0.1) and db-backup, an
    .env.example holding every variable compose.yml needs, a .gitignore, and a summary."""
    monkeypatch.chdir(project)
    assert post_gen.main() == 0
    assert not (project / "_backup_fragments").exists()
    env_example = (project / ".env.example").read_text()
    assert "POSTGRES_PASSWORD=\n" in env_example
    assert "# Database Backup Configuration" in env_example
    assert (project / ".gitignore").read_text().splitlines()[1:] == [
        "backups/",
        "scripts/backup-config.env",
    ]
    compose = yaml.safe_load((project / "compose.yml").read_text())
    assert compose["services"]["postgres"]["ports"] == ["127.0.0.1:${POSTGRES_PORT:-5432}:5432"]
    backup = compose["services"]["db-backup"]
    assert backup["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert backup["build"]["args"] == {"PG_MAJOR": "18"}
    required = {"POSTGRES_PASSWORD"}
    assert required <= {line.split("=")[0] for line in env_example.splitlines() if "=" in line}
    out = capsys.readouterr().out
    assert "stay in the project's own settings" not in out
    assert "(new project)" in out
    assert "compose.yml: created with a postgres service" in out
    assert "first backup:  docker compose run --rm db-backup --once --verify" in out
    assert "schedule:      docker compose up -d db-backup" in out
    assert "./backups: created (mode 0700) for db-backup" in out
    assert stat.S_IMODE((project / "backups").stat().st_mode) == 0o700


def test_shipped_scripts_get_their_run_bit(project: Path) -> None:
    """The template's scripts become executable for whoever may read them; a script of the
    project's own keeps its mode."""
    own = project / "scripts" / "mine.sh"
    own.write_text("#!/bin/sh\n")
    own.chmod(0o640)
    apply(project, hook_context()["cookiecutter"], None)
    assert stat.S_IMODE((project / "scripts" / "db-backup.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE(own.stat().st_mode) == 0o640


def test_shipped_scripts_list_matches_the_template() -> None:
    """Every shell script in the template's scripts/ folder is in SHIPPED_SCRIPTS."""
    from backup_wiring.apply import SHIPPED_SCRIPTS

    shipped = {str(p.relative_to(TEMPLATE_PROJECT)) for p in TEMPLATE_PROJECT.glob("scripts/*.sh")}
    assert shipped == set(SHIPPED_SCRIPTS)


def test_env_family_compose_files_get_the_service_and_no_compose_yml_appears(
    tmp_path: Path,
) -> None:
    """docker-compose.local.yml and docker-compose.production.yml each get db-backup; no
    compose.yml is written that plain docker compose would pick instead."""
    db = "services:\n  postgres:\n    image: postgres:16\n    env_file: ./{env}.env\n"
    root = existing(
        tmp_path,
        {
            "docker-compose.local.yml": db.format(env="local"),
            "docker-compose.production.yml": db.format(env="prod"),
            "docker-compose.docs.yml": "services:\n  docs:\n    image: docs\n",
            "local.env": "POSTGRES_DB=shop\n",
            "prod.env": "POSTGRES_DB=shop\nPOSTGRES_USER=owner\n",
        },
    )
    report = apply(root, hook_context()["cookiecutter"], None)
    assert not (root / "compose.yml").exists()
    for name, env_file in (("local", "local.env"), ("production", "prod.env")):
        services = yaml.safe_load((root / f"docker-compose.{name}.yml").read_text())["services"]
        assert services["db-backup"]["environment"]["BACKUP_ENV_FILES"] == env_file
        assert services["db-backup"]["build"]["args"] == {"PG_MAJOR": "16"}
    assert (root / "docker-compose.docs.yml").read_text() == "services:\n  docs:\n    image: docs\n"
    defaults = (root / DEFAULTS).read_text()
    assert 'ENV_FILES: tuple[str, ...] = ("prod.env",)' in defaults
    assert 'POSTGRES_DB = "my_project"' in defaults and "owner" not in defaults
    assert "backs up database shop as user owner" in report.render()
    assert "POSTGRES_DB and POSTGRES_USER stay in the project's own settings" in report.render()
    assert "docker-compose.docs.yml: no PostgreSQL service, left alone" in report.render()
    assert ".env.example: the project has none; none created" in report.render()


@pytest.mark.parametrize(
    ("answer", "created"), [("if-new-project", False), ("no", False), ("yes", True)]
)
def test_existing_project_without_compose_gets_one_only_when_asked(
    tmp_path: Path, answer: str, created: bool
) -> None:
    """With no compose file the backup runs on the host; compose.yml only on request."""
    root = existing(tmp_path, {"README.md": "mine\n", "app.py": "print()\n"})
    answers = {**hook_context()["cookiecutter"], "new_compose_file": answer}
    report = apply(root, answers, None).render()
    assert (root / "compose.yml").exists() is created
    assert (root / ".env.example").exists() is created
    if created:
        assert "POSTGRES_PASSWORD=\n" in (root / ".env.example").read_text()
    if not created:
        assert "first backup:  scripts/db-backup.sh --verify" in report
    assert (root / "README.md").read_text() == "mine\n"


def test_database_volume_answer_mounts_the_projects_backups_volume(tmp_path: Path) -> None:
    """compose_backups_mount=database-volume writes where the project's own scripts look."""
    compose = (
        "volumes:\n  pg_backups: {}\nservices:\n  postgres:\n    image: postgres:18\n"
        "    volumes:\n      - pg_backups:/backups\n"
    )
    root = existing(tmp_path, {"compose.yaml": compose})
    answers = {**hook_context()["cookiecutter"], "compose_backups_mount": "database-volume"}
    apply(root, answers, None)
    services = yaml.safe_load((root / "compose.yaml").read_text())["services"]
    assert services["db-backup"]["volumes"][-1] == "pg_backups:/backups"


def test_named_backups_volume_is_mentioned_with_the_answer_that_uses_it(tmp_path: Path) -> None:
    """By default db-backup writes ./backups and the summary names the project's volume."""
    compose = (
        "volumes:\n  pg_backups: {}\nservices:\n  postgres:\n    image: postgres:18\n"
        "    volumes:\n      - pg_backups:/backups\n"
    )
    root = existing(tmp_path, {"compose.yaml": compose})
    text = apply(root, hook_context()["cookiecutter"], None).render()
    assert "keeps backups in volume pg_backups" in text
    assert "compose_backups_mount=database-volume" in text


def test_unmergeable_compose_is_left_byte_for_byte_with_the_snippet_printed(
    tmp_path: Path,
) -> None:
    """A flow-style services section is not edited; the warning holds the whole service."""
    original = "services: {postgres: {image: 'postgres:16'}}\r\n"
    root = existing(tmp_path, {"compose.yml": original})
    report = apply(root, hook_context()["cookiecutter"], None)
    assert (root / "compose.yml").read_bytes() == original.encode()
    warnings = report.render_warnings()
    assert "compose.yml was left unchanged: its services section is not a non-empty block" in (
        warnings
    )
    assert "  db-backup:\n" in warnings
    assert 'PG_MAJOR: "16"' in warnings


def test_unknown_server_major_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    """postgres:latest: the warning says how to pin the major."""
    root = existing(tmp_path, {"compose.yml": "services:\n  db:\n    image: postgres\n"})
    warnings = apply(root, hook_context()["cookiecutter"], None).render_warnings()
    assert "the PostgreSQL major of image postgres is unknown" in warnings
    assert "PG_MAJOR" in warnings


def test_an_existing_backup_service_that_differs_is_kept_and_the_new_one_shown(
    tmp_path: Path,
) -> None:
    """Re-applying never rewrites a db-backup service the user changed."""
    compose = "services:\n  db:\n    image: postgres:16\n  db-backup:\n    image: mine\n"
    root = existing(tmp_path, {"compose.yml": compose})
    report = apply(root, hook_context()["cookiecutter"], None)
    assert (root / "compose.yml").read_text() == compose
    assert "service db-backup differs from what this template writes now" in (
        report.render_warnings()
    )


def test_non_utf8_file_is_left_alone(tmp_path: Path) -> None:
    """A .env.example that is not UTF-8 is not rewritten; the block is printed instead."""
    root = existing(tmp_path, {"compose.yml": "services:\n  db:\n    image: postgres:16\n"})
    (root / ".env.example").write_bytes(b"A=caf\xe9\n")
    report = apply(root, hook_context()["cookiecutter"], None)
    assert (root / ".env.example").read_bytes() == b"A=caf\xe9\n"
    assert "Append to .env.example:\n# ====" in report.render_warnings()


def test_second_run_changes_no_byte(
    post_gen: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running the hook twice (as a re-application does) leaves every file identical."""
    root = existing(
        tmp_path,
        {
            ".gitignore": "*.log",
            ".env.example": "SECRET=x\r\n",
            "compose.yml": "services:\n    postgres:\n        image: postgres:16  # db\n",
        },
    )
    staged = {p.name: p.read_bytes() for p in (root / "_backup_fragments").iterdir()}
    monkeypatch.chdir(root)
    post_gen.main()
    first = snapshot_of(root)
    (root / "_backup_fragments").mkdir()
    for name, data in staged.items():
        (root / "_backup_fragments" / name).write_bytes(data)
    render_into(root, hook_context(), DEFAULTS)
    post_gen.main()
    assert snapshot_of(root) == first
    assert os.access(root / "scripts" / "db-backup.sh", os.X_OK)


# --- template files the user changed -----------------------------------------------------


def test_changed_template_files_are_kept_and_unchanged_ones_updated(tmp_path: Path) -> None:
    """With the manifest of the last run: a file the user edited is put back (with a diff),
    one the user never touched takes the template's new text, a new one is created."""
    root = tmp_path / "p"
    (root / "tools" / "db-backup").mkdir(parents=True)
    paths = ["tools/db-backup/a.txt", "tools/db-backup/b.txt", "tools/db-backup/c.txt"]
    (root / paths[0]).write_text("a v1\n")
    (root / paths[1]).write_text("b v1, edited\n")
    manifest = "".join(
        f"{template_files.sha256(text.encode())}  {path}\n"
        for path, text in ((paths[0], "a v1\n"), (paths[1], "b v1\n"))
    )
    (root / template_files.MANIFEST).write_text(manifest)
    template_files.save_snapshot(root, paths)
    for path in paths:  # what cookiecutter --overwrite-if-exists writes next
        (root / path).write_text(path[-5] + " v2\n")
    outcomes = template_files.reconcile(root, template_files.load_snapshot(root) or {})
    assert {o.path: o.status for o in outcomes} == {
        paths[0]: "updated",
        paths[1]: "kept",
        paths[2]: "created",
    }
    assert (root / paths[0]).read_text() == "a v2\n"
    assert (root / paths[1]).read_text() == "b v1, edited\n"
    kept = next(o for o in outcomes if o.status == "kept")
    assert "-b v1, edited" in kept.diff and "+b v2" in kept.diff
    assert template_files.read_manifest((root / template_files.MANIFEST).read_text()) == {
        path: template_files.sha256((path[-5] + " v2\n").encode()) for path in paths
    }
    assert template_files.load_snapshot(root) is None


def test_without_a_manifest_every_differing_file_counts_as_the_users(tmp_path: Path) -> None:
    """A file at a template path that the template did not write is never replaced."""
    root = tmp_path / "p"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "db-backup.sh").write_text("#!/bin/sh\necho mine\n")
    template_files.save_snapshot(root, ["scripts/db-backup.sh"])
    (root / "scripts" / "db-backup.sh").write_text("#!/bin/sh\necho template\n")
    outcomes = template_files.reconcile(root, template_files.load_snapshot(root) or {})
    assert [o.status for o in outcomes] == ["kept"]
    assert (root / "scripts" / "db-backup.sh").read_text().endswith("echo mine\n")


def test_template_paths_are_the_project_files_without_staging() -> None:
    """The template's own file list: tools and scripts, no fragments, no caches."""
    paths = template_files.template_paths(REPOSITORY_ROOT)
    assert "scripts/db-backup.sh" in paths
    assert "tools/db-backup/Dockerfile" in paths
    assert "tools/db-backup/conftest.py" in paths
    assert not [p for p in paths if p.startswith("_backup_fragments") or "__pycache__" in p]


def test_only_what_the_compose_file_states_becomes_a_generated_default(tmp_path: Path) -> None:
    """Literal values and the image's defaults are written into defaults.py; values that
    come from .env (often kept out of git) are not."""
    compose = (
        "services:\n  db:\n    image: postgres:18\n    environment:\n"
        "      POSTGRES_DB: app\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set it}\n"
    )
    root = existing(tmp_path, {"compose.yml": compose, ".env": "POSTGRES_PASSWORD=s3cret\n"})
    report = apply(root, hook_context()["cookiecutter"], None).render()
    defaults = (root / DEFAULTS).read_text()
    assert 'POSTGRES_DB = "app"' in defaults and 'POSTGRES_USER = "postgres"' in defaults
    assert "s3cret" not in defaults and "s3cret" not in report
    assert "password from .env or the shell" in report
    other = existing(
        tmp_path / "other",
        {
            "compose.yml": compose.replace("POSTGRES_DB: app", "POSTGRES_DB: ${DB_NAME}"),
            ".env": "DB_NAME=private_name\n",
        },
    )
    apply(other, hook_context()["cookiecutter"], None)
    assert "private_name" not in (other / DEFAULTS).read_text()


def test_created_compose_adds_the_database_block_to_an_existing_env_example(
    tmp_path: Path,
) -> None:
    """new_compose_file=yes in a project with an .env.example: both blocks are appended."""
    root = existing(tmp_path, {".env.example": "APP_DEBUG=0\n"})
    answers = {**hook_context()["cookiecutter"], "new_compose_file": "yes"}
    apply(root, answers, None)
    text = (root / ".env.example").read_text()
    assert text.startswith("APP_DEBUG=0\n\n# ====")
    assert text.index("POSTGRES_PASSWORD=") < text.index("# Database Backup Configuration")
