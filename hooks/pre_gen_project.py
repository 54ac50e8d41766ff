"""Refuse answers the generated project cannot work with, before anything is written.

Answers arrive as JSON data (rendered with ``tojson``) and are never pasted into this
source, so no answer can change what this hook runs. The first bad answer is reported on
one line naming the variable and the rule, and the hook exits 1, which makes cookiecutter
stop and remove the half-made project.

When the answers are good and the target folder already holds a project (applying the
template with ``--overwrite-if-exists``), the files the template is about to rewrite are
saved first, so that the post-generation hook can put back the ones the user changed.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ANSWERS: dict[str, Any] = json.loads(r"""{{ cookiecutter | tojson }}""")
TEMPLATE_OPTIONS: dict[str, Any] = json.loads(r"""{{ _cookiecutter | default({}) | tojson }}""")

COMPRESSION_LEVELS = {"gzip": (1, 9), "zstd": (1, 19)}
FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")
SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
POSTGRES_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
DIGITS = re.compile(r"[0-9]+")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


class InvalidAnswer(ValueError):
    """An answer that breaks a rule; the message names the variable and the rule."""


def shown(value: object) -> str:
    """Show a bad value on one line, shortened so the message stays readable."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def refuse(name: str, rule: str, value: object) -> InvalidAnswer:
    """Build the error for answer ``name`` breaking ``rule``."""
    return InvalidAnswer(f"{name} must be {rule} (got {shown(value)})")


def as_integer(name: str, value: object, rule: str) -> int:
    """Read a whole number given as digits (a JSON number or a string of digits)."""
    if isinstance(value, bool):
        raise refuse(name, rule, value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and DIGITS.fullmatch(value):
        return int(value)
    raise refuse(name, rule, value)


def check_project_name(value: object) -> None:
    """The name appears in logs and docs: non-empty text on one line."""
    rule = "non-empty text on a single line"
    if not isinstance(value, str) or not value.strip() or CONTROL_CHARACTERS.search(value):
        raise refuse("project_name", rule, value)


def check_project_slug(value: object) -> None:
    """The slug is the project's folder name (an existing project's, when applying onto
    one): any plain folder name. Nothing needs it to be a Python identifier."""
    rule = "a folder name (ASCII letters, digits, ., _ and -, not starting with . or -)"
    if not isinstance(value, str) or not FOLDER_NAME.fullmatch(value):
        raise refuse("project_slug", rule, value)


def check_service_name(value: object) -> None:
    """Empty (find the PostgreSQL service by its image) or a compose service name."""
    rule = "empty or a compose service name (letters, digits, ., _ and -)"
    if not isinstance(value, str) or (value and not SERVICE_NAME.fullmatch(value)):
        raise refuse("postgres_service", rule, value)


def check_postgres_name(name: str, value: object) -> None:
    """Database and role names that PostgreSQL, the official image and a shell all accept."""
    rule = "1-63 letters, digits, _ or -, not starting with a digit or -"
    if not isinstance(value, str) or not POSTGRES_NAME.fullmatch(value):
        raise refuse(name, rule, value)


def check_port(value: object) -> None:
    """A TCP port number."""
    rule = "an integer from 1 to 65535"
    if not 1 <= as_integer("postgres_port", value, rule) <= 65535:
        raise refuse("postgres_port", rule, value)


def check_retention(name: str, value: object) -> None:
    """Retention is an age in days, weeks or months; 0 keeps everything."""
    as_integer(name, value, "a non-negative integer (0 keeps every backup)")


def check_choice(name: str, value: object, options: Mapping[str, Any]) -> None:
    """A choice answer must be one of the template's listed options."""
    choices = options.get(name)
    if isinstance(choices, list) and value not in choices:
        raise refuse(name, "one of " + ", ".join(map(str, choices)), value)


def check_compression(value: object, level: object) -> None:
    """The compression must be known and its level inside that program's range."""
    if value not in COMPRESSION_LEVELS:
        raise refuse("backup_compression", "one of " + ", ".join(COMPRESSION_LEVELS), value)
    low, high = COMPRESSION_LEVELS[value]
    rule = f"an integer from {low} to {high} for {value}"
    if not low <= as_integer("backup_compression_level", level, rule) <= high:
        raise refuse("backup_compression_level", rule, level)


def check_boolean(name: str, value: object) -> None:
    """Yes/no answers must be real booleans, not strings that merely look like one."""
    if not isinstance(value, bool):
        raise refuse(name, "true or false", value)


CHOICE_ANSWERS = (
    "postgres_version",
    "backup_compression",
    "backup_weekly_day",
    "new_compose_file",
    "compose_backups_mount",
)
RETENTION_ANSWERS = (
    "backup_retention_daily",
    "backup_retention_weekly",
    "backup_retention_monthly",
)


def validate(answers: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Raise ``InvalidAnswer`` for the first answer that breaks its rule, in prompt order."""
    check_project_name(answers.get("project_name"))
    check_project_slug(answers.get("project_slug"))
    check_postgres_name("postgres_db", answers.get("postgres_db"))
    check_postgres_name("postgres_user", answers.get("postgres_user"))
    check_port(answers.get("postgres_port"))
    for name in CHOICE_ANSWERS:
        check_choice(name, answers.get(name), options)
    check_compression(answers.get("backup_compression"), answers.get("backup_compression_level"))
    for name in RETENTION_ANSWERS:
        check_retention(name, answers.get(name))
    check_boolean("add_compose_backup_service", answers.get("add_compose_backup_service"))
    check_service_name(answers.get("postgres_service", ""))


def save_existing_template_files(project: Path, repo_dir: str) -> None:
    """Save the files the template is about to rewrite (none in a new project's folder)."""
    if not repo_dir:
        return
    sys.path.insert(0, str(Path(repo_dir) / "hooks"))
    from backup_wiring import template_files

    template_files.save_snapshot(project, template_files.template_paths(Path(repo_dir)))


def main() -> int:
    """Validate the answers; print one line and return 1 on the first bad one."""
    try:
        validate(ANSWERS, TEMPLATE_OPTIONS)
    except InvalidAnswer as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    save_existing_template_files(Path.cwd(), str(ANSWERS.get("_repo_dir", "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
