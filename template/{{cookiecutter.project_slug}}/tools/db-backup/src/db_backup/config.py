"""Settings: the command-line options plus the environment, read once, validated up front.

The environment is the process environment laid over an optional env file
(``scripts/backup-config.env`` under the project root, or the file named by
``BACKUP_CONFIG_FILE``). Every value is checked here, so a bad one is a
``ConfigError`` (exit 2) before anything is dumped. Nothing is read at import time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import defaults
from .envfile import read_env_file
from .errors import ConfigError
from .log import LOG_FORMATS
from .naming import BACKUP_TYPES, TYPE_CHOICES, WEEKDAYS, resolve_auto_type
from .tools import COMPRESSIONS, LEVEL_RANGES, Compression
from .values import get_choice, get_int, get_str

if TYPE_CHECKING:
    from .retention import RetentionPolicy
    from .storage.s3 import S3Settings
    from .verify import VerifySettings

PROJECT_ROOT_VARIABLE = "DB_BACKUP_PROJECT_ROOT"
CONFIG_FILE_VARIABLE = "BACKUP_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("scripts") / "backup-config.env"
ENV_FILES_VARIABLE = "BACKUP_ENV_FILES"
DOTENV_FILE = Path(".env")
TRUST_VARIABLE = "POSTGRES_HOST_AUTH_METHOD"
DEFAULT_CONNECT_TIMEOUT = 10
APPLICATION_NAME = "db-backup"

# Variables a child process must not inherit: the connection is described by ours alone.
_CONNECTION_VARIABLES = (
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGCONNECT_TIMEOUT",
    "PGAPPNAME",
    "PGPASSWORD_FILE",
)


@dataclass(frozen=True)
class Options:
    """What the command line asked for (``cli`` builds it)."""

    mode: str = "backup"
    backup_type: str | None = None  # daily|weekly|monthly|auto; None: BACKUP_TYPE or daily
    schema_only: bool = False
    verify: bool = False
    verbose: bool = False
    verify_file: Path | None = None


@dataclass(frozen=True)
class ConnectionInfo:
    """Where the database is and how to log in; the password only ever goes into a child's env."""

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = field(default=None, repr=False)
    passfile: Path | None = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    # Other libpq variables of the settings (PGSSLMODE, PGOPTIONS...), env file included,
    # so every child connects the same way whatever environment it starts from.
    libpq_env: tuple[tuple[str, str], ...] = ()

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """The environment for psql/pg_dump: ``base`` with this connection's PG* variables."""
        env = {k: v for k, v in base.items() if k not in _CONNECTION_VARIABLES}
        env.update(self.libpq_env)
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGDATABASE=self.dbname,
            PGCONNECT_TIMEOUT=str(self.connect_timeout),
            PGAPPNAME=APPLICATION_NAME,
        )
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        elif self.passfile is not None:
            env["PGPASSFILE"] = str(self.passfile)
        return env

    def with_dbname(self, name: str) -> ConnectionInfo:
        """The same server and credentials, another database (for scratch restores)."""
        return dataclasses.replace(self, dbname=name)

    def describe(self) -> str:
        """``user@host:port/dbname``, for logs (no password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname}"


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
    env: Mapping[str, str] = field(repr=False)
    verify_settings: VerifySettings = field(repr=False)
    retention: RetentionPolicy = field(repr=False)
    s3: S3Settings | None = field(repr=False)


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
            if layer.get(ENV_FILES_VARIABLE, "").strip()
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
    dbname = get_str(env, "POSTGRES_DB", defaults.POSTGRES_DB)
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
    connection = ConnectionInfo(
        host=get_str(env, "POSTGRES_HOST", "localhost"),
        port=get_int(env, "POSTGRES_PORT", defaults.POSTGRES_PORT, minimum=1, maximum=65535),
        dbname=dbname,
        user=get_str(env, "POSTGRES_USER", defaults.POSTGRES_USER),
        password=password,
        passfile=passfile,
        connect_timeout=get_int(
            env, "PGCONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT, minimum=1, maximum=3600
        ),
        libpq_env=tuple(
            sorted(
                (k, v)
                for k, v in env.items()
                if k.startswith("PG") and k not in _CONNECTION_VARIABLES
            )
        ),
    )
    return connection, source


def read_compression(env: Mapping[str, str]) -> Compression:
    """``BACKUP_COMPRESSION`` (gzip|zstd), ``BACKUP_COMPRESSION_LEVEL``, ``..._THREADS``."""
    name = get_choice(env, "BACKUP_COMPRESSION", COMPRESSIONS, defaults.BACKUP_COMPRESSION)
    low, high = LEVEL_RANGES[name]
    default_level = min(max(defaults.BACKUP_COMPRESSION_LEVEL, low), high)
    level = get_int(env, "BACKUP_COMPRESSION_LEVEL", default_level, minimum=low, maximum=high)
    threads = get_int(env, "BACKUP_COMPRESSION_THREADS", 0, minimum=0, maximum=1024)
    return Compression(name, level, threads)


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
        env, project_root, require_password=options.mode in ("backup", "verify-file")
    )

    requested = options.backup_type or get_choice(env, "BACKUP_TYPE", TYPE_CHOICES, "daily")
    if requested not in TYPE_CHOICES:
        raise ConfigError(f"--type must be one of {', '.join(TYPE_CHOICES)}, got {requested!r}")
    weekly_day = get_choice(env, "BACKUP_WEEKLY_DAY", WEEKDAYS, defaults.BACKUP_WEEKLY_DAY)
    backup_type = resolve_type(requested, today or dt.date.today(), weekly_day)
    assert backup_type in BACKUP_TYPES

    backup_dir = _resolve(
        Path(get_str(env, "BACKUP_DIR", str(project_root / "backups"))).expanduser(), project_root
    )
    metrics = get_str(env, "BACKUP_METRICS_FILE")
    metrics_file = _resolve(Path(metrics).expanduser(), project_root) if metrics else None

    from . import retention, verify

    return Settings(
        options=options,
        connection=connection,
        project_root=project_root,
        backup_dir=backup_dir,
        backup_type=backup_type,
        requested_type=requested,
        schema_only=options.schema_only,
        verify=options.verify,
        verbose=options.verbose,
        compression=read_compression(env),
        log_format=get_choice(env, "BACKUP_LOG_FORMAT", LOG_FORMATS, "text"),
        metrics_file=metrics_file,
        weekly_day=weekly_day,
        env_file=sources.config_file,
        env_files=tuple(p for p in (*sources.env_files, sources.dotenv) if p is not None),
        password_source=password_source,
        env=env,
        verify_settings=verify.VerifySettings.from_env(env),
        retention=retention.RetentionPolicy.from_env(env),
        s3=_read_s3(env),
    )


def _read_s3(env: Mapping[str, str]) -> S3Settings | None:
    """S3 settings when ``BACKUP_S3_BUCKET`` is set; the S3 module is imported only then."""
    if not get_str(env, "BACKUP_S3_BUCKET"):
        return None
    from .storage import s3

    return s3.S3Settings.from_env(env)
