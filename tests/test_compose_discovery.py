"""Finding the PostgreSQL service of a compose file, and the db-backup service built from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from backup_wiring import compose_discovery as discovery
from backup_wiring.backup_service import BackupService
from backup_wiring.compose_text import CannotMerge

# image reference, is a PostgreSQL image, major
IMAGES = [
    ("postgres", True, None),
    ("postgres:18", True, 18),
    ("postgres:16.4-bookworm", True, 16),
    ("postgres:17-alpine", True, 17),
    ("postgres:latest", True, None),
    ("docker.io/library/postgres:15", True, 15),
    ("docker.io/postgres:18@sha256:abc", True, 18),
    ("registry.example.com:5000/postgres:14", True, 14),
    ("postgis/postgis:16-3.4", True, 16),
    ("postgis/postgis:16-3.4-alpine", True, 16),
    ("timescale/timescaledb:2.14.2-pg16", True, 16),
    ("timescale/timescaledb:latest-pg17", True, 17),
    ("timescale/timescaledb-ha:pg16-ts2.14", True, 16),
    ("pgvector/pgvector:pg17", True, 17),
    ("mysql:8", False, None),
    ("bitnami/postgresql:16", False, None),
    ("myorg/postgres-exporter:1", False, None),
    ("adminer", False, None),
]


@pytest.mark.parametrize(("reference", "is_postgres", "major"), IMAGES)
def test_postgres_images_and_their_major_versions(
    reference: str, is_postgres: bool, major: int | None
) -> None:
    """Official, PostGIS, TimescaleDB and pgvector images, any registry, tag or variant."""
    assert discovery.is_postgres_image(reference) is is_postgres
    if is_postgres:
        assert discovery.major_of(reference) == major


# Dockerfile text, the image its final stage starts from
DOCKERFILES = [
    ("FROM docker.io/postgres:18\nCOPY x /y\n", "docker.io/postgres:18"),
    ("# comment\nFROM --platform=linux/amd64 postgres:16 AS base\n", "postgres:16"),
    ("ARG PG_MAJOR=15\nFROM postgres:${PG_MAJOR}-alpine\n", "postgres:15-alpine"),
    ("FROM postgres:17 AS db\nRUN x \\\n  y\nFROM db\n", "postgres:17"),
    (
        "FROM golang:1 AS build\nFROM postgis/postgis:16-3.4\nCOPY --from=build a b\n",
        "postgis/postgis:16-3.4",
    ),
    ("FROM postgres:16 AS db\nFROM debian:12\n", "debian:12"),
    ("RUN nothing\n", None),
]


@pytest.mark.parametrize(("text", "base"), DOCKERFILES)
def test_dockerfile_base_image_is_the_final_stage(text: str, base: str | None) -> None:
    """ARG defaults are filled in, stage aliases followed, continuations joined."""
    assert discovery.dockerfile_base(text) == base


def find(tmp_path: Path, compose: str, preferred: str = "", **files: str):
    for name, text in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return discovery.find_database_service(
        tmp_path, yaml.safe_load(compose), {"PG_TAG": "16"}, preferred
    )


def test_service_found_by_image_whatever_its_name(tmp_path: Path) -> None:
    """The service running a postgres image is the database, named db here."""
    found = find(tmp_path, "services:\n  web:\n    image: nginx\n  db:\n    image: postgres:18\n")
    assert found is not None
    assert (found.name, found.server.major, found.server.dockerfile) == ("db", 18, None)


def test_service_built_from_a_postgres_dockerfile(tmp_path: Path) -> None:
    """A locally built image counts when its Dockerfile starts FROM postgres."""
    compose = (
        "services:\n  postgres:\n    build:\n      context: .\n"
        "      dockerfile: ./compose/postgres/Dockerfile\n    image: my_project_postgres\n"
    )
    found = find(tmp_path, compose, compose__postgres__Dockerfile="FROM docker.io/postgres:18\n")
    assert found is not None
    assert found.server.major == 18
    assert found.server.dockerfile == "compose/postgres/Dockerfile"
    assert found.server.describe() == "compose/postgres/Dockerfile (FROM docker.io/postgres:18)"


def test_service_built_with_the_short_build_syntax(tmp_path: Path) -> None:
    """``build: ./db`` reads ./db/Dockerfile."""
    found = find(
        tmp_path, "services:\n  db:\n    build: ./db\n", db__Dockerfile="FROM postgres:14\n"
    )
    assert found is not None and found.server.major == 14


def test_service_defined_through_an_anchor_and_merge_key(tmp_path: Path) -> None:
    """``<<: *anchor`` is resolved: image, env files, environment and networks count."""
    compose = (
        "x-db: &db\n  image: postgres:16-alpine\n  env_file: [db.env]\n"
        "  environment:\n    POSTGRES_DB: shop\n  networks: [backend]\n"
        "services:\n  database:\n    <<: *db\n    healthcheck:\n      test: [CMD, pg_isready]\n"
        "networks:\n  backend: {}\n"
    )
    found = find(tmp_path, compose)
    assert found is not None
    assert found.name == "database"
    assert found.server.major == 16
    assert found.env_files == (discovery.EnvFile("db.env"),)
    assert found.environment == (("POSTGRES_DB", "shop"),)
    assert found.networks == ("backend",)
    assert found.healthcheck


def test_image_tag_from_a_variable_with_a_default(tmp_path: Path) -> None:
    """``postgres:${PG_TAG}`` takes the variable's value (from .env) for the major."""
    found = find(tmp_path, "services:\n  pg:\n    image: postgres:${PG_TAG}\n")
    assert found is not None and found.server.major == 16


def test_no_postgres_service_is_none(tmp_path: Path) -> None:
    """A file without one (or overriding one defined elsewhere) is left alone."""
    assert find(tmp_path, "services:\n  db:\n    ports: ['5432:5432']\n") is None
    assert find(tmp_path, "services:\n  web:\n    image: nginx\n") is None
    assert find(tmp_path, "volumes:\n  data: {}\n") is None


def test_several_postgres_services_prefer_the_usual_names(tmp_path: Path) -> None:
    """Two servers: the one called postgres/db is the database."""
    compose = "services:\n  analytics:\n    image: postgres:16\n  db:\n    image: postgres:16\n"
    found = find(tmp_path, compose)
    assert found is not None and found.name == "db"


def test_several_postgres_services_without_a_usual_name_ask_for_an_answer(tmp_path: Path) -> None:
    """Otherwise the refusal names them and the answer that picks one."""
    compose = "services:\n  a:\n    image: postgres:16\n  b:\n    image: postgres:15\n"
    with pytest.raises(CannotMerge, match=r"\(a, b\).*postgres_service=<name>"):
        find(tmp_path, compose)
    found = find(tmp_path, compose, preferred="b")
    assert found is not None and (found.name, found.server.major) == ("b", 15)


def test_compose_files_by_the_names_compose_reads_and_the_env_family(tmp_path: Path) -> None:
    """Default names first; other files of the family after; unrelated YAML ignored."""
    names = [
        "docker-compose.production.yml",
        "compose.yml",
        "compose.override.yml",
        "docker-compose.local.yml",
        "docker-compose.docs.yaml",
        "mkdocs.yml",
        "compose.yml.bak",
    ]
    for name in names:
        (tmp_path / name).write_text("services: {}\n")
    found = [path.name for path in discovery.compose_files(tmp_path)]
    assert found == [
        "compose.yml",
        "compose.override.yml",
        "docker-compose.docs.yaml",
        "docker-compose.local.yml",
        "docker-compose.production.yml",
    ]
    assert discovery.uses_default_name(tmp_path / "compose.override.yml")
    assert not discovery.uses_default_name(tmp_path / "docker-compose.local.yml")


# --- the db-backup service ------------------------------------------------------------


def service_for(tmp_path: Path, compose: str, **options: object) -> dict:
    database = find(tmp_path, compose)
    assert database is not None
    return BackupService(database, **options).data()  # type: ignore[arg-type]


def test_backup_service_copies_credentials_and_joins_internal_networks(tmp_path: Path) -> None:
    """The database's POSTGRES_* (trust included) are copied, its networks joined, its env
    files named in BACKUP_ENV_FILES; the image gets the server's major."""
    compose = (
        "services:\n  db:\n    image: postgres:17-alpine\n    env_file:\n"
        "      - path: ./db.env\n        required: false\n"
        "    environment:\n      - POSTGRES_HOST_AUTH_METHOD=trust\n      - POSTGRES_USER=app\n"
        "      - PGDATA=/data\n      - POSTGRES_PORT=6000\n"
        "    networks:\n      internal_net:\n        aliases: [database]\n"
        "networks:\n  internal_net:\n    internal: true\n"
    )
    service = service_for(tmp_path, compose, env_files=("db.env",))
    assert service["build"] == {
        "context": ".",
        "dockerfile": "tools/db-backup/Dockerfile",
        "args": {"PG_MAJOR": "17"},
    }
    assert service["environment"] == {
        "POSTGRES_HOST": "db",
        "POSTGRES_PORT": "5432",
        "BACKUP_DIR": "/backups",
        "BACKUP_ENV_FILES": "db.env",
        "POSTGRES_HOST_AUTH_METHOD": "trust",
        "POSTGRES_USER": "app",
    }
    assert service["networks"] == ["internal_net"]
    assert service["depends_on"] == {"db": {"condition": "service_started"}}
    assert service["working_dir"] == "/project"
    assert service["volumes"] == [".:/project:ro", "./backups:/backups"]
    assert "profiles" not in service  # docker compose up starts it


def test_backup_service_runs_the_scheduler_with_a_healthcheck(tmp_path: Path) -> None:
    """It stays up as the scheduler (BACKUP_SCHEDULE from .env, @daily by default), restarts
    with Docker, is healthy only while --check passes, and writes backups into the host
    folder as DB_BACKUP_UID:DB_BACKUP_GID."""
    service = service_for(tmp_path, "services:\n  db:\n    image: postgres:16\n")
    assert service["command"] == ["--schedule=${BACKUP_SCHEDULE:-@daily}", "--verify"]
    assert service["restart"] == "unless-stopped"
    assert service["user"] == "${DB_BACKUP_UID:-1000}:${DB_BACKUP_GID:-1000}"
    assert service["healthcheck"] == {
        "test": ["CMD", "python3", "-m", "db_backup", "--check"],
        "interval": "5m",
        "timeout": "1m",
        "start_period": "15m",
        "retries": 2,
    }


def test_backup_service_writing_into_a_named_volume_keeps_the_image_user(tmp_path: Path) -> None:
    """A named volume is not the developer's folder: no user, so the service can write to it."""
    service = service_for(
        tmp_path, "services:\n  db:\n    image: postgres:16\n", backups_source="pgdumps"
    )
    assert "user" not in service
    assert service["volumes"][-1] == "pgdumps:/backups"


def test_backup_service_with_an_unknown_major_uses_the_dockerfile_default(tmp_path: Path) -> None:
    """No build argument when the tag does not tell the major (the summary warns)."""
    service = service_for(tmp_path, "services:\n  db:\n    image: postgres:latest\n")
    assert "args" not in service["build"]


def test_backup_service_shares_a_password_secret(tmp_path: Path) -> None:
    """POSTGRES_PASSWORD_FILE becomes PGPASSWORD_FILE and the secret is mounted too."""
    compose = (
        "services:\n  db:\n    image: postgres:16\n    secrets: [db_password]\n"
        "    environment:\n      POSTGRES_PASSWORD_FILE: /run/secrets/db_password\n"
        "secrets:\n  db_password:\n    file: ./pw.txt\n"
    )
    service = service_for(tmp_path, compose, backups_source="pgdumps")
    assert service["secrets"] == ["db_password"]
    assert service["environment"]["PGPASSWORD_FILE"] == "/run/secrets/db_password"
    assert service["volumes"][-1] == "pgdumps:/backups"


def test_backup_service_on_the_host_network_connects_to_localhost(tmp_path: Path) -> None:
    """network_mode is copied; on the host's network the server is at 127.0.0.1."""
    compose = "services:\n  db:\n    image: postgres:16\n    network_mode: host\n"
    service = service_for(tmp_path, compose)
    assert service["network_mode"] == "host"
    assert "networks" not in service
    assert service["environment"]["POSTGRES_HOST"] == "127.0.0.1"


def test_backup_service_waits_for_a_healthy_database(tmp_path: Path) -> None:
    """With a healthcheck, db-backup waits for service_healthy."""
    compose = "services:\n  db:\n    image: postgres:16\n    healthcheck:\n      test: [CMD, x]\n"
    assert service_for(tmp_path, compose)["depends_on"]["db"]["condition"] == "service_healthy"


def test_an_answered_service_is_used_even_with_an_unrecognised_image(tmp_path: Path) -> None:
    """postgres_service names a service on a company image: it is the database, major unknown
    (the summary then asks for PG_MAJOR)."""
    compose = "services:\n  main-db:\n    image: registry.corp/pg-hardened:2024\n"
    assert find(tmp_path, compose) is None
    found = find(tmp_path, compose, preferred="main-db")
    assert found is not None
    assert (found.name, found.server.major) == ("main-db", None)
