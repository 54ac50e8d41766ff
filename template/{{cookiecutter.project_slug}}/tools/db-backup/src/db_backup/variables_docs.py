"""Documentation written from the settings table: env examples, README tables, ``--help`` list.

``template=True`` writes generation-time defaults as cookiecutter placeholders
(for the template repository's own files); otherwise as this project's values.
``expected_files`` maps each generated file to its text; ``stale_files`` names
those that differ (a test fails on any) and ``regenerate`` rewrites them.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

from .variables import ACTIVE, COMMENTED, FEATURES, VARIABLES, Generated, Variable

CONFIG_EXAMPLE = Path("scripts") / "backup-config.env.example"
README = Path("tools") / "db-backup" / "README.md"
REGENERATE = "invoke -r tools/db-backup settings-docs"

# README tables: which features each marked block shows.
_README_BLOCK = re.compile(
    r"(?P<open><!-- settings: (?P<features>[a-z0-9 ]+) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /settings -->)",
    re.DOTALL,
)


def _text(value: str | Generated, template: bool) -> str:
    if isinstance(value, Generated):
        return value.template() if template else value.value()
    return value


def _plain(doc: str) -> str:
    """A README doc line for a comment: no Markdown backticks."""
    return doc.replace("`", "")


def _rows(features: Iterable[str]) -> list[Variable]:
    wanted = set(features)
    order = [key for key, _ in FEATURES]
    rows = [row for row in VARIABLES.values() if row.feature in wanted]
    return sorted(rows, key=lambda row: order.index(row.feature))


def _project_name(template: bool) -> str:
    return _text(Generated("PROJECT_NAME", "project_name"), template)


def config_example(*, template: bool = False) -> str:
    """``scripts/backup-config.env.example``: every variable, by feature."""
    lines = [
        f"# {_project_name(template)} Backup Configuration",
        "# Copy to backup-config.env and customize",
        "# (scripts/db-backup.sh reads scripts/backup-config.env, or the file named by",
        "# BACKUP_CONFIG_FILE; variables set in the environment win over this file, and",
        "# this file wins over the files in BACKUP_ENV_FILES and the project's .env.)",
        "# Every setting with its default: tools/db-backup/README.md. This file is",
        f"# generated from src/db_backup/variables.py: {REGENERATE}",
    ]
    for key, heading in FEATURES:
        shown = [row for row in _rows([key]) if row.in_example in (ACTIVE, COMMENTED)]
        if not shown:
            continue
        lines += ["", f"# {heading}"]
        for row in shown:
            lines += _assignment(row, row.in_example, template)
    return "\n".join(lines) + "\n"


def fragment_example(*, template: bool = False) -> str:
    """The block added to the host project's ``.env.example``."""
    lines = [
        "# ===========================================",
        "# Database Backup Configuration",
        "# ===========================================",
        "# Full list of backup settings: scripts/backup-config.env.example",
    ]
    for row in _rows(key for key, _ in FEATURES):
        if row.in_fragment in (ACTIVE, COMMENTED):
            lines += ["", *_assignment(row, row.in_fragment, template)]
    return "\n".join(lines) + "\n"


def _assignment(row: Variable, how: str, template: bool) -> list[str]:
    value = row.example if row.example is not None and how == COMMENTED else row.default
    text = "" if row.secret else _text(value, template)
    prefix = "" if how == ACTIVE else "# "
    return [f"# {_plain(row.doc)}", f"{prefix}{row.name}={text}"]


def readme_table(features: Iterable[str], *, template: bool = False) -> str:
    """A Markdown table of the variables of ``features``."""
    lines = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for row in _rows(features):
        lines.append(f"| `{row.name}` | {_default_cell(row, template)} | {row.doc} |")
    return "\n".join(lines) + "\n"


def _default_cell(row: Variable, template: bool) -> str:
    if row.default_doc is not None:
        return row.default_doc
    value = _text(row.default, template)
    return f"`{value}`" if value else "(none)"


def readme(text: str, *, template: bool = False) -> str:
    """``text`` with every ``<!-- settings: ... -->`` block rewritten from the table."""

    def block(match: re.Match[str]) -> str:
        table = readme_table(match["features"].split(), template=template)
        return match["open"] + table + match["close"]

    return _README_BLOCK.sub(block, text)


def help_epilog() -> str:
    """The variable list of ``--help``: every name, by feature."""
    lines = [
        "Environment variables (the first source that sets one wins: the process",
        "environment, scripts/backup-config.env, the files in BACKUP_ENV_FILES, .env):",
    ]
    for key, heading in FEATURES:
        names = ", ".join(row.name for row in _rows([key]))
        lines += textwrap.wrap(
            f"{heading}: {names}", width=78, initial_indent="  ", subsequent_indent="    "
        )
    lines.append("  (each with its default and meaning: tools/db-backup/README.md)")
    return "\n".join(lines)


def expected_files(project_root: Path, *, template: bool = False) -> dict[Path, str]:
    """The project's generated files (env example, README) and the text the table gives them."""
    return {
        project_root / CONFIG_EXAMPLE: config_example(template=template),
        project_root / README: readme(
            (project_root / README).read_text(encoding="utf-8"), template=template
        ),
    }


def stale_files(expected: dict[Path, str]) -> list[Path]:
    """The files of ``expected`` whose text is not the expected one."""
    return [
        path
        for path, text in expected.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def regenerate(expected: dict[Path, str]) -> list[Path]:
    """Rewrite the stale files of ``expected``; returns them."""
    stale = stale_files(expected)
    for path in stale:
        path.write_text(expected[path], encoding="utf-8")
    return stale
