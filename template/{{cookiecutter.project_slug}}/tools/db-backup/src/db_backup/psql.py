"""psql, run one way: no psqlrc, no prompt, stop at the first error, connection from one builder.

``query`` runs SQL and returns its rows (fields split exactly, whatever the
data holds); ``load.DumpLoad`` runs the psql that restores a dump. Failures
come back as ``PsqlFailed`` or ``PsqlTimeout`` with the server's own words;
each caller turns them into the error of its step (a connection error for the
probe, a verification error for a test restore).
"""

from __future__ import annotations

import subprocess

from .children import child_options
from .connection import ConnectionInfo
from .tools import find_tool

FIELD_SEPARATOR = "\x1f"
CONNECTION_FAILED = 2  # psql's exit status when it cannot connect


class PsqlFailed(Exception):
    """psql exited non-zero: its status, the first line of its error, the rest."""

    def __init__(self, returncode: int, first: str, detail: str | None):
        super().__init__(first)
        self.returncode = returncode
        self.first = first
        self.detail = detail

    @property
    def connection_failed(self) -> bool:
        """Whether psql could not connect at all (rather than a statement failing)."""
        return self.returncode == CONNECTION_FAILED


class PsqlTimeout(Exception):
    """psql gave no answer within the time allowed."""

    def __init__(self, seconds: float):
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


def psql_command(*options: str, quiet: bool = True) -> list[str]:
    """psql that reads no ~/.psqlrc, never prompts, stops at the first error.

    ``quiet=False`` keeps the command tags (``COPY 1234``) on its output.
    """
    quiet_option = ["-q"] if quiet else []
    return [find_tool("psql"), "-X", "-w", *quiet_option, "-v", "ON_ERROR_STOP=1", *options]


def server_message(stderr: str) -> tuple[str, str | None]:
    """psql's error as (first line without the ``psql: error:`` prefix, the remaining lines)."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    if not lines:
        return "psql failed without a message", None
    first = lines[0]
    for prefix in ("psql: error: ", "psql: "):
        if first.startswith(prefix):
            first = first[len(prefix) :]
            break
    rest = "\n".join(lines[1:]) or None
    return first, rest


def query(
    connection: ConnectionInfo,
    sql: str,
    *,
    timeout: float | None = None,
    client_encoding: str | None = None,
) -> list[list[str]]:
    """Run ``sql`` (sent on stdin) and return its rows as lists of text fields."""
    command = psql_command("-A", "-t", "-F", FIELD_SEPARATOR, "-0", "-f", "-")
    try:
        done = subprocess.run(
            command,
            input=sql.encode("utf-8", "surrogateescape"),
            env=connection.child_env(client_encoding=client_encoding),
            capture_output=True,
            timeout=timeout,
            check=False,
            **child_options(),
        )
    except subprocess.TimeoutExpired:
        raise PsqlTimeout(timeout or 0) from None
    if done.returncode != 0:
        first, rest = server_message(done.stderr.decode("utf-8", "replace"))
        raise PsqlFailed(done.returncode, first, rest)
    out = done.stdout.decode("utf-8", "surrogateescape")
    return [record.split(FIELD_SEPARATOR) for record in out.split("\0") if record.strip("\n")]
