"""Env files: read them for discovery, resolve compose-style ``${VAR}``, merge our blocks.

Reading is the common ``KEY=VALUE`` subset compose and the backup tool agree on. Merging
appends a block (or the missing .gitignore patterns) and keeps every byte already there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from .text_edit import append_block, split_lines

ENV_MARKER = "# Database Backup Configuration"
DATABASE_MARKER = "# PostgreSQL (compose.yml's postgres service)"
ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def parse_env(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines of an env file; comments and malformed lines are skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = ASSIGNMENT.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        value = match.group(2)
        if value[:1] in "'\"" and value.endswith(value[:1]) and len(value) > 1:
            value = value[1:-1]
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]
        values[match.group(1)] = value
    return values


def read_env(path: Path) -> dict[str, str]:
    """The variables of an env file, or none when it cannot be read."""
    try:
        return parse_env(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def interpolate(text: str, values: Mapping[str, str]) -> str | None:
    """Resolve compose's ``$VAR``, ``${VAR:-default}``, ``${VAR:?err}``... from ``values``.

    None when a variable is neither set nor given a default: the value is then only
    known where compose runs.
    """
    unresolved = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolved
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op") or "", match.group("arg") or ""
        value = values.get(name)
        empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("-") and empty:
            return arg
        if op.endswith("+"):
            return "" if empty else arg
        if value is None:
            unresolved = True
            return ""
        return value

    result = VARIABLE.sub(replace, text)
    return None if unresolved else result


def merge_env_example(text: str, block: str, marker: str = ENV_MARKER) -> str:
    """Append ``block`` unless its marker line is already there."""
    if any(line.strip() == marker for line in split_lines(text)):
        return text
    return append_block(text, block)


def ignore_key(line: str) -> str | None:
    """What a .gitignore line ignores, so ``/backups/``, ``backups`` and ``backups/*`` match."""
    pattern = line.strip()
    if not pattern or pattern.startswith(("#", "!")):
        return None
    pattern = pattern.lstrip("/")
    for suffix in ("/**", "/*"):
        pattern = pattern.removesuffix(suffix)
    return pattern.rstrip("/")


def merge_gitignore(text: str, fragment: str) -> str:
    """Append the fragment's patterns that the file does not ignore yet (with its comment)."""
    lines = split_lines(text)
    present = {ignore_key(line) for line in lines} - {None}
    existing = {line.strip() for line in lines}
    wanted = [line for line in fragment.splitlines() if ignore_key(line) not in present]
    if not any(ignore_key(line) for line in wanted):
        return text
    block = [line for line in wanted if ignore_key(line) or line.strip() not in existing]
    return append_block(text, "".join(line + "\n" for line in block))
