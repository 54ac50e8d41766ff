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
from cookiecutter.utils import create_env_with_context

from tests.hook_loader import (
    REPOSITORY_ROOT,
    hook_context,
    import_source,
    load_hook,
    render_hook,
)

FRAGMENTS = REPOSITORY_ROOT / "template" / "{{cookiecutter.project_slug}}" / "_backup_fragments"


def defaults() -> dict[str, Any]:
    """The answers ``--no-input`` gives, without cookiecutter's private keys."""
    return {k: v for k, v in hook_context()["cookiecutter"].items() if not k.startswith("_")}


def test_default_answers_are_accepted(pre_gen: ModuleType) -> None:
    """The hook rendered with the defaults exits with status zero."""
    assert pre_gen.main() == 0


ACCEPTED = [
    ("project_name", 'Café "Ops" \\ Dept.'),
    ("project_slug", "_shop2"),
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
    ("project_slug", "my-project", "project_slug must be a Python identifier"),
    ("project_slug", "class", "project_slug must be a Python identifier"),
    ("project_slug", "café", "project_slug must be a Python identifier"),
    ("postgres_db", "9lives", "postgres_db must be 1-63 letters"),
    ("postgres_db", "-db", "postgres_db must be 1-63 letters"),
    ("postgres_db", "a" * 64, "postgres_db must be 1-63 letters"),
    ("postgres_user", "bob smith", "postgres_user must be 1-63 letters"),
    ("postgres_user", "x;rm -rf ~", "postgres_user must be 1-63 letters"),
    ("postgres_port", "0", "postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", "65536", "postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", "54 32", "postgres_port must be an integer from 1 to 65535"),
    ("postgres_port", True, "postgres_port must be an integer from 1 to 65535"),
    ("postgres_version", "9.6", "postgres_version must be one of 17, 16, 15, 14, 13"),
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


ANSWER_FIELDS = ["project_name", "project_slug", "postgres_db", "postgres_user", "postgres_port"]


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


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder as cookiecutter leaves it before post_gen: fragments and a script."""
    root = tmp_path / "project"
    fragments = root / "_backup_fragments"
    fragments.mkdir(parents=True)
    context = hook_context()
    environment = create_env_with_context(context)
    for fragment in FRAGMENTS.iterdir():
        text = environment.from_string(fragment.read_text(encoding="utf-8")).render(**context)
        (fragments / fragment.name).write_text(text, encoding="utf-8")
    (root / "scripts").mkdir()
    script = root / "scripts" / "db-backup.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    return root


def test_absent_files_are_created_and_staging_removed(
    post_gen: ModuleType, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a project without the three files, main() creates them from the fragments."""
    monkeypatch.chdir(project)
    assert post_gen.main() == 0
    assert not (project / "_backup_fragments").exists()
    env_example = (project / ".env.example").read_text()
    assert post_gen.ENV_MARKER in env_example
    assert "0 keeps every backup" in env_example
    assert (project / ".gitignore").read_text().splitlines()[1:] == [
        "backups/",
        "scripts/backup-config.env",
    ]
    compose = (project / "compose.yml").read_text()
    assert "- ./backups:/backups" in compose
    assert "db-backup:" in compose


def test_shipped_scripts_get_their_run_bit(post_gen: ModuleType, project: Path) -> None:
    """The template's scripts become executable for whoever may read them; a script of the
    project's own keeps its mode."""
    own = project / "scripts" / "mine.sh"
    own.write_text("#!/bin/sh\n")
    own.chmod(0o640)
    post_gen.make_scripts_executable(project)
    assert stat.S_IMODE((project / "scripts" / "db-backup.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE(own.stat().st_mode) == 0o640


def test_shipped_scripts_list_matches_the_template(post_gen: ModuleType) -> None:
    """Every shell script in the template's scripts/ folder is in SHIPPED_SCRIPTS."""
    template_project = REPOSITORY_ROOT / "template" / "{{cookiecutter.project_slug}}"
    shipped = {str(p.relative_to(template_project)) for p in template_project.glob("scripts/*.sh")}
    assert shipped == set(post_gen.SHIPPED_SCRIPTS)


def test_existing_docker_compose_yaml_is_the_one_merged(
    post_gen: ModuleType, project: Path
) -> None:
    """An existing docker-compose.yaml is merged; no second compose file appears."""
    existing = "services:\n  postgres:\n    image: postgres:16\n"
    (project / "docker-compose.yaml").write_text(existing)
    post_gen.wire_compose(project, project / "_backup_fragments", add_service=False)
    assert not (project / "compose.yml").exists()
    merged = (project / "docker-compose.yaml").read_text()
    assert merged == existing + "    volumes:\n      - ./backups:/backups\n"


def test_unmergeable_compose_is_left_byte_for_byte_with_the_snippet_printed(
    post_gen: ModuleType, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A compose file without a postgres service is untouched; the advice names the lines."""
    original = b"# mine\r\nservices:\r\n  web:\r\n    image: nginx\r\n"
    (project / "compose.yml").write_bytes(original)
    post_gen.wire_compose(project, project / "_backup_fragments", add_service=True)
    assert (project / "compose.yml").read_bytes() == original
    err = capsys.readouterr().err
    assert "compose.yml was left unchanged: it has no postgres service" in err
    assert "      - ./backups:/backups" in err
    assert "  db-backup:\n" in err
    assert "__POSTGRES" not in err


def test_non_utf8_file_is_left_alone(
    post_gen: ModuleType, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .env.example that is not UTF-8 is not rewritten; the block is printed instead."""
    original = b"A=caf\xe9\n"
    (project / ".env.example").write_bytes(original)
    post_gen.wire_env_example(project, project / "_backup_fragments")
    assert (project / ".env.example").read_bytes() == original
    assert "Append this block to .env.example" in capsys.readouterr().err


def test_second_run_changes_no_byte(
    post_gen: ModuleType, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running the hook twice (as a re-application does) leaves every file identical."""
    (project / ".gitignore").write_text("*.log")
    (project / ".env.example").write_text("SECRET=x\r\n")
    (project / "compose.yml").write_text(
        "services:\n    postgres:\n        image: postgres:16  # db\n"
    )
    staged = {p.name: p.read_bytes() for p in (project / "_backup_fragments").iterdir()}
    monkeypatch.chdir(project)
    post_gen.main()
    first = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    (project / "_backup_fragments").mkdir()
    for name, data in staged.items():
        (project / "_backup_fragments" / name).write_bytes(data)
    post_gen.main()
    second = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    assert second == first
    assert os.access(project / "scripts" / "db-backup.sh", os.X_OK)
