"""Wire the backup pieces into a project, new or existing, and report what was done.

Order matters: the compose files are read first (they say which database to back up),
then the rendered settings are adjusted to it, then the user's own edits to template
files are put back, and last the shared files (.env.example, .gitignore, compose files)
are merged. Each shared file is created when absent (where that makes sense) or edited
by adding lines only; where a safe edit is impossible the file is left alone and the
exact lines to add are printed.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import baked_settings, compose_discovery, env_text, template_files
from .backup_service import LOCAL_BACKUPS, SERVICE_NAME, BackupService
from .compose_discovery import DatabaseService, compose_files, uses_default_name
from .compose_text import CannotMerge, add_service, load_data
from .report import Report

STAGING = "_backup_fragments"
NEW_COMPOSE_NAME = "compose.yml"
SHIPPED_SCRIPTS = ("scripts/db-backup.sh",)  # only these: the project's own scripts keep their mode
TEMPLATE_FOLDERS = ("tools", "scripts", STAGING)
IMAGE_DEFAULTS = {"POSTGRES_USER": "postgres"}  # the official image's defaults


@dataclass(frozen=True)
class Choices:
    """The answers that steer the wiring."""

    add_service: bool = True
    new_compose_file: str = "if-new-project"  # yes, no, or only for a new project
    backups_mount: str = LOCAL_BACKUPS  # or "database-volume"
    postgres_service: str = ""
    postgres_version: str = ""

    @classmethod
    def from_answers(cls, answers: Mapping[str, Any]) -> Choices:
        return cls(
            add_service=bool(answers.get("add_compose_backup_service", True)),
            new_compose_file=str(answers.get("new_compose_file", "if-new-project")),
            backups_mount=str(answers.get("compose_backups_mount", LOCAL_BACKUPS)),
            postgres_service=str(answers.get("postgres_service", "")).strip(),
            postgres_version=str(answers.get("postgres_version", "")),
        )


@dataclass(frozen=True)
class Wired:
    """A compose file that defines the database service."""

    path: Path
    text: str
    data: Any
    database: DatabaseService


def read_text(path: Path) -> str:
    """A file's text with its line endings untouched."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise CannotMerge("it is not UTF-8 text") from error


def is_new_project(project: Path) -> bool:
    """Whether the folder holds nothing but what the template itself just wrote."""
    return all(item.name in TEMPLATE_FOLDERS for item in project.iterdir())


def run_command(path: Path) -> str:
    """The command that runs the backup service of this compose file."""
    files = "" if uses_default_name(path) else f"-f {path.name} "
    return f"docker compose {files}--profile backup run --rm {SERVICE_NAME}"


def primary(wired: list[Wired]) -> Wired | None:
    """The compose file whose database the host-run tool backs up by default:
    a production file, else the one plain ``docker compose`` reads, else the first."""
    for rule in (lambda w: "prod" in w.path.name, lambda w: uses_default_name(w.path)):
        for item in wired:
            if rule(item):
                return item
    return wired[0] if wired else None


def usable_env_files(project: Path, database: DatabaseService) -> tuple[str, ...]:
    """The database's env files the tool should read: required ones, optional ones found."""
    return tuple(
        entry.relative
        for entry in database.env_files
        if entry.required or (project / entry.relative).is_file()
    )


def settings_of(project: Path, database: DatabaseService, dotenv: Mapping[str, str]) -> dict:
    """The database's POSTGRES_* as the server sees them: env files, then ``environment:``."""
    values: dict[str, str] = dict(IMAGE_DEFAULTS)
    for entry in database.env_files:
        values.update(env_text.read_env(project / entry.relative))
    for name, value in database.environment:
        resolved = env_text.interpolate(value, dotenv) if value is not None else dotenv.get(name)
        if resolved is not None:
            values[name] = resolved
    values.setdefault("POSTGRES_DB", values["POSTGRES_USER"])
    return values


def password_source(project: Path, database: DatabaseService, settings: Mapping[str, str]) -> str:
    """Where the server's password comes from, in words for the summary."""
    if settings.get("POSTGRES_HOST_AUTH_METHOD") == "trust":
        return "no password: the server trusts its clients (POSTGRES_HOST_AUTH_METHOD=trust)"
    for entry in database.env_files:
        if "POSTGRES_PASSWORD" in env_text.read_env(project / entry.relative):
            return f"password from {entry.relative}"
    written = database.setting("POSTGRES_PASSWORD")
    if written is not None and "$" in written:
        return "password from .env (compose fills in " + written + ")"
    if written is not None:
        return "password written in the compose file"
    if database.setting("POSTGRES_PASSWORD_FILE") is not None:
        return "password from the secret file POSTGRES_PASSWORD_FILE names"
    return "no password found: set PGPASSWORD, PGPASSWORD_FILE or POSTGRES_PASSWORD"


def is_named_volume(source: str | None) -> bool:
    return bool(source) and not str(source).startswith((".", "/", "~", "$"))


class Wiring:
    """One run of the post-generation hook over ``project``."""

    def __init__(self, project: Path, answers: Mapping[str, Any]) -> None:
        self.project = project
        self.choices = Choices.from_answers(answers)
        self.fragments = project / STAGING
        self.new_project = is_new_project(project)
        self.report = Report(str(project), self.new_project)
        self.dotenv = env_text.read_env(project / ".env")
        self.wired: list[Wired] = []
        self.created_compose = False

    # --- compose ------------------------------------------------------------------------

    def find_databases(self) -> None:
        """Read every compose file (creating compose.yml only where asked) and find the
        service that runs PostgreSQL in each."""
        files = compose_files(self.project)
        if not files:
            wanted = self.choices.new_compose_file
            if wanted == "yes" or (wanted == "if-new-project" and self.new_project):
                path = self.project / NEW_COMPOSE_NAME
                path.write_bytes(read_text(self.fragments / "compose.yml").encode("utf-8"))
                self.created_compose = True
                self.report.compose.append(f"{NEW_COMPOSE_NAME}: created with a postgres service")
                files = [path]
            else:
                self.report.compose.append(
                    "none in the project, none created: the backup runs on the host "
                    "(answer new_compose_file=yes for a compose.yml with PostgreSQL)"
                )
        for path in files:
            try:
                text = read_text(path)
                data = load_data(text)
                database = compose_discovery.find_database_service(
                    self.project, data, self.dotenv, self.choices.postgres_service
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
        database = item.database
        source = LOCAL_BACKUPS
        if self.choices.backups_mount == "database-volume":
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

    def wire_compose_file(self, item: Wired) -> None:
        """Add db-backup to one compose file (or say why not, with the lines to add)."""
        name = item.path.name
        service = self.backup_service(item)
        if not self.choices.add_service:
            self.report.compose.append(f"{name}: no db-backup service (answer was false)")
            return
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
        self.report.compose.append(f"{name}: added service db-backup ({self.describe(service)})")

    def describe(self, service: BackupService) -> str:
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

    def check_server_versions(self) -> None:
        """Warn where the server's major is unknown or its image is not Debian-based."""
        for item in self.wired:
            server = item.database.server
            if server.major is None:
                fallback = self.choices.postgres_version or "the Dockerfile default"
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
        if self.choices.backups_mount == "database-volume":
            return
        for item in self.wired:
            volume = item.database.backups_volume
            if is_named_volume(volume):
                self.report.database.append(
                    f"{item.path.name}: service {item.database.name} keeps backups in volume "
                    f"{volume} (its own backup/restore scripts use it); db-backup writes to "
                    f"{LOCAL_BACKUPS}. To write into {volume} instead, apply with "
                    "compose_backups_mount=database-volume, or change db-backup's volume to "
                    f"{volume}:/backups"
                )

    # --- settings the template rendered -------------------------------------------------

    def adopt_database(self) -> None:
        """Point the host-run tool's defaults at the project's own database."""
        main = primary(self.wired)
        if main is None:
            return
        database = main.database
        settings = settings_of(self.project, database, self.dotenv)
        env_files = usable_env_files(self.project, database)
        where = [f"service {database.name} of {main.path.name}"]
        if env_files:
            where.append("credentials from " + ", ".join(env_files))
        self.report.database.append(
            f"scripts/db-backup.sh backs up database {settings['POSTGRES_DB']} as user "
            f"{settings['POSTGRES_USER']} ({'; '.join(where)})"
        )
        self.report.database.append(password_source(self.project, database, settings))
        host = settings.get("POSTGRES_HOST", "localhost")
        if env_files and host not in ("localhost", "127.0.0.1"):
            self.report.database.append(
                f"{env_files[0]} names host {host} (reachable inside "
                "compose); on the host, set POSTGRES_HOST and POSTGRES_PORT to reach the server"
            )
        defaults_path = self.project / baked_settings.DEFAULTS
        try:
            text = read_text(defaults_path)
            text = baked_settings.set_default(
                text, "POSTGRES_DB", baked_settings.python_string(settings["POSTGRES_DB"])
            )
            text = baked_settings.set_default(
                text, "POSTGRES_USER", baked_settings.python_string(settings["POSTGRES_USER"])
            )
            if env_files:
                literal = baked_settings.python_tuple(env_files)
                text = baked_settings.set_default(text, "ENV_FILES", literal)
        except (OSError, CannotMerge, baked_settings.MissingSetting) as reason:
            files = ",".join(env_files)
            self.report.warn(
                f"{baked_settings.DEFAULTS} was not adjusted ({reason}); set these in "
                f"scripts/backup-config.env: POSTGRES_DB={settings['POSTGRES_DB']} "
                f"POSTGRES_USER={settings['POSTGRES_USER']}"
                + (f" BACKUP_ENV_FILES={files}" if files else "")
            )
            return
        if text == read_text(defaults_path):
            return
        defaults_path.write_bytes(text.encode("utf-8"))
        failure = baked_settings.regenerate_docs(self.project)
        if failure is not None:
            self.report.warn(
                f"the tool's settings docs were not rewritten ({failure}); run: "
                "invoke -r tools/db-backup settings-docs"
            )

    # --- shared files -------------------------------------------------------------------

    def merge_file(self, name: str, merge: Any, new_text: str | None, advice: str) -> None:
        """Create ``name`` from ``new_text`` (None: never create) or merge into it."""
        path = self.project / name
        try:
            old = read_text(path) if path.exists() else None
            if old is None and new_text is None:
                self.report.left_alone.append(f"{name}: the project has none; none created")
                return
            new = new_text if old is None else merge(old)
        except CannotMerge as reason:
            self.report.warn(f"{name} was left unchanged: {reason}.\n{advice}")
            return
        if new == old:
            self.report.files.append(f"{name}: already up to date")
            return
        path.write_bytes(new.encode("utf-8"))
        self.report.files.append(f"{name}: {'created' if old is None else 'updated'}")

    def wire_env_example(self) -> None:
        """Add the backup block to .env.example (created only for a new project)."""
        block = read_text(self.fragments / "env.example")
        new_text = None
        if self.new_project:
            new_text = block
            if self.created_compose:
                new_text = read_text(self.fragments / "env-database.example") + "\n" + block
        self.merge_file(
            ".env.example",
            lambda old: env_text.merge_env_example(old, block),
            new_text,
            f"Append this block to .env.example:\n{block}",
        )

    def wire_gitignore(self) -> None:
        """Keep backups and the backup config (it may hold secrets) out of git."""
        fragment = read_text(self.fragments / "gitignore")
        self.merge_file(
            ".gitignore",
            lambda old: env_text.merge_gitignore(old, fragment),
            fragment,
            f"Add these lines to .gitignore:\n{fragment}",
        )

    # --- files the template owns --------------------------------------------------------

    def keep_user_edits(self, snapshot: dict | None) -> None:
        """Put back template files the user changed; report what the template wrote."""
        if snapshot is None:
            return
        outcomes = template_files.reconcile(self.project, snapshot)
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            if outcome.status == "kept":
                self.report.warn(
                    f"{outcome.path}: you changed it, so it was kept; the template's "
                    f"version differs:\n{outcome.diff}"
                )
        if counts:
            shown = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
            self.report.files.append(f"template files (tools/db-backup, scripts): {shown}")

    def make_scripts_executable(self) -> None:
        """Give the shipped scripts their run bit wherever they are readable."""
        for name in SHIPPED_SCRIPTS:
            script = self.project / name
            mode = script.stat().st_mode
            script.chmod(mode | (mode & 0o444) >> 2)

    def next_steps(self) -> None:
        """The three commands to run next: a first backup, a check, a schedule."""
        main = primary(self.wired)
        if main is not None and self.choices.add_service:
            command, folder = run_command(main.path), "/backups"
        else:
            command, folder = "scripts/db-backup.sh", "backups"
        self.report.next_steps += [
            f"first backup:  {command} --verify",
            f"check it:      {command} --list   (then --verify-file {folder}/<name>)",
            f"schedule:      17 3 * * * cd {self.project} && {command} --type=auto --verify",
        ]

    def leave_alone(self) -> None:
        if not self.new_project:
            self.report.left_alone.append(
                "README, pyproject, tasks and every file outside tools/db-backup and the "
                "two shipped scripts are never written; the host's pytest skips "
                "tools/db-backup (its tests run from that folder)"
            )

    def run(self, snapshot: dict | None) -> Report:
        self.find_databases()
        self.check_server_versions()
        self.adopt_database()
        self.keep_user_edits(snapshot)
        for item in self.wired:
            self.wire_compose_file(item)
        self.note_backup_volumes()
        self.wire_env_example()
        self.wire_gitignore()
        self.make_scripts_executable()
        shutil.rmtree(self.fragments)
        self.leave_alone()
        self.next_steps()
        return self.report


def apply(project: Path, answers: Mapping[str, Any], snapshot: dict | None) -> Report:
    """Wire the backups into ``project``; the report says what happened."""
    return Wiring(project, answers).run(snapshot)
