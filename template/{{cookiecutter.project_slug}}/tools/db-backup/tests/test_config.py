"""Settings from the environment and the env file: precedence, password sources, validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from db_backup import defaults
from db_backup.config import (
    ConnectionInfo,
    Options,
    load_settings,
    merged_environment,
    read_compression,
    read_password,
)
from db_backup.errors import ConfigError

PASSWORD = "pw-Zq9!"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty project root with a scripts/ folder."""
    (tmp_path / "scripts").mkdir()
    return tmp_path


def env_for(root: Path, **values: str) -> dict[str, str]:
    """A process environment pointing at ``root`` with a password, plus ``values``."""
    env = {"DB_BACKUP_PROJECT_ROOT": str(root), "PGPASSWORD": PASSWORD, "HOME": str(root)}
    env.update(values)
    return env


# --- env file precedence -------------------------------------------------------------


def test_default_env_file_is_optional(root: Path) -> None:
    """Without scripts/backup-config.env the process environment is used as is."""
    merged, source = merged_environment({"A": "1"}, root)
    assert merged == {"A": "1"} and source is None


def test_process_environment_wins_over_the_env_file(root: Path) -> None:
    """A variable set in both places takes the process environment's value."""
    (root / "scripts" / "backup-config.env").write_text("POSTGRES_DB=from_file\nBACKUP_DIR=/f\n")
    merged, source = merged_environment({"POSTGRES_DB": "from_env"}, root)
    assert merged["POSTGRES_DB"] == "from_env"
    assert merged["BACKUP_DIR"] == "/f"
    assert source == root / "scripts" / "backup-config.env"


def test_backup_config_file_names_another_file(root: Path) -> None:
    """BACKUP_CONFIG_FILE (relative to the project root) replaces the default file."""
    (root / "scripts" / "backup-config.env").write_text("POSTGRES_DB=default_file\n")
    (root / "other.env").write_text("export POSTGRES_DB='other'\n")
    merged, source = merged_environment({"BACKUP_CONFIG_FILE": "other.env"}, root)
    assert merged["POSTGRES_DB"] == "other" and source == root / "other.env"


def test_a_named_env_file_must_exist(root: Path) -> None:
    """A BACKUP_CONFIG_FILE that is not there is a configuration error naming it."""
    with pytest.raises(ConfigError, match="BACKUP_CONFIG_FILE"):
        merged_environment({"BACKUP_CONFIG_FILE": str(root / "missing.env")}, root)


# --- password sources ----------------------------------------------------------------


def test_pgpassword_comes_first(root: Path) -> None:
    """PGPASSWORD wins over every file."""
    (root / "secret").write_text("file-pw\n")
    env = {"PGPASSWORD": "env-pw", "PGPASSWORD_FILE": str(root / "secret")}
    assert read_password(env, root, home=root) == ("env-pw", None, "PGPASSWORD")


def test_password_file_is_read_without_its_trailing_newline(root: Path) -> None:
    """PGPASSWORD_FILE (a Docker/Kubernetes secret) gives the password, newline stripped."""
    (root / "secret").write_text("file-pw\n")
    password, passfile, source = read_password({"PGPASSWORD_FILE": "secret"}, root, home=root)
    assert (password, passfile, source) == ("file-pw", None, "PGPASSWORD_FILE")


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_missing_or_empty_password_file_is_a_config_error(root: Path, content: str | None) -> None:
    """A PGPASSWORD_FILE that is missing or empty is exit 2, naming the variable."""
    if content is not None:
        (root / "secret").write_text(content)
    with pytest.raises(ConfigError, match="PGPASSWORD_FILE"):
        read_password({"PGPASSWORD_FILE": str(root / "secret")}, root, home=root)


def test_pgpassfile_is_passed_on_not_read(root: Path) -> None:
    """PGPASSFILE is handed to libpq as a file; the tool never reads the password itself."""
    (root / "pgpass").write_text("*:*:*:*:pw\n")
    assert read_password({"PGPASSFILE": "pgpass"}, root, home=root) == (
        None,
        root / "pgpass",
        "PGPASSFILE",
    )


def test_missing_pgpassfile_is_a_config_error(root: Path) -> None:
    """A PGPASSFILE that does not exist is exit 2."""
    with pytest.raises(ConfigError, match="PGPASSFILE"):
        read_password({"PGPASSFILE": "nope"}, root, home=root)


def test_home_pgpass_is_used_when_it_exists(root: Path) -> None:
    """libpq's own default, ~/.pgpass, counts as a password source."""
    (root / ".pgpass").write_text("*:*:*:*:pw\n")
    assert read_password({}, root, home=root)[1:] == (root / ".pgpass", "~/.pgpass")


def test_no_password_source_is_a_config_error(root: Path) -> None:
    """No PGPASSWORD, PGPASSWORD_FILE, PGPASSFILE or ~/.pgpass: exit 2 naming them."""
    with pytest.raises(ConfigError, match="PGPASSWORD") as caught:
        read_password({"PGPASSWORD": ""}, root, home=root)
    assert caught.value.exit_code == 2


# --- connection ----------------------------------------------------------------------


def test_password_goes_only_into_the_child_environment() -> None:
    """child_env carries the password and the connection; repr never shows the password."""
    info = ConnectionInfo("db.example", 5433, "shop", "app", PASSWORD, None, 7)
    env = info.child_env({"PATH": "/bin", "PGHOST": "elsewhere", "PGPASSFILE": "/x"})
    assert env["PGPASSWORD"] == PASSWORD and "PGPASSFILE" not in env
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "db.example",
        "5433",
        "app",
        "shop",
    )
    assert env["PGCONNECT_TIMEOUT"] == "7" and env["PATH"] == "/bin"
    assert PASSWORD not in repr(info)


def test_passfile_connection_drops_an_inherited_password() -> None:
    """With a password file, a stray inherited PGPASSWORD does not reach the child."""
    info = ConnectionInfo("h", 5432, "d", "u", None, Path("/run/pgpass"))
    env = info.child_env({"PGPASSWORD": "stale"})
    assert "PGPASSWORD" not in env and env["PGPASSFILE"] == "/run/pgpass"


def test_libpq_settings_of_the_env_file_reach_every_child(root: Path) -> None:
    """PGSSLMODE and friends from the env file apply to children started from any base env
    (the verification's psql starts from the process environment, not the merged one)."""
    (root / "scripts" / "backup-config.env").write_text(
        "PGSSLMODE=verify-full\nPGSSLROOTCERT=/etc/ca.pem\nPGHOST=ignored\n"
    )
    settings = load_settings(Options(), env_for(root, POSTGRES_HOST="db.example"))
    env = settings.connection.child_env({"PATH": "/bin"})
    assert (env["PGSSLMODE"], env["PGSSLROOTCERT"]) == ("verify-full", "/etc/ca.pem")
    assert env["PGHOST"] == "db.example"
    assert settings.connection.with_dbname("scratch").child_env({})["PGSSLMODE"] == "verify-full"


def test_with_dbname_changes_only_the_database() -> None:
    """A scratch-database copy keeps the server and credentials."""
    info = ConnectionInfo("h", 5432, "d", "u", PASSWORD)
    other = info.with_dbname("scratch")
    assert (other.dbname, other.host, other.password) == ("scratch", "h", PASSWORD)


# --- compression -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BACKUP_COMPRESSION": "gzip", "BACKUP_COMPRESSION_LEVEL": "9"}, ("gzip", 9)),
        ({"BACKUP_COMPRESSION": "zstd", "BACKUP_COMPRESSION_LEVEL": "19"}, ("zstd", 19)),
        ({"BACKUP_COMPRESSION": "ZSTD", "BACKUP_COMPRESSION_LEVEL": "3"}, ("zstd", 3)),
    ],
)
def test_compression_settings(env: dict[str, str], expected: tuple[str, int]) -> None:
    """Compression name and level are read and normalised."""
    compression = read_compression(env)
    assert (compression.name, compression.level) == expected


@pytest.mark.parametrize(
    "env",
    [
        {"BACKUP_COMPRESSION": "bzip2"},
        {"BACKUP_COMPRESSION": "gzip", "BACKUP_COMPRESSION_LEVEL": "10"},
        {"BACKUP_COMPRESSION": "zstd", "BACKUP_COMPRESSION_LEVEL": "0"},
        {"BACKUP_COMPRESSION_LEVEL": "fast"},
        {"BACKUP_COMPRESSION_THREADS": "-1"},
    ],
)
def test_bad_compression_settings_are_config_errors(env: dict[str, str]) -> None:
    """Unknown compressors and out-of-range levels are exit 2 naming the variable."""
    with pytest.raises(ConfigError, match="BACKUP_COMPRESSION"):
        read_compression(env)


# --- whole settings ------------------------------------------------------------------------


def test_defaults_come_from_generation_time(root: Path) -> None:
    """Unset variables take the generated defaults; BACKUP_DIR defaults to <root>/backups."""
    settings = load_settings(Options(), env_for(root))
    assert settings.connection.dbname == defaults.POSTGRES_DB
    assert settings.connection.user == defaults.POSTGRES_USER
    assert settings.connection.port == defaults.POSTGRES_PORT
    assert settings.connection.host == "localhost"
    assert settings.backup_dir == root / "backups"
    assert settings.backup_type == "daily"
    assert settings.log_format == "text"
    assert settings.metrics_file is None


def test_relative_paths_are_relative_to_the_project_root(root: Path) -> None:
    """BACKUP_DIR=./backups means <project root>/backups, wherever the tool is run from."""
    settings = load_settings(
        Options(), env_for(root, BACKUP_DIR="./elsewhere", BACKUP_METRICS_FILE="m/backup.prom")
    )
    assert settings.backup_dir == root / "elsewhere"
    assert settings.metrics_file == root / "m" / "backup.prom"


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"POSTGRES_PORT": "abc"}, "POSTGRES_PORT"),
        ({"POSTGRES_PORT": "70000"}, "POSTGRES_PORT"),
        ({"PGCONNECT_TIMEOUT": "0"}, "PGCONNECT_TIMEOUT"),
        ({"BACKUP_RETENTION_DAILY": "abc"}, "BACKUP_RETENTION_DAILY"),
        ({"BACKUP_RETENTION_WEEKLY": "-1"}, "BACKUP_RETENTION_WEEKLY"),
        ({"BACKUP_LOG_FORMAT": "xml"}, "BACKUP_LOG_FORMAT"),
        ({"BACKUP_WEEKLY_DAY": "someday"}, "BACKUP_WEEKLY_DAY"),
        ({"BACKUP_TYPE": "hourly"}, "BACKUP_TYPE"),
        ({"POSTGRES_DB": "a/b"}, "POSTGRES_DB"),
    ],
)
def test_every_bad_value_is_a_config_error_naming_the_variable(
    root: Path, values: dict[str, str], variable: str
) -> None:
    """Each bad value fails before any work, with exit 2 and the variable's name."""
    with pytest.raises(ConfigError, match=variable) as caught:
        load_settings(Options(), env_for(root, **values))
    assert caught.value.exit_code == 2


def test_env_file_values_are_validated_too(root: Path) -> None:
    """A bad value in the env file is as much an error as one in the environment."""
    (root / "scripts" / "backup-config.env").write_text("BACKUP_RETENTION_MONTHLY=twelve\n")
    with pytest.raises(ConfigError, match="BACKUP_RETENTION_MONTHLY"):
        load_settings(Options(), env_for(root))


@pytest.mark.parametrize(
    ("today", "weekly_day", "expected"),
    [
        (dt.date(2024, 3, 1), "sunday", "monthly"),  # the 1st, a Friday
        (dt.date(2024, 3, 3), "sunday", "weekly"),
        (dt.date(2024, 3, 4), "sunday", "daily"),
        (dt.date(2024, 3, 4), "monday", "weekly"),
        (dt.date(2024, 9, 1), "sunday", "monthly"),  # the 1st and a Sunday: monthly wins
    ],
)
def test_auto_type_follows_the_calendar(
    root: Path, today: dt.date, weekly_day: str, expected: str
) -> None:
    """--type=auto: monthly on the 1st, weekly on BACKUP_WEEKLY_DAY, else daily."""
    settings = load_settings(
        Options(backup_type="auto"), env_for(root, BACKUP_WEEKLY_DAY=weekly_day), today=today
    )
    assert (settings.backup_type, settings.requested_type) == (expected, "auto")


def test_backup_type_variable_is_the_default_type(root: Path) -> None:
    """BACKUP_TYPE sets the type when no --type is given; the flag wins over it."""
    assert load_settings(Options(), env_for(root, BACKUP_TYPE="weekly")).backup_type == "weekly"
    flagged = load_settings(Options(backup_type="monthly"), env_for(root, BACKUP_TYPE="weekly"))
    assert flagged.backup_type == "monthly"


def test_listing_needs_no_password(root: Path) -> None:
    """--list and --dry-run read no database, so no password is required for them."""
    env = env_for(root)
    del env["PGPASSWORD"]
    assert load_settings(Options(mode="list"), env).connection.password is None
    with pytest.raises(ConfigError):
        load_settings(Options(mode="backup"), env)
