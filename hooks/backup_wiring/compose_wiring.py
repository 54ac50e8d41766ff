"""Put a db-backup service beside the PostgreSQL service of each compose file.

Every compose file is read; the ones whose PostgreSQL service is defined there (not
merely overridden) get the service, built from that database service. Files that cannot
be edited safely are left alone, and the exact service text to add is printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import compose_discovery
from .adopted_database import usable_env_files
from .backup_service import LOCAL_BACKUPS, SERVICE_NAME, BackupService, is_host_folder
from .choices import Choices
from .compose_discovery import DatabaseService, uses_default_name
from .compose_text import add_service, load_data
from .report import Report
from .text_edit import CannotMerge, read_text

DATABASE_VOLUME = "database-volume"


@dataclass(frozen=True)
class Wired:
    """A compose file that defines the database service."""

    path: Path
    text: str
    data: Any
    database: DatabaseService


def compose_command(path: Path) -> str:
    """``docker compose``, naming this compose file unless compose reads it by default."""
    return "docker compose" if uses_default_name(path) else f"docker compose -f {path.name}"


def run_command(path: Path) -> str:
    """The command that runs the backup tool once in this compose file's service."""
    return f"{compose_command(path)} run --rm {SERVICE_NAME}"


def primary(wired: list[Wired]) -> Wired | None:
    """The compose file whose database the host-run tool backs up by default:
    a production file, else the one plain ``docker compose`` reads, else the first."""
    for rule in (lambda w: "prod" in w.path.name, lambda w: uses_default_name(w.path)):
        for item in wired:
            if rule(item):
                return item
    return wired[0] if wired else None


def is_named_volume(source: str | None) -> bool:
    """A named volume, not a bind mount of a host path."""
    return bool(source) and not is_host_folder(str(source))


def describe(service: BackupService) -> str:
    """What the added service does, on one line for the summary."""
    database = service.database
    server = database.server
    major = f"pg_dump {server.major}" if server.major else "pg_dump of the Dockerfile default"
    parts = [f"backs up service {database.name}", f"{major} for {server.describe()}"]
    if service.env_files:
        parts.append("reads " + ", ".join(service.env_files))
    if database.network_mode:
        parts.append(f"network_mode {database.network_mode}")
    elif database.networks:
        parts.append("networks " + ", ".join(database.networks))
    parts.append(f"backups in {service.backups_source}")
    return "; ".join(parts)


class ComposeWiring:
    """The compose side of one run: find the databases, add the services, say what."""

    def __init__(
        self, project: Path, report: Report, dotenv: Mapping[str, str], answers: Choices
    ) -> None:
        self.project = project
        self.report = report
        self.dotenv = dotenv
        self.answers = answers
        self.wired: list[Wired] = []

    def find_databases(self, files: list[Path]) -> None:
        """Find the service that runs PostgreSQL in each compose file."""
        for path in files:
            try:
                text = read_text(path)
                data = load_data(text)
                database = compose_discovery.find_database_service(
                    self.project, data, self.dotenv, self.answers.postgres_service
                )
            except CannotMerge as reason:
                self.report.warn(f"{path.name} was left unchanged: {reason}.")
                continue
            if database is None:
                self.report.compose.append(f"{path.name}: {self.no_database(data)}, left alone")
                continue
            self.wired.append(Wired(path, text, data, database))

    def no_database(self, data: Any) -> str:
        """Why a compose file gets no backup service, in words."""
        services = data.get("services") if isinstance(data, dict) else None
        known = {item.database.name: item.path.name for item in self.wired}
        for name in services if isinstance(services, dict) else ():
            if name in known:
                return f"only adjusts service {name} (defined in {known[name]})"
        return "no PostgreSQL service"

    def backup_service(self, item: Wired) -> BackupService:
        """The db-backup service for one compose file's database."""
        database = item.database
        source = LOCAL_BACKUPS
        if self.answers.backups_mount == DATABASE_VOLUME:
            if database.backups_volume:
                source = database.backups_volume
            else:
                self.report.warn(
                    f"{item.path.name}: service {database.name} mounts nothing at /backups; "
                    f"db-backup uses {LOCAL_BACKUPS}."
                )
        return BackupService(
            database,
            backups_source=source,
            env_files=usable_env_files(self.project, database),
            run_command=run_command(item.path),
        )

    def wire(self, item: Wired) -> None:
        """Add db-backup to one compose file (or say why not, with the lines to add)."""
        name = item.path.name
        if not self.answers.add_service:
            self.report.compose.append(f"{name}: no db-backup service (answer was false)")
            return
        service = self.backup_service(item)
        existing = item.data["services"].get(SERVICE_NAME)
        if existing is not None:
            if existing == service.data():
                self.report.compose.append(f"{name}: db-backup already up to date")
            else:
                self.report.compose.append(f"{name}: db-backup left as you have it")
                self.report.warn(
                    f"{name}: service db-backup differs from what this template writes now; "
                    "it was left as it is. The template's version:\n" + service.snippet()
                )
            return
        try:
            merged = add_service(item.text, SERVICE_NAME, service.snippet())
        except CannotMerge as reason:
            self.report.warn(
                f"{name} was left unchanged: {reason}.\n"
                f"Add this service under services: in {name}:\n{service.snippet()}"
            )
            return
        item.path.write_bytes(merged.encode("utf-8"))
        self.report.compose.append(f"{name}: added service db-backup ({describe(service)})")
        self.make_backups_folder(service)

    def make_backups_folder(self, service: BackupService) -> None:
        """Create ./backups (mode 0700) as the user applying the template: left to Docker,
        it would belong to root and the service's user could not write to it."""
        if service.backups_source != LOCAL_BACKUPS:
            return
        folder = self.project / LOCAL_BACKUPS
        if not folder.exists():
            folder.mkdir(mode=0o700)
            self.report.compose.append(f"{LOCAL_BACKUPS}: created (mode 0700) for db-backup")

    def check_server_versions(self) -> None:
        """Warn where the server's major is unknown; say where its image is Alpine-based."""
        for item in self.wired:
            server = item.database.server
            if server.major is None:
                fallback = self.answers.postgres_version or "the Dockerfile default"
                self.report.warn(
                    f"{item.path.name}: the PostgreSQL major of {server.describe()} is unknown; "
                    f"the backup image gets pg_dump {fallback}. Pin the image tag (e.g. "
                    'postgres:17) or add args: {PG_MAJOR: "<major>"} to db-backup\'s build.'
                )
            elif "alpine" in server.reference:
                self.report.database.append(
                    f"{item.path.name}: {server.reference} is Alpine-based; the backup image is "
                    f"postgres:{server.major} (Debian) with the same pg_dump major"
                )

    def note_backup_volumes(self) -> None:
        """Say where the project already keeps backups in a named volume (cookiecutter-django)."""
        if self.answers.backups_mount == DATABASE_VOLUME:
            return
        for item in self.wired:
            volume = item.database.backups_volume
            if is_named_volume(volume):
                self.report.database.append(
                    f"{item.path.name}: service {item.database.name} keeps backups in volume "
                    f"{volume} (its own backup/restore scripts use it); db-backup writes to "
                    f"{LOCAL_BACKUPS}. To write into {volume} instead, apply with "
                    f"compose_backups_mount={DATABASE_VOLUME}, or change db-backup's volume to "
                    f"{volume}:/backups"
                )
