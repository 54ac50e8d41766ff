"""Finding the client programs: Debian's version wrapper is looked through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from db_backup import tools


def executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def debian_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/usr/bin/psql -> pg_wrapper, with clients 13 and 15 installed (and a 16 without psql)."""
    wrapper = executable(tmp_path / "share" / "postgresql-common" / tools.WRAPPER)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "psql").symlink_to(wrapper)
    lib = tmp_path / "lib" / "postgresql"
    for major in ("13", "15"):
        executable(lib / major / "bin" / "psql")
    (lib / "16" / "bin").mkdir(parents=True)
    monkeypatch.setattr(tools, "VERSIONED_CLIENTS", lib)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("PGCLUSTER", raising=False)
    return tmp_path


def test_the_wrapper_is_replaced_by_the_newest_client(debian_layout: Path) -> None:
    newest = debian_layout / "lib" / "postgresql" / "15" / "bin" / "psql"
    assert tools.newest_versioned_client("psql", newest.parents[2]) == str(newest)
    assert tools.find_tool("psql") == str(newest)


def test_pgcluster_leaves_the_choice_to_the_wrapper(
    debian_layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGCLUSTER", "13/main")
    assert tools.find_tool("psql") == str(debian_layout / "bin" / "psql")


def test_a_plain_program_is_taken_as_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = executable(tmp_path / "bin" / "psql")
    monkeypatch.setenv("PATH", str(program.parent))
    assert tools.find_tool("psql") == str(program)
    assert os.path.isabs(tools.find_tool("psql"))
