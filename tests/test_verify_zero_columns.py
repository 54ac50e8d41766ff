"""A table without columns is valid PostgreSQL: ``--verify`` must not call its backup damaged.

pg_dump writes its data block as ``COPY public.t  FROM stdin;`` (an empty column list);
the same holds for a table whose every column was dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.backup_support import backups_in
from tests.helpers import describe, run_tool
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

ZERO_COLUMN_SQL = """
CREATE TABLE marker ();
INSERT INTO marker DEFAULT VALUES;
INSERT INTO marker DEFAULT VALUES;
CREATE TABLE emptied (gone integer);
ALTER TABLE emptied DROP COLUMN gone;
INSERT INTO emptied DEFAULT VALUES;
"""


def test_tables_without_columns_back_up_and_verify(
    baked_project: Path,
    postgres: PostgresServer,
    database: Callable[..., str],
    tmp_path: Path,
) -> None:
    """The backup passes every check, test restore included, and is kept as a good one."""
    dbname = database("small")
    postgres.psql(ZERO_COLUMN_SQL, dbname)
    backup_dir = tmp_path / "backups"
    env = {**postgres.env(dbname), "BACKUP_DIR": str(backup_dir)}
    env["BACKUP_VERIFY_RESTORE"] = "always"

    result = run_tool(baked_project, ["--verify"], env)

    assert result.returncode == 0, describe(result)
    assert "Backup verification passed" in result.stdout, describe(result)
    (name,) = backups_in(backup_dir)
    assert not name.endswith(".failed")
