"""pg_dump older than the server is refused before any dump, naming both versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from db_backup.backup import check_client_version
from db_backup.errors import ConfigError
from db_backup.server import ServerInfo

SERVER_15 = ServerInfo(150004, "15.4 (Debian 15.4-1)", "postgres", "shop")


def fake_pg_dump(directory: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pg_dump on PATH that only answers --version."""
    script = directory / "pg_dump"
    script.write_text(f'#!/bin/sh\necho "pg_dump (PostgreSQL) {version}"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(directory))


@pytest.mark.parametrize("version", ["14.9", "9.6.24", "12.0 (Ubuntu 12.0-1)"])
def test_older_pg_dump_is_a_config_error_naming_both_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """Exit 2; the message names pg_dump's major version and the server's version."""
    fake_pg_dump(tmp_path, version, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        check_client_version(SERVER_15)
    major = version.split(".")[0]
    assert caught.value.exit_code == 2
    expected = f"pg_dump {major} cannot dump a PostgreSQL 15 server (15.4 (Debian 15.4-1))"
    assert caught.value.msg == expected


@pytest.mark.parametrize(("version", "major"), [("15.1", 15), ("16.2", 16), ("17beta1", 17)])
def test_same_or_newer_pg_dump_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str, major: int
) -> None:
    """A pg_dump of the server's major version or newer dumps it; its major is returned."""
    fake_pg_dump(tmp_path, version, monkeypatch)
    assert check_client_version(SERVER_15) == major
