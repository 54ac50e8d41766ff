"""Write what was learnt from the project into the settings the template rendered.

The database name, user and env files of an existing project are only known after
cookiecutter has rendered the template, so they are set here, one line each, in the
generated ``defaults.py`` (the tool's lowest-priority settings). The tool then rewrites
its own documentation of those defaults (the sample config, its README's tables) with
its own generator, so they say the same.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULTS = "tools/db-backup/src/db_backup/defaults.py"
SOURCE = "tools/db-backup/src"
REGENERATE = (
    "from pathlib import Path\n"
    "from db_backup import variables_docs\n"
    "variables_docs.regenerate(variables_docs.expected_files(Path.cwd()))\n"
)


class MissingSetting(LookupError):
    """The defaults module has no line for a setting; the message names it."""


def python_string(value: str) -> str:
    """A Python string literal in the style ruff formats (double quotes)."""
    return json.dumps(value, ensure_ascii=False)


def python_tuple(values: Sequence[str]) -> str:
    """A tuple literal of strings that ruff's formatter leaves as it is."""
    if len(values) == 1:
        return f"({python_string(values[0])},)"
    return "(" + ", ".join(python_string(value) for value in values) + ")"


def set_default(text: str, name: str, literal: str) -> str:
    """Replace the value of ``NAME = ...`` (or ``NAME: type = ...``) with ``literal``."""
    pattern = re.compile(rf"^({re.escape(name)}(?:\s*:\s*[^=\n]+)?\s*=\s*).*$", re.MULTILINE)
    if not pattern.search(text):
        raise MissingSetting(f"{DEFAULTS} has no {name} line")
    return pattern.sub(lambda match: match.group(1) + literal, text, count=1)


def regenerate_docs(project: Path) -> str | None:
    """Have the generated tool rewrite the files that document its defaults.

    Returns None when done, else the reason it could not be done.
    """
    # -B: no __pycache__ left in the project (a re-apply must not change a byte)
    environ = {**os.environ, "PYTHONPATH": str(project / SOURCE), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-B", "-c", REGENERATE],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"
