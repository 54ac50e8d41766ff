"""The answers that steer the wiring, read once from cookiecutter's context."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .backup_service import LOCAL_BACKUPS


@dataclass(frozen=True)
class Choices:
    """The answers that steer the wiring."""

    add_service: bool = True
    new_compose_file: str = "if-new-project"  # yes, no, or only for a new project
    backups_mount: str = LOCAL_BACKUPS  # or "database-volume"
    postgres_service: str = ""
    postgres_version: str = ""
    postgres_db: str = ""
    postgres_user: str = ""

    @classmethod
    def from_answers(cls, answers: Mapping[str, Any]) -> Choices:
        return cls(
            add_service=bool(answers.get("add_compose_backup_service", True)),
            new_compose_file=str(answers.get("new_compose_file", "if-new-project")),
            backups_mount=str(answers.get("compose_backups_mount", LOCAL_BACKUPS)),
            postgres_service=str(answers.get("postgres_service", "")).strip(),
            postgres_version=str(answers.get("postgres_version", "")),
            postgres_db=str(answers.get("postgres_db", "")),
            postgres_user=str(answers.get("postgres_user", "")),
        )
