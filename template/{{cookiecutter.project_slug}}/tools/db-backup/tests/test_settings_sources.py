"""Where settings come from: process env, config file, BACKUP_ENV_FILES, .env, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from db_backup import defaults
from db_backup.config import Options, load_settings, read_password, read_sources
from db_backup.errors import ConfigError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty project root with a scripts/ folder."""
    (tmp_path / "scripts").mkdir()
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- precedence ------------------------------------------------------------------------


def test_each_source_wins_over_the_ones_below_it(root: Path) -> None:
    """process env > config file > BACKUP_ENV_FILES > .env, variable by variable."""
    write(root / ".env", "A=dotenv\nB=dotenv\nC=dotenv\nD=dotenv\n")
    write(root / "host.env", "A=listed\nB=listed\nC=listed\n")
    write(root / "scripts" / "backup-config.env", "A=config\nB=config\nBACKUP_ENV_FILES=host.env\n")
    sources = read_sources({"A": "process"}, root)
    assert [sources.values[k] for k in "ABCD"] == ["process", "config", "listed", "dotenv"]
    assert sources.env_files == (root / "host.env",)
    assert sources.dotenv == root / ".env"
    assert sources.config_file == root / "scripts" / "backup-config.env"


def test_dotenv_is_optional(root: Path) -> None:
    """A project without .env reads the other sources as before."""
    sources = read_sources({"A": "1"}, root)
    assert sources.values == {"A": "1"} and sources.dotenv is None and sources.env_files == ()


def test_later_listed_file_wins_over_an_earlier_one(root: Path) -> None:
    """BACKUP_ENV_FILES=a,b: b's value wins where both set a variable (as compose does)."""
    write(root / "a.env", "X=a\nY=a\n")
    write(root / "b.env", "X=b\n")
    values = read_sources({"BACKUP_ENV_FILES": " a.env , b.env ,"}, root).values
    assert (values["X"], values["Y"]) == ("b", "a")


def test_listed_files_may_be_absolute_or_relative_to_the_project_root(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Relative names are taken from the project root, whatever the working directory."""
    elsewhere = write(tmp_path_factory.mktemp("secrets") / "pg.env", "POSTGRES_DB=abs\n")
    write(root / ".envs" / ".production" / ".postgres", "POSTGRES_USER=rel\n")
    values = read_sources(
        {"BACKUP_ENV_FILES": f".envs/.production/.postgres,{elsewhere}"}, root
    ).values
    assert (values["POSTGRES_USER"], values["POSTGRES_DB"]) == ("rel", "abs")


@pytest.mark.parametrize("where", ["process", "config", "dotenv"])
def test_backup_env_files_may_be_set_in_any_source(root: Path, where: str) -> None:
    """BACKUP_ENV_FILES is itself a setting: from the process env, the config file or .env."""
    write(root / "host.env", "FROM_HOST=yes\n")
    environ = {}
    if where == "process":
        environ["BACKUP_ENV_FILES"] = "host.env"
    elif where == "config":
        write(root / "scripts" / "backup-config.env", "BACKUP_ENV_FILES=host.env\n")
    else:
        write(root / ".env", "BACKUP_ENV_FILES=host.env\n")
    assert read_sources(environ, root).values["FROM_HOST"] == "yes"


def test_generated_default_lists_env_files(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without BACKUP_ENV_FILES anywhere, defaults.ENV_FILES (set at generation) is read."""
    write(root / "host.env", "FROM_HOST=yes\n")
    monkeypatch.setattr(defaults, "ENV_FILES", ("host.env",))
    assert read_sources({}, root).values["FROM_HOST"] == "yes"
    write(root / "other.env", "FROM_HOST=other\n")
    assert read_sources({"BACKUP_ENV_FILES": "other.env"}, root).values["FROM_HOST"] == "other"
    # Set but empty: no env files, not the generated ones (a compose service whose
    # database reads none must be able to say so).
    assert "FROM_HOST" not in read_sources({"BACKUP_ENV_FILES": ""}, root).values


def test_generated_default_is_empty() -> None:
    """A project generated on its own reads no extra env file."""
    assert defaults.ENV_FILES == ()


@pytest.mark.parametrize("listed", ["missing.env", "host.env,missing.env"])
def test_a_listed_file_that_is_missing_is_a_config_error(root: Path, listed: str) -> None:
    """Exit 2 with one line naming BACKUP_ENV_FILES and the missing file."""
    write(root / "host.env", "A=1\n")
    with pytest.raises(ConfigError) as caught:
        read_sources({"BACKUP_ENV_FILES": listed}, root)
    assert caught.value.exit_code == 2
    assert caught.value.msg == f"BACKUP_ENV_FILES names {root / 'missing.env'}, which is not a file"


def test_a_malformed_dotenv_is_a_config_error_naming_the_line(root: Path) -> None:
    """.env is read with the same rules as the config file: a bad line is exit 2."""
    write(root / ".env", "GOOD=1\nthis is not an assignment\n")
    with pytest.raises(ConfigError, match=r"\.env:2"):
        read_sources({}, root)


def test_dotenv_settings_reach_the_connection(root: Path) -> None:
    """Connection settings in a host project's .env are used when nothing else sets them."""
    write(root / ".env", "POSTGRES_DB=hostdb\nPOSTGRES_PASSWORD=from-dotenv\n")
    settings = load_settings(Options(), {"DB_BACKUP_PROJECT_ROOT": str(root), "HOME": str(root)})
    assert settings.connection.dbname == "hostdb"
    assert settings.connection.password == "from-dotenv"
    assert settings.password_source == "POSTGRES_PASSWORD"
    assert settings.env_files == (root / ".env",)


# --- passwords -------------------------------------------------------------------------


def test_postgres_password_is_accepted(root: Path) -> None:
    """POSTGRES_PASSWORD (compose projects, the postgres image) is a password source."""
    assert read_password({"POSTGRES_PASSWORD": "pg-pw"}, root, home=root) == (
        "pg-pw",
        None,
        "POSTGRES_PASSWORD",
    )


def test_pgpassword_wins_over_postgres_password(root: Path) -> None:
    """Both set: PGPASSWORD is the one used."""
    env = {"PGPASSWORD": "libpq-pw", "POSTGRES_PASSWORD": "pg-pw"}
    assert read_password(env, root, home=root)[0] == "libpq-pw"


def test_password_file_wins_over_postgres_password(root: Path) -> None:
    """A secret file named for the backup wins over the application's POSTGRES_PASSWORD."""
    write(root / "secret", "file-pw\n")
    env = {"PGPASSWORD_FILE": "secret", "POSTGRES_PASSWORD": "pg-pw"}
    assert read_password(env, root, home=root)[::2] == ("file-pw", "PGPASSWORD_FILE")


@pytest.mark.parametrize("method", ["trust", "TRUST", " trust "])
def test_trust_auth_needs_no_password(root: Path, method: str) -> None:
    """POSTGRES_HOST_AUTH_METHOD=trust: libpq connects without one; no error."""
    password, passfile, source = read_password(
        {"POSTGRES_HOST_AUTH_METHOD": method}, root, home=root
    )
    assert (password, passfile) == (None, None)
    assert "POSTGRES_HOST_AUTH_METHOD=trust" in source


@pytest.mark.parametrize("method", ["", "md5", "scram-sha-256", "trusted"])
def test_other_auth_methods_still_need_a_password(root: Path, method: str) -> None:
    """Anything but trust keeps the rule: no password source is exit 2."""
    with pytest.raises(ConfigError, match="no database password") as caught:
        read_password({"POSTGRES_HOST_AUTH_METHOD": method}, root, home=root)
    assert caught.value.exit_code == 2


def test_trust_does_not_hide_a_password_that_is_set(root: Path) -> None:
    """With trust and a password, the password is still passed on (the server may ask)."""
    env = {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_PASSWORD": "pg-pw"}
    assert read_password(env, root, home=root)[0] == "pg-pw"
