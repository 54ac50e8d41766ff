"""Scratch database names for test restores: unique, recognisable, within PostgreSQL's limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from db_backup import restore
from db_backup.config import ConnectionInfo
from db_backup.restore import MAX_IDENTIFIER_BYTES, quote_ident, scratch_database_name


def test_the_name_says_whose_test_restore_it_is() -> None:
    assert scratch_database_name("shop", pid=4242, token="a1b2c3d4") == "shop_verify_4242_a1b2c3d4"


@pytest.mark.parametrize("dbname", ["x" * 63, "ä" * 40, "日本語のデータベース名前" * 3])
def test_long_names_are_cut_to_63_bytes_without_splitting_a_character(dbname: str) -> None:
    """PostgreSQL truncates longer names silently, which would break the DROP at the end."""
    name = scratch_database_name(dbname, pid=4194304, token="a1b2c3d4")
    assert len(name.encode("utf-8")) <= MAX_IDENTIFIER_BYTES
    assert name.endswith("_verify_4194304_a1b2c3d4")
    assert dbname.startswith(name.removesuffix("_verify_4194304_a1b2c3d4"))


def test_two_runs_of_one_process_get_different_names() -> None:
    assert scratch_database_name("shop") != scratch_database_name("shop")


def test_identifiers_are_always_quoted() -> None:
    assert quote_ident('we"ird name') == '"we""ird name"'


def test_a_slow_create_database_is_waited_for_not_timed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before PostgreSQL 15, CREATE DATABASE waits for a checkpoint that can take minutes on
    a busy server: it must not be cut off like a quick query (a false verification failure
    that also leaves the database behind)."""
    psql = tmp_path / "psql"
    psql.write_text("#!/bin/sh\n/bin/cat >/dev/null\n/bin/sleep 3\n")
    psql.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(restore, "QUERY_GRACE_SECONDS", 0)
    scratch = restore.ScratchRestore(ConnectionInfo("h", 5432, "shop", "u", "pw", None, 1))
    scratch._create()
    assert scratch.created
