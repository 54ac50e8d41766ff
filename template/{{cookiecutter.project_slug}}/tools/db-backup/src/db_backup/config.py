"""Settings: the command-line options plus every settings source, read once, validated up front.

The sources (process environment, config file, ``BACKUP_ENV_FILES``, the
project's ``.env``) are merged here; every variable is then read through the
table in ``variables`` into typed objects (``ConnectionInfo``, ``Compression``,
``RetentionPolicy``, ``VerifySettings``, ``S3Settings``), so a bad value is a
``ConfigError`` (exit 2) before anything is dumped. Nothing is read at import time.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import defaults
from .compression import LEVEL_RANGES, Compression
from .connection import ConnectionInfo, libpq_variables
from .encryption import (
    IDENTITY_VARIABLE,
    RECIPIENTS_FILE_VARIABLE,
    Encryption,
    split_recipients,
)
from .envfile import read_env_file
from .errors import ConfigError
from .identifiers import check_identifier
from .naming import resolve_auto_type
from .pushgateway import check_url
from .retention import RetentionPolicy
from .variables import SECRETS, read_int, read_text

if TYPE_CHECKING:
    from .storage.s3_settings import S3Settings

PROJECT_ROOT_VARIABLE = "DB_BACKUP_PROJECT_ROOT"
CONFIG_FILE_VARIABLE = "BACKUP_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("scripts") / "backup-config.env"
ENV_FILES_VARIABLE = "BACKUP_ENV_FILES"
DOTENV_FILE = Path(".env")
TRUST_VARIABLE = "POSTGRES_HOST_AUTH_METHOD"

__all__ = ["ConnectionInfo", "Options", "Settings", "VerifySettings", "load_settings"]


@dataclass(frozen=True)
class Options:
    """What the command line asked for (``cli`` builds it)."""

    mode: str = "backup"
    backup_type: str | None = None  # daily|weekly|monthly|auto; None: BACKUP_TYPE or daily
    schema_only: bool = False
    verify: bool = False
    verbose: bool = False
    verify_file: Path | None = None
    verify_remote: str | None = None  # latest or s3://bucket/key


@dataclass(frozen=True)
class VerifySettings:
    """How far verification goes."""

    restore_mode: str = "auto"  # auto: test-restore when the role may create databases
    keep_ownership: bool = True  # dumps hold owners: only their owner or a superuser restores
    identity_file: Path | None = None  # BACKUP_AGE_IDENTITY_FILE: decrypts sealed backups


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated."""

    options: Options
    connection: ConnectionInfo
    project_root: Path
    backup_dir: Path
    backup_type: str  # resolved: daily, weekly or monthly
    requested_type: str  # as asked: daily, weekly, monthly or auto
    schema_only: bool
    verify: bool
    verbose: bool
    compression: Compression
    log_format: str
    metrics_file: Path | None
    weekly_day: str
    env_file: Path | None
    password_source: str
    env_files: tuple[Path, ...]  # BACKUP_ENV_FILES, then .env: lower-priority sources read
    lock_wait_seconds: int  # pg_dump --lock-wait-timeout; 0: no limit
    keep_ownership: bool  # BACKUP_OWNERSHIP=keep: owners, grants and a roles file
    run_timeout_seconds: int  # BACKUP_TIMEOUT for a whole backup run; 0: no limit
    verify_settings: VerifySettings = field(repr=False)
    retention: RetentionPolicy = field(repr=False)
    s3: S3Settings | None = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values never to log
    pushgateway_url: str | None = field(default=None, repr=False)  # BACKUP_PUSHGATEWAY_URL
    encryption: Encryption | None = field(default=None, repr=False)  # None: plain backups


def project_root_from(environ: Mapping[str, str]) -> Path:
    """The generated project's root: ``DB_BACKUP_PROJECT_ROOT`` (set by the shim) or cwd."""
    root = environ.get(PROJECT_ROOT_VARIABLE, "").strip()
    return Path(root).expanduser().resolve() if root else Path.cwd().resolve()


@dataclass(frozen=True)
class SettingsSources:
    """The merged settings and the files they came from (lowest priority last)."""

    values: dict[str, str]
    config_file: Path | None  # scripts/backup-config.env or BACKUP_CONFIG_FILE
    env_files: tuple[Path, ...] = ()  # BACKUP_ENV_FILES, in the order listed
    dotenv: Path | None = None  # the project root's .env


def read_sources(environ: Mapping[str, str], project_root: Path) -> SettingsSources:
    """Every settings source merged; the first source that sets a variable wins.

    Priority: the process environment, the config file (``scripts/backup-config.env``
    or ``BACKUP_CONFIG_FILE``), the files named by ``BACKUP_ENV_FILES`` (a later
    file over an earlier one), the project root's ``.env``; generated defaults
    apply to whatever none of them sets. A named file that is missing is a
    ``ConfigError``; the default config file and ``.env`` are optional.
    """
    named = environ.get(CONFIG_FILE_VARIABLE, "").strip()
    if named:
        config_file: Path | None = _resolve(Path(named).expanduser(), project_root)
        assert config_file is not None
        if not config_file.is_file():
            raise ConfigError(f"{CONFIG_FILE_VARIABLE} names {config_file}, which is not a file")
    else:
        config_file = project_root / DEFAULT_CONFIG_FILE
        if not config_file.is_file():
            config_file = None
    dotenv: Path | None = project_root / DOTENV_FILE
    assert dotenv is not None
    if not dotenv.is_file():
        dotenv = None
    config_values = read_env_file(config_file) if config_file else {}
    dotenv_values = read_env_file(dotenv) if dotenv else {}

    listed = next(
        (
            layer[ENV_FILES_VARIABLE]
            for layer in (environ, config_values, dotenv_values)
            if ENV_FILES_VARIABLE in layer  # set but empty: no env files at all
        ),
        None,
    )
    env_files = tuple(
        _listed_env_file(name, project_root)
        for name in (split_list(listed) if listed is not None else defaults.ENV_FILES)
    )
    merged = dict(dotenv_values)
    for path in env_files:
        merged.update(read_env_file(path))
    merged.update(config_values)
    merged.update(environ)
    return SettingsSources(merged, config_file, env_files, dotenv)


def merged_environment(
    environ: Mapping[str, str], project_root: Path
) -> tuple[dict[str, str], Path | None]:
    """Every source merged (see ``read_sources``), and the config file read (or None)."""
    sources = read_sources(environ, project_root)
    return sources.values, sources.config_file


def split_list(raw: str) -> list[str]:
    """``a.env, b.env`` -> ``["a.env", "b.env"]`` (blank items dropped)."""
    return [item.strip() for item in raw.split(",") if item.strip()]


def _listed_env_file(name: str, project_root: Path) -> Path:
    path = _resolve(Path(name).expanduser(), project_root)
    if not path.is_file():
        raise ConfigError(f"{ENV_FILES_VARIABLE} names {path}, which is not a file")
    return path


def _resolve(path: Path, project_root: Path) -> Path:
    """Relative paths in settings are relative to the project root (as in the env examples)."""
    return path if path.is_absolute() else project_root / path


def read_password(
    env: Mapping[str, str], project_root: Path, home: Path | None = None
) -> tuple[str | None, Path | None, str]:
    """The password or password file, and where it came from.

    Order: ``PGPASSWORD``, ``PGPASSWORD_FILE`` (a Docker/Kubernetes secret file),
    ``PGPASSFILE``, ``POSTGRES_PASSWORD`` (the name compose projects and the
    postgres image use), then libpq's default ``~/.pgpass`` when it exists.
    With ``POSTGRES_HOST_AUTH_METHOD=trust`` none is needed; otherwise having
    none is a ``ConfigError``: a backup must never stop at a password prompt.
    """
    password = env.get("PGPASSWORD", "")
    if password:
        return password, None, "PGPASSWORD"
    secret_file = env.get("PGPASSWORD_FILE", "").strip()
    if secret_file:
        path = _resolve(Path(secret_file).expanduser(), project_root)
        try:
            secret = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ConfigError(
                f"PGPASSWORD_FILE names {path}, which cannot be read: {reason}"
            ) from None
        if not secret:
            raise ConfigError(f"PGPASSWORD_FILE names {path}, which is empty")
        return secret, None, "PGPASSWORD_FILE"
    passfile = env.get("PGPASSFILE", "").strip()
    if passfile:
        path = _resolve(Path(passfile).expanduser(), project_root)
        if not os.access(path, os.R_OK) or not path.is_file():
            raise ConfigError(f"PGPASSFILE names {path}, which is not a readable file")
        return None, path, "PGPASSFILE"
    password = env.get("POSTGRES_PASSWORD", "")
    if password:
        return password, None, "POSTGRES_PASSWORD"
    home = home if home is not None else Path(env.get("HOME") or Path.home())
    default_passfile = home / ".pgpass"
    if default_passfile.is_file() and os.access(default_passfile, os.R_OK):
        return None, default_passfile, "~/.pgpass"
    if env.get(TRUST_VARIABLE, "").strip().lower() == "trust":
        return None, None, f"nowhere ({TRUST_VARIABLE}=trust)"
    raise ConfigError(
        "no database password: set PGPASSWORD, PGPASSWORD_FILE or PGPASSFILE",
        hint="PGPASSWORD_FILE names a file holding only the password (a Docker or "
        "Kubernetes secret); PGPASSFILE names a libpq password file; POSTGRES_PASSWORD "
        "is read too",
    )


def read_connection(
    env: Mapping[str, str], project_root: Path, *, require_password: bool = True
) -> tuple[ConnectionInfo, str]:
    """The connection settings (``POSTGRES_*``, ``PGCONNECT_TIMEOUT``) and the password's source."""
    dbname = read_text(env, "POSTGRES_DB")
    check_identifier("POSTGRES_DB", dbname)
    if "/" in dbname or "\0" in dbname or dbname.startswith("."):
        raise ConfigError(
            f"POSTGRES_DB {dbname!r} cannot be part of a backup file name (no '/', no leading '.')"
        )
    try:
        password, passfile, source = read_password(env, project_root)
    except ConfigError:
        if require_password:
            raise
        password, passfile, source = None, None, "nowhere"
    if password is not None and "\0" in password:
        # An environment cannot carry it, and no PostgreSQL password holds one.
        raise ConfigError(f"the password from {source} holds a NUL character")
    user = read_text(env, "POSTGRES_USER")
    check_identifier("POSTGRES_USER", user)
    connection = ConnectionInfo(
        host=read_text(env, "POSTGRES_HOST"),
        port=read_int(env, "POSTGRES_PORT"),
        dbname=dbname,
        user=user,
        password=password,
        passfile=passfile,
        connect_timeout=read_int(env, "PGCONNECT_TIMEOUT"),
        libpq_env=libpq_variables(env),
    )
    return connection, source


def read_compression(env: Mapping[str, str]) -> Compression:
    """``BACKUP_COMPRESSION`` (gzip|zstd), ``BACKUP_COMPRESSION_LEVEL``, ``..._THREADS``."""
    name = read_text(env, "BACKUP_COMPRESSION")
    low, high = LEVEL_RANGES[name]
    # The generated level suits the generated compression; clamp it for the other one.
    level = min(
        max(read_int(env, "BACKUP_COMPRESSION_LEVEL", minimum=low, maximum=high), low), high
    )
    return Compression(name, level, read_int(env, "BACKUP_COMPRESSION_THREADS"))


def read_retention(env: Mapping[str, str]) -> RetentionPolicy:
    """``BACKUP_RETENTION_DAILY|WEEKLY|MONTHLY`` and ``BACKUP_KEEP_MIN``."""
    return RetentionPolicy(
        daily_days=read_int(env, "BACKUP_RETENTION_DAILY"),
        weekly_weeks=read_int(env, "BACKUP_RETENTION_WEEKLY"),
        monthly_months=read_int(env, "BACKUP_RETENTION_MONTHLY"),
        keep_min=read_int(env, "BACKUP_KEEP_MIN"),
    )


def resolve_type(requested: str, today: dt.date, weekly_day: str) -> str:
    """The backup type for this run (``auto`` picks by date)."""
    if requested == "auto":
        return resolve_auto_type(today, weekly_day)
    return requested


def load_settings(
    options: Options,
    environ: Mapping[str, str],
    *,
    today: dt.date | None = None,
) -> Settings:
    """Read and validate every setting; the first bad value raises ``ConfigError``."""
    project_root = project_root_from(environ)
    sources = read_sources(environ, project_root)
    env = sources.values
    # Listing and the retention dry run need no login (S3 has its own credentials).
    connection, password_source = read_connection(
        env,
        project_root,
        require_password=options.mode in ("backup", "verify-file", "verify-remote", "restore"),
    )

    requested = options.backup_type or read_text(env, "BACKUP_TYPE")
    weekly_day = read_text(env, "BACKUP_WEEKLY_DAY")
    backup_type = resolve_type(requested, today or dt.date.today(), weekly_day)

    metrics = read_text(env, "BACKUP_METRICS_FILE")
    pushgateway = read_text(env, "BACKUP_PUSHGATEWAY_URL")
    return Settings(
        options=options,
        connection=connection,
        project_root=project_root,
        backup_dir=_resolve(Path(read_text(env, "BACKUP_DIR")).expanduser(), project_root),
        backup_type=backup_type,
        requested_type=requested,
        schema_only=options.schema_only,
        verify=options.verify,
        verbose=options.verbose,
        compression=read_compression(env),
        log_format=read_text(env, "BACKUP_LOG_FORMAT"),
        metrics_file=_resolve(Path(metrics).expanduser(), project_root) if metrics else None,
        weekly_day=weekly_day,
        env_file=sources.config_file,
        env_files=tuple(p for p in (*sources.env_files, sources.dotenv) if p is not None),
        password_source=password_source,
        lock_wait_seconds=read_int(env, "BACKUP_LOCK_WAIT_TIMEOUT"),
        keep_ownership=read_text(env, "BACKUP_OWNERSHIP") == "keep",
        run_timeout_seconds=read_int(env, "BACKUP_TIMEOUT"),
        verify_settings=VerifySettings(
            restore_mode=read_text(env, "BACKUP_VERIFY_RESTORE"),
            keep_ownership=read_text(env, "BACKUP_OWNERSHIP") == "keep",
            identity_file=_readable_file(env, IDENTITY_VARIABLE, project_root),
        ),
        retention=read_retention(env),
        s3=_read_s3(env),
        secrets=tuple(env[name] for name in SECRETS if env.get(name)),
        pushgateway_url=check_url(pushgateway) if pushgateway else None,
        encryption=read_encryption(env, project_root),
    )


def read_encryption(env: Mapping[str, str], project_root: Path) -> Encryption | None:
    """``BACKUP_AGE_RECIPIENTS`` and/or ``BACKUP_AGE_RECIPIENTS_FILE``; None when neither is set."""
    recipients = split_recipients(read_text(env, "BACKUP_AGE_RECIPIENTS"))
    recipients_file = _readable_file(env, RECIPIENTS_FILE_VARIABLE, project_root)
    if not recipients and recipients_file is None:
        return None
    return Encryption(recipients, recipients_file)


def _readable_file(env: Mapping[str, str], name: str, project_root: Path) -> Path | None:
    """The file a path setting names (relative to the project root); ConfigError if unreadable."""
    value = read_text(env, name)
    if not value:
        return None
    path = _resolve(Path(value).expanduser(), project_root)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(f"{name} names {path}, which is not a readable file")
    return path


def _read_s3(env: Mapping[str, str]) -> S3Settings | None:
    """S3 settings when ``BACKUP_S3_BUCKET`` is set; the S3 modules are imported only then."""
    if not read_text(env, "BACKUP_S3_BUCKET"):
        return None
    from .storage.s3_settings import S3Settings

    return S3Settings.from_env(env)
