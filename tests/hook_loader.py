"""Render the template's hooks the way cookiecutter does and import them as modules.

Hooks are Jinja templates: cookiecutter renders them with its own environment before
running them. Rendering them here with the same environment and importing the result
lets tests call the hooks' small functions directly. The plain-Python ``backup_wiring``
package the hooks import from their own folder is importable by that name too (the
hooks folder is put on ``sys.path``, as the hooks themselves do).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from cookiecutter.utils import create_env_with_context

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
HOOKS_DIR = REPOSITORY_ROOT / "hooks"
COOKIECUTTER_JSON = REPOSITORY_ROOT / "cookiecutter.json"
_counter = itertools.count()
if str(HOOKS_DIR) not in sys.path:
    sys.path.insert(0, str(HOOKS_DIR))


def hook_context(answers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context cookiecutter builds for ``--no-input`` with ``answers`` as overrides."""
    context = generate_context(str(COOKIECUTTER_JSON), extra_context=dict(answers or {}))
    options = {k: v for k, v in context["cookiecutter"].items() if not k.startswith("_")}
    context["_cookiecutter"] = options
    context["cookiecutter"].update(prompt_for_config(context, no_input=True))
    context["cookiecutter"]["_repo_dir"] = str(REPOSITORY_ROOT)
    return context


def render_hook(name: str, context: Mapping[str, Any]) -> str:
    """The source of ``hooks/<name>.py`` as cookiecutter renders it for ``context``."""
    environment = create_env_with_context(dict(context))
    source = (HOOKS_DIR / f"{name}.py").read_text(encoding="utf-8")
    return environment.from_string(source).render(**context)


def import_source(source: str, directory: Path, name: str) -> ModuleType:
    """Import Python ``source`` from a file in ``directory`` as a fresh module."""
    module_name = f"rendered_{name}_{next(_counter)}"
    path = directory / f"{module_name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_hook(name: str, directory: Path, context: Mapping[str, Any] | None = None) -> ModuleType:
    """Render ``hooks/<name>.py`` (default answers unless ``context``) and import it."""
    return import_source(render_hook(name, context or hook_context()), directory, name)
