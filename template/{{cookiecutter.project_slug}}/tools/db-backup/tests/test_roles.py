"""The roles file: its name, and which of its statements ``--with-roles`` runs."""

from __future__ import annotations

import fnmatch

import pytest

from db_backup.naming import parse_backup_name
from db_backup.roles import (
    is_roles_filename,
    plan_roles,
    roles_filename,
    split_statements,
    unquote,
)

# The shape of `pg_dumpall --roles-only` (PostgreSQL 15), with awkward names.
ROLES_FILE = '''\
--
-- PostgreSQL database cluster dump
--

\\restrict abc123

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH NOSUPERUSER INHERIT CREATEDB LOGIN PASSWORD 'SCRAM-SHA-256$4096:x;y';
CREATE ROLE "Report; ""team""";
ALTER ROLE "Report; ""team""" WITH NOSUPERUSER INHERIT NOLOGIN;
COMMENT ON ROLE "Report; ""team""" IS 'reads;
the reports';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
ALTER ROLE app SET search_path TO 'app', 'public';

--
-- Role memberships
--

GRANT "Report; ""team""" TO app GRANTED BY postgres;
GRANT app TO postgres GRANTED BY postgres;

\\unrestrict abc123

--
-- PostgreSQL database cluster dump complete
--
'''


@pytest.mark.parametrize(
    ("backup", "roles"),
    [
        ("shop_daily_20250101_020000.sql.gz", "shop_daily_20250101_020000.roles.sql"),
        ("shop_weekly_20250101_0200_schema.sql.zst", "shop_weekly_20250101_0200_schema.roles.sql"),
        ("shop_daily_20250101_020000.sql.gz.failed", "shop_daily_20250101_020000.roles.sql.failed"),
    ],
)
def test_roles_file_name_follows_its_backup(backup: str, roles: str) -> None:
    """Beside its backup, and never matched by the contract's glob or taken for a backup."""
    assert roles_filename(backup) == roles
    assert not fnmatch.fnmatch(roles, "shop_*_*.sql.gz")
    assert parse_backup_name("shop", roles) is None


def test_statements_split_on_semicolons_outside_quotes() -> None:
    """Quoted semicolons and newlines stay inside their statement; comments and meta-commands go."""
    statements = split_statements(ROLES_FILE)
    assert statements[0] == "SET default_transaction_read_only = off"
    assert 'CREATE ROLE "Report; ""team"""' in statements
    assert 'COMMENT ON ROLE "Report; ""team""" IS \'reads;\nthe reports\'' in statements
    assert not any(s.startswith(("\\", "--")) for s in statements)
    assert len(statements) == 13


def test_a_fresh_server_gets_every_missing_role() -> None:
    """Roles the server lacks are created with their attributes, comments and memberships."""
    plan = plan_roles(ROLES_FILE, {"postgres"}, superuser=True)
    assert plan.created == ("app", 'Report; "team"')
    assert plan.existing == ("postgres",)
    script = plan.script()
    assert script.startswith("BEGIN;\n") and script.endswith("COMMIT;\n")
    assert "PASSWORD 'SCRAM-SHA-256$4096:x;y'" in script
    assert 'GRANT "Report; ""team""" TO app GRANTED BY postgres;' in script
    assert "GRANT app TO postgres" not in script, "postgres existed: left as it is"
    assert "ALTER ROLE postgres" not in script


def test_existing_roles_are_left_as_they_are() -> None:
    """Nothing about a role the server has is run: attributes, settings, memberships."""
    plan = plan_roles(ROLES_FILE, {"postgres", "app", 'Report; "team"'}, superuser=True)
    assert plan.created == ()
    assert plan.statements == ()


def test_without_superuser_the_grantor_is_left_to_the_server() -> None:
    """Only a superuser may name another grantor; others grant as themselves."""
    plan = plan_roles(ROLES_FILE, {"postgres"}, superuser=False)
    assert 'GRANT "Report; ""team""" TO app;' in plan.script()
    assert "GRANTED BY" not in plan.script()


def test_unquote() -> None:
    assert unquote('"A""b"') == 'A"b'
    assert unquote("plain") == "plain"


def test_a_roles_file_is_known_by_its_database() -> None:
    """The partial-file sweep removes this database's roles files only."""
    assert is_roles_filename("shop", "shop_daily_20250101_020000.roles.sql")
    assert is_roles_filename("shop", "shop_daily_20250101_020000.roles.sql.age")
    assert not is_roles_filename("shop", "shop_daily_20250101_020000.sql.gz")
    assert not is_roles_filename("shop", "shop_daily_daily_20250101_020000.roles.sql")
    assert not is_roles_filename("shop", "other_daily_20250101_020000.roles.sql")
