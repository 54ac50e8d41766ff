"""Edit text line by line without disturbing a byte the edit does not own.

Lines are split exactly where PyYAML counts line breaks, so a YAML node's line mark
indexes the right line, and added lines use the file's own line ending.
"""

from __future__ import annotations

import re
from pathlib import Path

BREAK = "\r\n\x85\u2028\u2029"  # the characters PyYAML counts as line breaks
LINE = re.compile(rf"[^{BREAK}]*(?:\r\n|[{BREAK}])|[^{BREAK}]+$")


class CannotMerge(Exception):
    """The file cannot be edited safely; the message says why."""


def read_text(path: Path) -> str:
    """A file's text with its line endings untouched; CannotMerge unless it is UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise CannotMerge("it is not UTF-8 text") from error


def split_lines(text: str) -> list[str]:
    """Lines with their endings, broken exactly where PyYAML counts line breaks."""
    return LINE.findall(text)


def line_ending(text: str) -> str:
    """The file's own line ending (CRLF or LF), so added lines match their neighbours."""
    return "\r\n" if "\r\n" in text else "\n"


def ends_with_newline(text: str) -> bool:
    """Whether the text's last line is terminated."""
    return text.endswith(tuple(BREAK))


def append_block(text: str, block: str) -> str:
    """Append ``block`` after one blank line, in the file's line ending."""
    eol = line_ending(text)
    block = block.replace("\n", eol)
    if not text.strip():
        return text + block
    if not ends_with_newline(text):
        text += eol
    if split_lines(text)[-1].strip():
        text += eol
    return text + block


def insert_after_line(text: str, line_index: int, new_lines: list[str]) -> str:
    """Insert ``new_lines`` (without endings) after line ``line_index``."""
    eol = line_ending(text)
    lines = split_lines(text)
    if not ends_with_newline(lines[line_index]):
        lines[line_index] += eol
    lines[line_index + 1 : line_index + 1] = [line + eol for line in new_lines]
    return "".join(lines)


def reindent(snippet: str, base: int, step: int) -> list[str]:
    """Re-indent a 2-space snippet whose top lines sit at 2 spaces to ``base``/``step``."""
    result = []
    for line in snippet.splitlines():
        if not line.strip():
            result.append("")
            continue
        level = (len(line) - len(line.lstrip(" "))) // 2
        result.append(" " * (base + (level - 1) * step) + line.lstrip(" "))
    return result
