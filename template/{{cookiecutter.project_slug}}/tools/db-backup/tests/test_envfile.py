"""The env file format: comments, export, quotes; nothing expanded."""

from __future__ import annotations

import pytest

from db_backup.envfile import parse_env_text
from db_backup.errors import ConfigError


def test_env_file_subset() -> None:
    """Comments, blank lines, export, quotes and inline comments, values taken literally."""
    text = """
# comment
export A=1
B = 'two words'
C="x # not a comment"
D=plain # comment
E=$HOME
"""
    assert parse_env_text(text) == {
        "A": "1",
        "B": "two words",
        "C": "x # not a comment",
        "D": "plain",
        "E": "$HOME",
    }


@pytest.mark.parametrize("text", ["no equals sign", "A='unterminated", "1A=x"])
def test_malformed_lines_are_config_errors(text: str) -> None:
    """A line that is not KEY=VALUE is exit 2 with its line number."""
    with pytest.raises(ConfigError, match=":1:"):
        parse_env_text(text)
