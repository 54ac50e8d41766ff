"""The ``db-backup`` compose service, built from the database service it backs up.

The service runs the project's backup tool in an image whose ``pg_dump`` has the
server's major version (build argument ``PG_MAJOR``). It mounts the project read-only
as its working directory, so the tool reads the same settings files, in the same order,
as ``scripts/db-backup.sh`` on the host; ``environment:`` adds only what differs in the
container (where the server is, where backups go) and the database service's own
``POSTGRES_*`` values. It joins the database service's networks.

It stays up as the tool's scheduler (``BACKUP_SCHEDULE`` from ``.env``), restarted with
Docker, and is healthy while the newest good backup is younger than ``BACKUP_MAX_AGE``.
Backups in a host folder are written as ``DB_BACKUP_UID:DB_BACKUP_GID`` (compose-level
variables, not the tool's), so the developer who owns the project reads them without root.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from .compose_discovery import DatabaseService

SERVICE_NAME = "db-backup"
DOCKERFILE = "tools/db-backup/Dockerfile"
PROJECT_MOUNT = "/project"
BACKUPS_TARGET = "/backups"
LOCAL_BACKUPS = "./backups"
# The database's own settings that also describe how to log in to it.
COPIED_PREFIX = "POSTGRES_"
NOT_COPIED = frozenset({"POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_INITDB_ARGS"})
PLAIN = re.compile(r"[A-Za-z0-9_./@-][A-Za-z0-9_./:@-]*")
# The scheduler's flags; BACKUP_SCHEDULE comes from .env (or the shell) when compose starts.
SCHEDULE_COMMAND = '["--schedule=${BACKUP_SCHEDULE:-@daily}", "--verify"]'
HOST_USER = '"${DB_BACKUP_UID:-1000}:${DB_BACKUP_GID:-1000}"'
HEALTHCHECK = (
    ("test", '["CMD", "python3", "-m", "db_backup", "--check"]'),
    ("interval", "5m"),
    ("timeout", "1m"),
    ("start_period", "15m"),
    ("retries", "2"),
)


def is_host_folder(source: str) -> bool:
    """A bind mount of a host path (not a named volume)."""
    return source.startswith((".", "/", "~", "$"))


def scalar(value: str | None) -> str:
    """A YAML scalar for ``value``: plain when that reads back the same, else quoted."""
    if value is None:
        return "null"
    if PLAIN.fullmatch(value):
        try:
            if yaml.safe_load(f"k: {value}") == {"k": value}:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class BackupService:
    """Everything that decides the service's text."""

    database: DatabaseService
    backups_source: str = LOCAL_BACKUPS
    env_files: tuple[str, ...] = ()  # BACKUP_ENV_FILES for this file's database
    run_command: str = "docker compose run --rm db-backup"

    @property
    def host(self) -> str:
        mode = self.database.network_mode or ""
        same_network = mode == "host" or mode == f"service:{self.database.name}"
        return "127.0.0.1" if same_network else self.database.name

    def environment(self) -> list[tuple[str, str | None]]:
        """Where the server is, where backups go, then the database's own POSTGRES_*."""
        pairs: list[tuple[str, str | None]] = [
            ("POSTGRES_HOST", self.host),
            ("POSTGRES_PORT", "5432"),
            ("BACKUP_DIR", BACKUPS_TARGET),
        ]
        if self.env_files:
            pairs.append(("BACKUP_ENV_FILES", ",".join(self.env_files)))
        for name, value in self.database.environment:
            if name.startswith(COPIED_PREFIX) and name not in NOT_COPIED:
                pairs.append((name, value))
        secret_file = self.database.setting("POSTGRES_PASSWORD_FILE")
        if secret_file is not None:
            pairs.append(("PGPASSWORD_FILE", secret_file))
        return pairs

    def snippet(self) -> str:
        """The service as 2-space YAML lines under ``services:``, with a short comment."""
        database = self.database
        condition = "service_healthy" if database.healthcheck else "service_started"
        host_folder = is_host_folder(self.backups_source)
        lines = [
            "  # Backups of service " + database.name + " (see tools/db-backup/README.md):",
            "  # a backup at each time of BACKUP_SCHEDULE (.env; default @daily), verified;",
            "  # healthy while the newest good backup is younger than BACKUP_MAX_AGE.",
            "  # One backup now: " + self.run_command + " --once --verify",
            "  # Reads the project's settings (read-only, as scripts/db-backup.sh does);",
            "  # the values below win over them.",
        ]
        if host_folder:
            lines.append(
                f"  # Files in {self.backups_source} belong to DB_BACKUP_UID:DB_BACKUP_GID "
                "(.env; default 1000:1000)."
            )
        lines += [
            f"  {SERVICE_NAME}:",
            "    build:",
            "      context: .",
            f"      dockerfile: {DOCKERFILE}",
        ]
        if database.server.major is not None:
            lines += ["      args:", f'        PG_MAJOR: "{database.server.major}"']
        lines += [f"    command: {SCHEDULE_COMMAND}", "    restart: unless-stopped"]
        if host_folder:
            lines.append(f"    user: {HOST_USER}")
        lines += [
            "    depends_on:",
            f"      {scalar(database.name)}:",
            f"        condition: {condition}",
            f"    working_dir: {PROJECT_MOUNT}",
            "    environment:",
        ]
        lines += [f"      {name}: {scalar(value)}" for name, value in self.environment()]
        lines.append("    healthcheck:")
        lines += [f"      {key}: {value}" for key, value in HEALTHCHECK]
        if database.network_mode is not None:
            lines.append(f"    network_mode: {scalar(database.network_mode)}")
        elif database.networks:
            lines.append("    networks:")
            lines += [f"      - {scalar(name)}" for name in database.networks]
        if database.secrets:
            lines.append("    secrets:")
            lines += [f"      - {scalar(name)}" for name in database.secrets]
        lines += [
            "    volumes:",
            f"      - {scalar(f'.:{PROJECT_MOUNT}:ro')}",
            f"      - {scalar(f'{self.backups_source}:{BACKUPS_TARGET}')}",
        ]
        return "".join(line + "\n" for line in lines)

    def data(self) -> Any:
        """The service as compose reads it."""
        return yaml.safe_load("services:\n" + self.snippet())["services"][SERVICE_NAME]
