"""Names checked up front: control characters, PostgreSQL's 63 bytes, the file system's limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from db_backup import identifiers
from db_backup.errors import ConfigError
from db_backup.identifiers import check_file_name_room, check_identifier
from db_backup.values import get_str


@pytest.mark.parametrize("value", ["shop", "d" * 63, "é" * 31, "shop floor ", "Ünïcødé"])
def test_names_postgresql_keeps_pass(value: str) -> None:
    check_identifier("POSTGRES_DB", value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("a\nb", "control character ('\\n')"),
        ("a\x00", "control character"),
        ("a\x85b", "control character"),  # C1 control (NEL)
        ("d" * 64, "64 bytes long"),
        ("é" * 32, "64 bytes long"),
    ],
)
def test_names_postgresql_would_change_are_one_line_config_errors(value: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_identifier("POSTGRES_DB", value)
    assert words in caught.value.msg
    assert caught.value.lines() == [caught.value.msg]
    assert "\n" not in caught.value.msg


def test_a_file_system_with_short_names_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "pathconf", lambda path, name: 80)
    check_file_name_room(tmp_path, "shop")
    with pytest.raises(ConfigError) as caught:
        check_file_name_room(tmp_path, "d" * 40)
    assert "the file system allows 80" in caught.value.msg


def test_the_longest_name_fits_an_ordinary_file_system(tmp_path: Path) -> None:
    longest = "d" * identifiers.MAX_IDENTIFIER_BYTES
    check_file_name_room(tmp_path, longest)
    # The partial name, the longest the tool writes, can really be created here.
    partial = f".{longest}_monthly_20250101_000000_schema.sql.zst.partial-4194304"
    (tmp_path / partial).write_bytes(b"")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("trail ", "trail "), (" lead", " lead"), ("   ", "fallback"), ("", "fallback")],
)
def test_text_values_are_taken_as_given(raw: str, expected: str) -> None:
    assert get_str({"NAME": raw}, "NAME", "fallback") == expected
