"""Log lines: the contract's text format, JSON lines, streams, verbosity and redaction."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest

from db_backup.log import Logger, format_text, redact

WHEN = dt.datetime(2024, 3, 1, 2, 5, 9)


def make_logger(**kwargs: object) -> tuple[Logger, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    logger = Logger(out=out, err=err, clock=lambda: WHEN, **kwargs)  # type: ignore[arg-type]
    return logger, out, err


def test_text_line_format_is_exactly_the_contract() -> None:
    """``[YYYY-mm-dd HH:MM:SS] [LEVEL] message``."""
    assert format_text(WHEN, "INFO", "hello") == "[2024-03-01 02:05:09] [INFO] hello"


def test_levels_go_to_the_right_stream() -> None:
    """INFO and SUCCESS on stdout; ERROR and WARNING on stderr."""
    log, out, err = make_logger()
    log.info("i")
    log.success("s")
    log.warning("w")
    log.error("e")
    assert out.getvalue().splitlines() == [
        "[2024-03-01 02:05:09] [INFO] i",
        "[2024-03-01 02:05:09] [SUCCESS] s",
    ]
    assert err.getvalue().splitlines() == [
        "[2024-03-01 02:05:09] [WARNING] w",
        "[2024-03-01 02:05:09] [ERROR] e",
    ]


@pytest.mark.parametrize("verbose", [False, True])
def test_debug_only_when_verbose(verbose: bool) -> None:
    """DEBUG lines appear with -v only."""
    log, out, _ = make_logger(verbose=verbose)
    log.debug("detail")
    assert ("[DEBUG] detail" in out.getvalue()) is verbose


def test_json_lines_have_ts_level_message_and_fields() -> None:
    """One JSON object per line, with ``ts``, ``level``, ``message`` and the extra fields."""
    log, out, err = make_logger(fmt="json")
    log.success("Backup created", file="/b/x.sql.gz", size_bytes=10)
    log.error("boom", exit_code=4)
    record = json.loads(out.getvalue())
    assert record["level"] == "SUCCESS"
    assert record["message"] == "Backup created"
    assert record["file"] == "/b/x.sql.gz" and record["size_bytes"] == 10
    assert re.match(r"^2024-03-01T02:05:09[+-]\d{2}:\d{2}$", record["ts"])
    assert json.loads(err.getvalue())["exit_code"] == 4


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_reach_the_output(fmt: str) -> None:
    """A registered secret is replaced by *** in messages and fields."""
    log, out, err = make_logger(fmt=fmt)
    log.add_secret("s3cr3t")
    log.info("password is s3cr3t", detail="again s3cr3t")
    log.error("s3cr3t!")
    assert "s3cr3t" not in out.getvalue() + err.getvalue()
    assert "***" in out.getvalue()


def test_redact_prefers_longer_secrets_and_ignores_empty_ones() -> None:
    """Overlapping secrets are both hidden; an empty secret changes nothing."""
    assert redact("abcdef abc", ["abc", "abcdef", ""]) == "*** ***"
    assert redact("nothing here", [""]) == "nothing here"
