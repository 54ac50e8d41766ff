"""Fixtures shared by the template's tests: real services and baked projects.

``postgres`` and ``s3`` are started once per session and stopped at its end, even when
tests fail. Where they come from is described in ``tests/services``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import unique_name
from tests.hook_loader import load_hook
from tests.restore_support import databases_like
from tests.services._net import ServiceUnavailable
from tests.services.datasets import REPOSITORY_ROOT
from tests.services.postgres import PostgresServer, postgres_service
from tests.services.s3 import S3Endpoint, s3_service


@pytest.fixture(scope="session")
def template_root() -> Path:
    """The template repository's root (the directory holding cookiecutter.json)."""
    return REPOSITORY_ROOT


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL with password authentication, for the whole session."""
    try:
        with postgres_service() as server:
            yield server
    except ServiceUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """A running S3 endpoint (MinIO or moto's server), for the whole session."""
    with s3_service() as endpoint:
        yield endpoint


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[Callable[..., str]]:
    """Factory: ``database(dataset='small', name=None) -> name`` of a fresh loaded database.

    Every database made here is dropped when the test ends.
    """
    made: list[str] = []

    def make(dataset: str = "small", name: str | None = None) -> str:
        dbname = name or unique_name(f"test_{dataset}").replace("-", "_")
        made.append(dbname)
        postgres.load_dataset(dbname, dataset)
        return dbname

    yield make
    for dbname in made:
        postgres.drop_database(dbname)


@pytest.fixture
def bucket(s3: S3Endpoint) -> str:
    """A new, empty bucket for this test."""
    return s3.create_bucket(unique_name("backups"))


@pytest.fixture(scope="session")
def pre_gen(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The pre_gen_project hook, rendered with the default answers and imported."""
    return load_hook("pre_gen_project", tmp_path_factory.mktemp("pre_gen"))


@pytest.fixture(scope="session")
def post_gen(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The post_gen_project hook, rendered with the default answers and imported."""
    return load_hook("post_gen_project", tmp_path_factory.mktemp("post_gen"))


@pytest.fixture
def bake(
    cookies: Any, template_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    """Factory: ``bake(**extra_context) -> Path`` of a project baked with pytest-cookies.

    Cookiecutter copies the template into a temporary directory for the pre_prompt hook and
    may leave it behind; pointing ``tempfile`` at the test's own directory keeps /tmp clean.
    """
    scratch = tmp_path / "cookiecutter-scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def bake_project(**extra_context: Any) -> Path:
        result = cookies.bake(extra_context=extra_context, template=str(template_root))
        assert result.exit_code == 0, f"bake failed: {result.exception!r}"
        assert result.exception is None, f"bake failed: {result.exception!r}"
        return Path(result.project_path)

    return bake_project


@pytest.fixture
def baked_project(request: pytest.FixtureRequest, bake: Callable[..., Path]) -> Path:
    """A project baked with the default answers, or with ``request.param`` as extra_context.

    Parametrise indirectly to change answers:
    ``@pytest.mark.parametrize("baked_project", [{"postgres_db": "shop"}], indirect=True)``.
    """
    extra_context = getattr(request, "param", None) or {}
    return bake(**extra_context)


@pytest.fixture
def cleanup(postgres: PostgresServer) -> Iterator[list[str]]:
    """Database names (or prefixes ending in ``*``) to drop when the test ends."""
    names: list[str] = []
    yield names
    for name in names:
        targets = databases_like(postgres, name[:-1]) if name.endswith("*") else [name]
        for target in targets:
            postgres.drop_database(target)
