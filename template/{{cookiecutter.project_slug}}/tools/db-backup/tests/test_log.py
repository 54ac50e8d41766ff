"""Log lines: the contract's text format, JSON lines, streams, verbosity and redaction."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator

import pytest

from db_backup import log as log_module
from db_backup.log import SUCCESS, add_secrets, configure, fields, format_text, redact

WHEN = dt.datetime(2024, 3, 1, 2, 5, 9)
LINE = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\] \[(\w+)\] (.*)$")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """A module logger of the package, configured afresh (text, not verbose, no secrets)."""
    package = logging.getLogger(log_module.PACKAGE)
    monkeypatch.setattr(package, "handlers", [])
    monkeypatch.setattr(log_module, "_redactor", log_module.Redactor())
    monkeypatch.setattr(log_module, "_state", {"format": "text"})
    configure(fmt="text", verbose=False)
    yield logging.getLogger(f"{log_module.PACKAGE}.somewhere")


def test_text_line_format_is_exactly_the_contract() -> None:
    """``[YYYY-mm-dd HH:MM:SS] [LEVEL] message``."""
    assert format_text(WHEN, "INFO", "hello") == "[2024-03-01 02:05:09] [INFO] hello"


def test_levels_go_to_the_right_stream(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """INFO and SUCCESS on stdout; ERROR and WARNING on stderr; each line in the contract."""
    log.info("i")
    log.log(SUCCESS, "s")
    log.warning("w")
    log.error("e")
    out, err = capsys.readouterr()
    assert [LINE.match(line).groups() for line in out.splitlines()] == [  # type: ignore[union-attr]
        ("INFO", "i"),
        ("SUCCESS", "s"),
    ]
    assert [LINE.match(line).groups() for line in err.splitlines()] == [  # type: ignore[union-attr]
        ("WARNING", "w"),
        ("ERROR", "e"),
    ]


def test_a_level_that_does_not_exist_is_an_error(log: logging.Logger) -> None:
    """Only real logging methods exist: a wrong name fails instead of logging nothing."""
    with pytest.raises(AttributeError):
        log.notice("no such level")  # type: ignore[attr-defined]


@pytest.mark.parametrize("verbose", [False, True])
def test_debug_only_when_verbose(
    log: logging.Logger, capsys: pytest.CaptureFixture[str], verbose: bool
) -> None:
    """DEBUG lines appear with -v only."""
    configure(verbose=verbose)
    log.debug("detail")
    assert ("[DEBUG] detail" in capsys.readouterr().out) is verbose


def test_json_lines_have_ts_level_message_and_fields(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """One JSON object per line, with ``ts``, ``level``, ``message`` and the extra fields."""
    configure(fmt="json")
    log.log(SUCCESS, "Backup created", extra=fields(file="/b/x.sql.gz", size_bytes=10))
    log.error("boom", extra=fields(exit_code=4))
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert list(record)[:3] == ["ts", "level", "message"]
    assert record["level"] == "SUCCESS"
    assert record["message"] == "Backup created"
    assert record["file"] == "/b/x.sql.gz" and record["size_bytes"] == 10
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$", record["ts"])
    assert json.loads(err)["exit_code"] == 4


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_the_output(
    log: logging.Logger, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """A registered secret is replaced by *** in messages and fields."""
    configure(fmt=fmt)
    add_secrets("s3cr3t-long", "pw-Zq9!")
    log.info("password is s3cr3t-long", extra=fields(detail="again s3cr3t-long"))
    log.error("pw-Zq9!@host")
    out, err = capsys.readouterr()
    assert "s3cr3t" not in out + err and "Zq9" not in out + err
    assert "***" in out and "***@host" in err


def test_a_short_password_does_not_garble_text(
    log: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 3-letter password is masked where it stands alone, not inside other words."""
    add_secrets("ups")
    log.info("Backup created: groups_daily.sql.gz; password ups; url u:ups@h")
    out = capsys.readouterr().out
    assert out.rstrip().endswith("Backup created: groups_daily.sql.gz; password ***; url u:***@h")


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("abcdef abc", ["abc", "abcdef", ""], "*** ***"),
        ("nothing here", [""], "nothing here"),
        ("postgres@localhost", ["postgres"], "***@localhost"),
        ("xlong-secret-valuey", ["long-secret-value"], "x***y"),
        ("cabc abcd abc_d abc", ["abc"], "cabc abcd abc_d ***"),
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    """Long secrets anywhere, short ones as whole tokens; longer secrets first."""
    assert redact(text, secrets) == expected
