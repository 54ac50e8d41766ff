"""Lift the project folder from ``template/`` to the template root.

Cookiecutter looks for the ``{{cookiecutter.project_slug}}`` folder only at
the root of a template, while this repository keeps it under ``template/`` so
that the root holds the template's own tooling. This hook runs in the
throwaway copy cookiecutter makes before prompting, so the repository itself
is never changed.
"""

import shutil
import sys
from pathlib import Path

PROJECT_FOLDER = "{{cookiecutter.project_slug}}"
NESTED_PROJECT = Path("template") / PROJECT_FOLDER
# Caches a developer's tools leave in a checkout: never part of a baked project,
# and cookiecutter would try to render their binary files.
DEVELOPMENT_LEFTOVERS = ("__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache")


def lift_project_folder(root: Path) -> None:
    """Move ``template/<project folder>`` to ``<root>/<project folder>``."""
    source = root / NESTED_PROJECT
    target = root / PROJECT_FOLDER
    if target.exists():
        return
    if not source.is_dir():
        sys.exit(f"ERROR: the template is incomplete: {NESTED_PROJECT} is missing")
    shutil.move(str(source), str(target))


def drop_development_leftovers(project: Path) -> None:
    """Delete tool caches from the copied project folder before it is rendered."""
    for name in DEVELOPMENT_LEFTOVERS:
        for leftover in sorted(project.rglob(name), reverse=True):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)


if __name__ == "__main__":
    lift_project_folder(Path.cwd())
    drop_development_leftovers(Path.cwd() / PROJECT_FOLDER)
