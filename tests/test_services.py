"""The real-service harness works: PostgreSQL with password auth, datasets, an S3 endpoint."""

from __future__ import annotations

import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import describe, run_tool, unique_name
from tests.services import postgres as postgres_module
from tests.services._net import ServiceUnavailable
from tests.services.datasets import DATASETS
from tests.services.local_cluster import LocalCluster
from tests.services.postgres import (
    URL_VARIABLE,
    PostgresServer,
    PsqlError,
    find_bindir,
    postgres_service,
    server_from_url,
)
from tests.services.s3 import S3Endpoint

pytestmark = pytest.mark.integration


def test_server_accepts_the_right_scram_password(postgres: PostgresServer) -> None:
    """A role with a scram-sha-256 password logs in over TCP with that password."""
    role = unique_name("reader").replace("-", "_")
    postgres.create_role(role, "right-password")

    assert postgres.psql("SELECT current_user", user=role, password="right-password") == role
    stored = postgres.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")
    assert stored.startswith("SCRAM-SHA-256$")


def test_server_rejects_a_wrong_password(postgres: PostgresServer) -> None:
    """The same role with a wrong password is refused: authentication is really checked."""
    role = unique_name("reader").replace("-", "_")
    postgres.create_role(role, "right-password")

    with pytest.raises(PsqlError, match="password authentication failed"):
        postgres.psql("SELECT 1", user=role, password="wrong-password")


def test_local_cluster_requires_scram_for_every_connection(postgres: PostgresServer) -> None:
    """The throwaway cluster's pg_hba.conf asks every client for a scram-sha-256 password."""
    if postgres.kind != "local":
        pytest.skip(f"pg_hba.conf belongs to the {postgres.kind} server, not to the harness")
    methods = postgres.psql("SELECT DISTINCT auth_method FROM pg_hba_file_rules")
    assert methods.splitlines() == ["scram-sha-256"]


def test_env_points_the_tool_at_a_database(postgres: PostgresServer) -> None:
    """env() gives the contract's connection variables, the password only in PGPASSWORD."""
    env = postgres.env("shop", user="shop_user", password="secret")

    assert env == {
        "POSTGRES_HOST": postgres.host,
        "POSTGRES_PORT": str(postgres.port),
        "POSTGRES_DB": "shop",
        "POSTGRES_USER": "shop_user",
        "PGPASSWORD": "secret",
    }


def test_small_dataset_loads_with_its_documented_counts(
    postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """The built-in dataset holds its tables, rows, view, function and sequences."""
    dbname = database("small")
    fingerprints = postgres.table_fingerprints(dbname)
    expected = DATASETS["small"]

    assert {name: fp.rows for name, fp in fingerprints.items()} == expected.table_rows
    assert sum(fp.rows for fp in fingerprints.values()) == expected.rows
    assert postgres.psql("SELECT count(*) FROM customer_balance", dbname) == "3"
    assert postgres.psql("SELECT customer_total(1)", dbname) == "15.00"
    assert set(postgres.sequence_states(dbname)) == {
        "public.customer_customer_id_seq",
        "public.invoice_number_seq",
    }
    notes = postgres.psql("SELECT notes FROM customer WHERE customer_id = 1", dbname)
    assert notes == "first line\nsecond line\n\ttabbed third line"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pagila", "chinook", "northwind"])
def test_shared_dataset_loads_with_its_documented_counts(
    postgres: PostgresServer, database: Callable[..., str], name: str
) -> None:
    """Each shared dataset loads with the table and row counts its README measured."""
    dbname = database(name)
    fingerprints = postgres.table_fingerprints(dbname)
    expected = DATASETS[name]

    assert len(fingerprints) == expected.tables
    assert sum(fp.rows for fp in fingerprints.values()) == expected.rows
    for table, rows in expected.table_rows.items():
        assert fingerprints[table].rows == rows, table


def test_dataset_copies_are_independent(
    postgres: PostgresServer, database: Callable[..., str]
) -> None:
    """Two copies of a dataset start equal, and a change to one leaves the other as it was."""
    first, second = database("small"), database("small")
    assert postgres.table_fingerprints(first) == postgres.table_fingerprints(second)

    postgres.psql("UPDATE invoice SET amount = amount + 1 WHERE invoice_number = 1000", first)

    changed = postgres.table_fingerprints(first)
    untouched = postgres.table_fingerprints(second)
    assert changed["public.invoice"].md5 != untouched["public.invoice"].md5
    assert changed["public.invoice"].rows == untouched["public.invoice"].rows
    assert changed["public.customer"] == untouched["public.customer"]


def test_unknown_dataset_is_refused(postgres: PostgresServer) -> None:
    """Asking for a dataset that does not exist names the known ones."""
    with pytest.raises(ValueError, match="small"):
        postgres.load_dataset("never_created", "no-such-dataset")


def test_s3_endpoint_answers_boto3(s3: S3Endpoint, bucket: str) -> None:
    """An object put with boto3 comes back byte for byte."""
    client = s3.client()
    client.put_object(Bucket=bucket, Key="backups/daily/a.sql.gz", Body=b"\x1f\x8bdata")

    body = client.get_object(Bucket=bucket, Key="backups/daily/a.sql.gz")["Body"].read()
    assert body == b"\x1f\x8bdata"
    assert s3.list_keys(bucket) == ["backups/daily/a.sql.gz"]


def test_s3_endpoint_answers_the_aws_cli(s3: S3Endpoint, bucket: str, tmp_path: Path) -> None:
    """The aws CLI uploads to and lists the same endpoint with the fake credentials."""
    local = tmp_path / "shop_daily_20240101_000000.sql.gz"
    local.write_bytes(b"backup bytes")

    upload = s3.aws(["s3", "cp", str(local), f"s3://{bucket}/backups/daily/{local.name}"])
    assert upload.returncode == 0, describe(upload)
    listing = s3.aws(["s3", "ls", f"s3://{bucket}/backups/daily/"])
    assert listing.returncode == 0, describe(listing)
    assert local.name in listing.stdout
    assert s3.list_keys(bucket, "backups/") == [f"backups/daily/{local.name}"]


def test_s3_env_uses_the_tool_variable_names(s3: S3Endpoint) -> None:
    """env() names the bucket, prefix, endpoint, fake credentials and region for the tool."""
    env = s3.env("shop-backups", "prod/")

    assert env["BACKUP_S3_BUCKET"] == "shop-backups"
    assert env["BACKUP_S3_PREFIX"] == "prod/"
    assert env["BACKUP_S3_ENDPOINT_URL"] == s3.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == s3.access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == s3.secret_key
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_run_tool_passes_a_clean_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tool sees PATH, HOME, LANG and the given variables; no PG* or AWS* leak in."""
    monkeypatch.setenv("PGHOST", "leaked.example")
    monkeypatch.setenv("AWS_PROFILE", "leaked")
    script = tmp_path / "scripts" / "db-backup.sh"
    script.parent.mkdir()
    script.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\nenv | sort\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)

    result = run_tool(tmp_path, ["--type=daily"], {"POSTGRES_DB": "shop"})

    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "--type=daily"
    names = {line.split("=", 1)[0] for line in lines[1:] if "=" in line}
    assert {"PATH", "HOME", "LANG", "POSTGRES_DB"} <= names
    assert not {name for name in names if name.startswith(("PG", "AWS"))}


def test_baked_project_is_a_directory_named_after_the_slug(baked_project: Path) -> None:
    """The default bake lands in a folder named after the default slug."""
    assert baked_project.is_dir()
    assert baked_project.name == "my_project"


@pytest.mark.parametrize("baked_project", [{"project_name": "Shop Floor"}], indirect=True)
def test_baked_project_takes_extra_context(baked_project: Path) -> None:
    """Answers passed through request.param reach cookiecutter."""
    assert baked_project.name == "shop_floor"


def test_existing_server_named_by_url_is_used(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BACKUP_TEST_POSTGRES_URL makes the harness use that server instead of starting one."""
    monkeypatch.setenv(URL_VARIABLE, postgres.admin_dsn)

    with postgres_service() as server:
        assert server.kind == "external"
        assert (server.host, server.port, server.superuser) == (
            postgres.host,
            postgres.port,
            postgres.superuser,
        )
        assert server.psql("SELECT 1") == "1"


def test_url_credentials_are_percent_decoded() -> None:
    """A password with URL-reserved characters survives the round trip through the URL."""
    server = server_from_url("postgresql://app%40x:p%2Fw%3Ad@db.example:6543/postgres")

    assert (server.host, server.port) == ("db.example", 6543)
    assert (server.superuser, server.password) == ("app@x", "p/w:d")


def test_without_any_postgres_the_harness_says_how_to_get_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No URL, no Docker and no server binaries: one line naming the ways to get a server."""
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    monkeypatch.setattr(postgres_module, "use_docker", lambda: False)
    monkeypatch.setattr(postgres_module, "find_bindir", lambda *programs: None)

    with pytest.raises(ServiceUnavailable) as raised, postgres_service():
        pass
    message = str(raised.value)
    assert "\n" not in message
    assert "apt-get install postgresql" in message
    assert URL_VARIABLE in message


def test_local_cluster_is_stopped_and_removed_on_exit() -> None:
    """A throwaway cluster leaves no directory and no listening server behind."""
    bindir = find_bindir("initdb", "pg_ctl", "psql")
    if bindir is None:
        pytest.skip("no local PostgreSQL server binaries (initdb, pg_ctl) to start a cluster")
    cluster = LocalCluster(bindir)
    try:
        address = cluster.start()
        root = cluster.root
        assert root is not None and (root / "data" / "PG_VERSION").is_file()
    finally:
        cluster.stop()

    assert not root.exists()
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((address.host, address.port), timeout=5),
    ):
        pass
