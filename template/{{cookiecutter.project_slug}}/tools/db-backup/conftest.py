"""Keep this tool's tests out of the host project's own pytest runs.

The tool lives inside a project that may have its own test suite. Its tests run when
pytest is started from this folder (or pointed at it); a plain ``pytest`` from the
project's root, with the project's own configuration, collects exactly what it did
before the tool was added. When they do run, the package under ``src`` is importable
whatever the rootdir, and they describe the tool rather than this project: the env files
a project adopted from its compose services (``defaults.ENV_FILES``) are not read by
tests that build settings in temporary project folders.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "src"


def is_inside(path: Path) -> bool:
    """Whether ``path`` is this folder or below it."""
    return path.resolve().is_relative_to(HERE)


def asked_for(config: pytest.Config) -> bool:
    """Whether this run is about the tool: started here, or given a path in here."""
    invocation = config.invocation_params
    start = invocation.dir
    named = [start / arg.split("::", 1)[0] for arg in invocation.args if not arg.startswith("-")]
    return is_inside(config.rootpath) or is_inside(start) or any(map(is_inside, named))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip everything below this folder unless the run is about the tool."""
    if not asked_for(config):
        return True
    if str(SOURCE) not in sys.path:
        sys.path.insert(0, str(SOURCE))
    return None


@pytest.fixture(autouse=True)
def _no_adopted_env_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run every test with the generation default of a project made on its own."""
    from db_backup import defaults

    if hasattr(defaults, "ENV_FILES"):
        monkeypatch.setattr(defaults, "ENV_FILES", ())
    yield
