"""Settings from a host project's files, against the real PostgreSQL of the session.

A project the template is applied onto keeps its credentials where it always did: a
``.env`` at the root, or compose env files such as ``.envs/.production/.postgres``
(named in ``BACKUP_ENV_FILES``), with ``POSTGRES_PASSWORD`` rather than ``PGPASSWORD``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.backup_support import backups_in, error_lines
from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration


def env_text(values: Mapping[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def host_credentials(postgres: PostgresServer, dbname: str) -> dict[str, str]:
    """The connection as a compose project writes it: POSTGRES_PASSWORD, no PGPASSWORD."""
    values = postgres.env(dbname)
    values["POSTGRES_PASSWORD"] = values.pop("PGPASSWORD")
    return values


def test_dotenv_at_the_project_root_is_enough_to_back_up(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """With only a .env holding POSTGRES_* (password included), a backup runs and succeeds."""
    dbname = database("small")
    (baked_project / ".env").write_text(env_text(host_credentials(postgres, dbname)))
    result = run_tool(baked_project, ["--verify"])
    assert result.returncode == 0, describe(result)
    assert [name.split("_daily_")[0] for name in backups_in(baked_project / "backups")] == [dbname]


def test_backup_env_files_reads_a_host_credential_file(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """BACKUP_ENV_FILES names the host's compose env file; its credentials are used."""
    dbname = database("small")
    credentials = baked_project / ".envs" / ".production" / ".postgres"
    credentials.parent.mkdir(parents=True)
    credentials.write_text("# PostgreSQL\n" + env_text(host_credentials(postgres, dbname)))
    result = run_tool(baked_project, [], {"BACKUP_ENV_FILES": ".envs/.production/.postgres"})
    assert result.returncode == 0, describe(result)
    assert len(backups_in(baked_project / "backups")) == 1


def test_process_environment_wins_over_every_file(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """A wrong database in .env and in a listed file loses to the one in the environment."""
    dbname = database("small")
    wrong = {**host_credentials(postgres, dbname), "POSTGRES_DB": "no_such_database"}
    (baked_project / ".env").write_text(env_text(wrong))
    (baked_project / "host.env").write_text(env_text(wrong))
    result = run_tool(baked_project, [], {"BACKUP_ENV_FILES": "host.env", "POSTGRES_DB": dbname})
    assert result.returncode == 0, describe(result)
    assert backups_in(baked_project / "backups")[0].startswith(f"{dbname}_daily_")


def test_pgpassword_wins_over_postgres_password(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """A wrong POSTGRES_PASSWORD in .env does not matter when PGPASSWORD is right."""
    dbname = database("small")
    (baked_project / ".env").write_text("POSTGRES_PASSWORD=wrong-password\n")
    result = run_tool(baked_project, [], postgres.env(dbname))
    assert result.returncode == 0, describe(result)
    assert "wrong-password" not in result.stdout + result.stderr


def test_a_missing_listed_env_file_is_exit_2_with_one_line(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """BACKUP_ENV_FILES naming a file that is not there: exit 2, one line, nothing made."""
    dbname = database("small")
    result = run_tool(
        baked_project, [], {**postgres.env(dbname), "BACKUP_ENV_FILES": ".envs/.production/.pg"}
    )
    assert result.returncode == 2, describe(result)
    errors = error_lines(result.stderr)
    assert len(errors) == 1, describe(result)
    missing = baked_project / ".envs" / ".production" / ".pg"
    assert errors[0].endswith(f"BACKUP_ENV_FILES names {missing}, which is not a file")
    assert backups_in(baked_project / "backups") == []


def test_trust_auth_skips_the_password_rule_and_lets_libpq_decide(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """POSTGRES_HOST_AUTH_METHOD=trust, no password: no exit 2; this server asks for one (3)."""
    dbname = database("small")
    env = postgres.env(dbname)
    del env["PGPASSWORD"]
    result = run_tool(baked_project, [], {**env, "POSTGRES_HOST_AUTH_METHOD": "trust"})
    assert result.returncode == 3, describe(result)
    assert "no database password" not in result.stderr
    without_trust = run_tool(baked_project, [], env)
    assert without_trust.returncode == 2, describe(without_trust)
    assert "no database password" in without_trust.stderr
