"""The server's roles, kept beside each backup, so a restore onto a new server finds its owners.

A dump names the roles that own its objects and hold its grants, but roles live
in the server, not in a database. ``write_roles_file`` runs ``pg_dumpall
--roles-only`` into ``<backup stem>.roles.sql`` with its own ``.sha256`` (role
passwords only when the backup role may read them: a superuser). The name never
matches the contract's ``{db}_{type}_*.sql.gz``. ``plan_roles`` reads such a file
and keeps only the statements about roles the target server lacks, so
``--with-roles`` creates what is missing and leaves every existing role as it is.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .atomic import create_exclusive, publish, remove_quietly, write_text_atomic
from .checksums import checksum_line, checksum_path_for, file_sha256
from .compression import EXTENSIONS
from .connection import ConnectionInfo
from .encryption import Encryption
from .naming import parse_backup_name
from .pipeline import PipelineError, Stage, run_pipeline
from .tools import find_tool

ROLES_EXTENSION = ".roles.sql"
MAX_ROLES_FILE_BYTES = 64 << 20  # far above any real server's roles; read whole to apply

log = logging.getLogger(__name__)

_IDENT = r'(?:"(?:[^"]|"")*"|[^\s;"]+)'
_ROLE_STATEMENT = re.compile(
    rf"^(?:CREATE ROLE|ALTER ROLE|COMMENT ON ROLE)\s+(?P<role>{_IDENT})", re.IGNORECASE
)
_MEMBERSHIP = re.compile(
    rf"^GRANT\s+(?P<granted>{_IDENT})\s+TO\s+(?P<member>{_IDENT})", re.IGNORECASE
)
_GRANTED_BY = re.compile(rf"\s+GRANTED BY\s+{_IDENT}\s*$", re.IGNORECASE)


def roles_filename(backup_filename: str) -> str:
    """``shop_daily_20250101_020000.sql.gz`` -> ``shop_daily_20250101_020000.roles.sql``.

    Whatever follows the compression extension (``.failed``, an encryption suffix)
    follows the roles extension too, so the pair always travels together.
    """
    for extension in EXTENSIONS.values():
        stem, found, tail = backup_filename.rpartition(extension)
        if found:
            return stem + ROLES_EXTENSION + tail
    raise ValueError(f"not a backup file name: {backup_filename!r}")


def is_roles_filename(database: str, filename: str) -> bool:
    """Whether ``filename`` is the roles file of one of ``database``'s backups."""
    stem, found, tail = filename.rpartition(ROLES_EXTENSION)
    return bool(found) and parse_backup_name(database, f"{stem}.sql.gz{tail}") is not None


def pg_dumpall_command(pg_dumpall: str, database: str, *, with_passwords: bool) -> list[str]:
    """The roles of the server (memberships included), connecting to ``database``."""
    argv = [pg_dumpall, "--roles-only", "--no-password", f"--database={database}"]
    if not with_passwords:
        argv.append("--no-role-passwords")
    return argv


@dataclass(frozen=True)
class RolesFile:
    """A published roles file and its digest."""

    path: Path
    checksum_path: Path
    sha256: str


def write_roles_file(
    connection: ConnectionInfo,
    backup_path: Path,
    *,
    with_passwords: bool,
    encryption: Encryption | None = None,
) -> RolesFile:
    """Write the roles file beside ``backup_path``; ``RolesError`` if pg_dumpall fails.

    The output goes from pg_dumpall straight into a hidden temporary file, which is
    hashed, published under its final name and given its ``.sha256``. With
    ``encryption`` it passes through ``age`` first, as the backup does (``.roles.sql.age``
    beside a ``.sql.gz.age``): role names and password hashes never reach the disk plain.
    """
    final = backup_path.with_name(roles_filename(backup_path.name))
    temporary = final.with_name(f".{final.name}.partial-{os.getpid()}")
    command = pg_dumpall_command(
        find_tool("pg_dumpall"), connection.dbname, with_passwords=with_passwords
    )
    published: list[Path] = []
    try:
        fd = create_exclusive(temporary)
        try:
            stages = [Stage(command, "pg_dumpall")]
            if encryption is not None:
                stages.append(Stage(encryption.encrypt_command(), "age"))
            try:
                run_pipeline(
                    stages, env=connection.child_env(), stdin=subprocess.DEVNULL, stdout=fd
                )
            except PipelineError as exc:
                lines = [line for line in exc.stderr_tail if line.strip()]
                raise RolesError(lines[0] if lines else exc.message) from None
            os.fsync(fd)
        finally:
            os.close(fd)
        _, digest = file_sha256(temporary)
        publish(temporary, final)
        published.append(final)
        checksum = checksum_path_for(final)
        write_text_atomic(checksum, checksum_line(digest, final.name))
        published.append(checksum)
    except OSError as exc:
        _remove_all([temporary, *published])
        raise RolesError(f"cannot write {final.name}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_all([temporary, *published])
        raise
    return RolesFile(final, checksum, digest)


class RolesError(Exception):
    """The roles file could not be written (the backup itself is unaffected)."""


@dataclass(frozen=True)
class RolesPlan:
    """What applying a roles file to one server would do."""

    statements: tuple[str, ...]  # in file order, for roles the server lacks
    created: tuple[str, ...]  # roles to be created
    existing: tuple[str, ...]  # roles in the file the server already has (left alone)

    def script(self) -> str:
        """The statements as one transaction."""
        body = "".join(f"{statement};\n" for statement in self.statements)
        return f"BEGIN;\n{body}COMMIT;\n"


def plan_roles(text: str, existing_roles: set[str], *, superuser: bool) -> RolesPlan:
    """The statements of a ``pg_dumpall --roles-only`` file about roles not in ``existing_roles``.

    ``GRANT a TO b`` is kept only when ``b`` is new. Without superuser rights the
    ``GRANTED BY`` clause is dropped (only a superuser may name another grantor).
    Session ``SET`` lines are kept; psql meta-commands and anything else are left out.
    """
    statements: list[str] = []
    created: list[str] = []
    existing: list[str] = []
    for statement in split_statements(text):
        head = statement.split(None, 1)[0].upper()
        if head == "SET":
            statements.append(statement)
            continue
        match = _ROLE_STATEMENT.match(statement)
        if match:
            role = unquote(match["role"])
            if role in existing_roles:
                if statement.upper().startswith("CREATE ROLE"):
                    existing.append(role)
                continue
            if statement.upper().startswith("CREATE ROLE"):
                created.append(role)
            statements.append(statement)
            continue
        match = _MEMBERSHIP.match(statement)
        if match:
            if unquote(match["member"]) in existing_roles:
                continue
            if not superuser:
                statement = _GRANTED_BY.sub("", statement)
            statements.append(statement)
            continue
        log.debug(f"roles file: left out: {statement[:80]}")
    if not created:
        statements = [s for s in statements if s.split(None, 1)[0].upper() != "SET"]
    return RolesPlan(tuple(statements), tuple(created), tuple(existing))


def split_statements(text: str) -> list[str]:
    """SQL statements of ``text`` without their ``;``: quotes respected, comments and
    psql meta-command lines (``\\restrict``) skipped."""
    statements: list[str] = []
    current: list[str] = []
    quote = ""
    for line in text.splitlines(keepends=True):
        if not quote and not "".join(current).strip():
            stripped = line.lstrip()
            if stripped.startswith(("--", "\\")) or not stripped:
                continue
        position = 0
        while position < len(line):
            char = line[position]
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == ";":
                current.append(line[:position])
                statement = "".join(current).strip()
                if statement:
                    statements.append(statement)
                current = []
                line = line[position + 1 :]
                position = 0
                continue
            position += 1
        current.append(line)
    return statements


def unquote(identifier: str) -> str:
    """The name an SQL identifier stands for (``"A""b"`` -> ``A"b``)."""
    if identifier.startswith('"') and identifier.endswith('"') and len(identifier) >= 2:
        return identifier[1:-1].replace('""', '"')
    return identifier


def _remove_all(paths: list[Path]) -> None:
    for path in paths:
        remove_quietly(path)
