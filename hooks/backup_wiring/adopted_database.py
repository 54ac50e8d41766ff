"""The database ``scripts/db-backup.sh`` backs up on the host, as the project defines it.

A compose project keeps its database's name, user and password in the database service's
``environment:`` and ``env_file:``s. The host-run tool gets the same: the name and user
become the generated defaults, the env files the default ``BACKUP_ENV_FILES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from . import baked_settings, env_text
from .compose_discovery import DatabaseService
from .report import Report
from .text_edit import CannotMerge, read_text

IMAGE_DEFAULTS = {"POSTGRES_USER": "postgres"}  # the official image's defaults


def usable_env_files(project: Path, database: DatabaseService) -> tuple[str, ...]:
    """The database's env files the tool should read: required ones, optional ones found."""
    return tuple(
        entry.relative
        for entry in database.env_files
        if entry.required or (project / entry.relative).is_file()
    )


def settings_of(project: Path, database: DatabaseService, dotenv: Mapping[str, str]) -> dict:
    """The database's POSTGRES_* as the server sees them: env files, then ``environment:``
    (compose's ``${VAR}`` filled in from .env), then the image's defaults."""
    values: dict[str, str] = dict(IMAGE_DEFAULTS)
    for entry in database.env_files:
        values.update(env_text.read_env(project / entry.relative))
    for name, value in database.environment:
        resolved = env_text.interpolate(value, dotenv) if value is not None else dotenv.get(name)
        if resolved is not None:
            values[name] = resolved
    values.setdefault("POSTGRES_DB", values["POSTGRES_USER"])
    return values


def stated_in_compose(project: Path, database: DatabaseService) -> dict[str, str]:
    """POSTGRES_DB and POSTGRES_USER as the compose file itself states them: literal
    ``environment:`` values (or the default of a ``${VAR:-default}``), or the image's
    defaults where nothing else sets them.

    Only these go into generated files, which are committed: values from env files or
    from ``.env`` stay where the project keeps them (often out of git).
    """
    from_files: dict[str, str] = {}
    for entry in database.env_files:
        from_files.update(env_text.read_env(project / entry.relative))
    stated: dict[str, str] = {}
    for name in ("POSTGRES_USER", "POSTGRES_DB"):
        written = database.setting(name)
        if written is not None:
            own_default = env_text.interpolate(written, {})  # ${VAR:-default}: the default
            if own_default:
                stated[name] = own_default
        elif name not in from_files:
            image_default = IMAGE_DEFAULTS.get(name) or stated.get("POSTGRES_USER")
            if image_default is not None:
                stated[name] = image_default
    return stated


def password_source(project: Path, database: DatabaseService, settings: Mapping[str, str]) -> str:
    """Where the server's password comes from, in words for the summary."""
    if settings.get("POSTGRES_HOST_AUTH_METHOD") == "trust":
        return "no password: the server trusts its clients (POSTGRES_HOST_AUTH_METHOD=trust)"
    for entry in database.env_files:
        if "POSTGRES_PASSWORD" in env_text.read_env(project / entry.relative):
            return f"password from {entry.relative}"
    written = database.setting("POSTGRES_PASSWORD")
    if written is not None and "$" in written:
        return f"password from .env or the shell (compose fills in {written})"
    if written is not None:
        return (
            "password written in the compose file: for scripts/db-backup.sh on the host, "
            "set POSTGRES_PASSWORD in .env or scripts/backup-config.env"
        )
    if database.setting("POSTGRES_PASSWORD_FILE") is not None:
        return "password from the secret file POSTGRES_PASSWORD_FILE names"
    return "no password found: set PGPASSWORD, PGPASSWORD_FILE or POSTGRES_PASSWORD"


def adopt(
    project: Path, database: DatabaseService, source: str, dotenv: Mapping[str, str], report: Report
) -> None:
    """Make ``database`` (defined in compose file ``source``) the host-run tool's default."""
    settings = settings_of(project, database, dotenv)
    env_files = usable_env_files(project, database)
    where = [f"service {database.name} of {source}"]
    if env_files:
        where.append("credentials from " + ", ".join(env_files))
    report.database.append(
        f"scripts/db-backup.sh backs up database {settings['POSTGRES_DB']} as user "
        f"{settings['POSTGRES_USER']} ({'; '.join(where)})"
    )
    report.database.append(password_source(project, database, settings))
    host = settings.get("POSTGRES_HOST", "localhost")
    if env_files and host not in ("localhost", "127.0.0.1"):
        report.database.append(
            f"{env_files[0]} names host {host} (reachable inside compose); on the host, "
            "set POSTGRES_HOST and POSTGRES_PORT to reach the server"
        )
    stated = stated_in_compose(project, database)
    kept = [name for name in ("POSTGRES_DB", "POSTGRES_USER") if name not in stated]
    if kept:
        report.database.append(
            f"{' and '.join(kept)} stay in the project's own settings (not copied into "
            f"committed files); the sample scripts/backup-config.env.example still shows "
            "the answers for them: leave those lines out of scripts/backup-config.env"
        )
    write_defaults(project, stated, env_files, report)


def write_defaults(
    project: Path, stated: Mapping[str, str], env_files: tuple[str, ...], report: Report
) -> None:
    """Set the generated defaults; have the tool rewrite the docs that show them."""
    path = project / baked_settings.DEFAULTS
    try:
        original = text = read_text(path)
        for name, value in stated.items():
            text = baked_settings.set_default(text, name, baked_settings.python_string(value))
        if env_files:
            text = baked_settings.set_default(
                text, "ENV_FILES", baked_settings.python_tuple(env_files)
            )
    except (OSError, CannotMerge, baked_settings.MissingSetting) as reason:
        wanted = [f"{name}={value}" for name, value in stated.items()]
        if env_files:
            wanted.append(f"BACKUP_ENV_FILES={','.join(env_files)}")
        report.warn(
            f"{baked_settings.DEFAULTS} was not adjusted ({reason}); set these in "
            f"scripts/backup-config.env: {' '.join(wanted)}"
        )
        return
    if text == original:
        return
    path.write_bytes(text.encode("utf-8"))
    failure = baked_settings.regenerate_docs(project)
    if failure is not None:
        report.warn(
            f"the tool's settings docs were not rewritten ({failure}); run: "
            "invoke -r tools/db-backup settings-docs"
        )
