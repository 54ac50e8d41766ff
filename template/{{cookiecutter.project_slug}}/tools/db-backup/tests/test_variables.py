"""The settings table: every variable read is declared once, and the docs match the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from db_backup import variables_docs
from db_backup.cli import build_parser
from db_backup.variables import VARIABLES, read

SRC = Path(__file__).resolve().parents[1] / "src" / "db_backup"
PROJECT_ROOT = Path(__file__).resolve().parents[3]
QUOTED_NAME = re.compile(r"[\"']((?:BACKUP|POSTGRES|AWS)_[A-Z0-9_]+)[\"']")


def test_every_variable_read_in_the_package_is_declared_in_the_table() -> None:
    """A BACKUP_*, POSTGRES_* or AWS_* name quoted anywhere in the package is a table row."""
    quoted = {
        name
        for path in SRC.rglob("*.py")
        if path.name != "variables.py"
        for name in QUOTED_NAME.findall(path.read_text(encoding="utf-8"))
    }
    assert quoted - set(VARIABLES) == set()


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_every_default_is_a_valid_value(name: str) -> None:
    """Reading a variable that is not set gives its default without an error."""
    read({}, name)


@pytest.mark.parametrize("name", sorted(v.name for v in VARIABLES.values() if v.kind == "int"))
def test_every_number_is_checked(name: str) -> None:
    """A number variable set to text is a ConfigError naming the variable."""
    from db_backup.errors import ConfigError

    with pytest.raises(ConfigError, match=name):
        read({name: "many"}, name)


def test_secret_variables_are_never_written_with_a_value() -> None:
    """The env examples show a secret's name only."""
    text = variables_docs.config_example()
    for row in VARIABLES.values():
        if row.secret:
            assert not re.search(rf"^#? ?{row.name}=.", text, re.MULTILINE), row.name


def test_help_lists_every_variable() -> None:
    """--help names every variable of the table."""
    text = build_parser().format_help()
    missing = [name for name in VARIABLES if name not in text]
    assert missing == []


def test_generated_files_match_the_table() -> None:
    """The env example and the README's settings tables are what the table gives.

    After changing variables.py, run: invoke -r tools/db-backup settings-docs
    """
    assert variables_docs.stale_files(variables_docs.expected_files(PROJECT_ROOT)) == []


def test_a_changed_table_makes_the_files_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """The staleness check sees a doc change (so the test above can fail)."""
    import dataclasses

    from db_backup import variables

    row = variables.VARIABLES["BACKUP_DIR"]
    changed = dataclasses.replace(row, doc="somewhere else")
    monkeypatch.setitem(variables.VARIABLES, "BACKUP_DIR", changed)
    stale = variables_docs.stale_files(variables_docs.expected_files(PROJECT_ROOT))
    assert PROJECT_ROOT / variables_docs.CONFIG_EXAMPLE in stale
    assert PROJECT_ROOT / variables_docs.README in stale
