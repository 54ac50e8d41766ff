"""One exception per exit code of the backup contract.

Every failure the tool can report is raised as a ``BackupError`` subclass
carrying a one-line ``msg`` plus optional ``detail`` and ``hint`` (as
PostgreSQL's own messages do). Only ``cli`` turns them into exit codes.
"""

from __future__ import annotations


class BackupError(Exception):
    """Base class: a failure with an exit code, a message, detail and hint."""

    exit_code = 1

    def __init__(self, msg: str, *, detail: str | None = None, hint: str | None = None):
        super().__init__(msg)
        self.msg = msg
        self.detail = detail
        self.hint = hint

    def lines(self) -> list[str]:
        """The message, then ``detail:`` and ``hint:`` lines when present."""
        out = [self.msg]
        if self.detail:
            out.append(f"detail: {self.detail}")
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out


class GeneralError(BackupError):
    """Exit 1: anything not covered below (for example another run holds the lock)."""

    exit_code = 1


class ConfigError(BackupError):
    """Exit 2: bad flags, settings, missing tools or an unusable backup directory."""

    exit_code = 2


class DatabaseConnectionError(BackupError):
    """Exit 3: the server cannot be reached or refuses the credentials."""

    exit_code = 3


class DumpError(BackupError):
    """Exit 4: pg_dump, the compressor or the write of the backup file failed."""

    exit_code = 4


class VerifyError(BackupError):
    """Exit 5: a backup failed one of the verification checks."""

    exit_code = 5


class UploadError(BackupError):
    """Exit 6: remote storage refused, lost or mangled the backup."""

    exit_code = 6


class CleanupError(BackupError):
    """Exit 7: the backup succeeded but retention could not delete old backups."""

    exit_code = 7


class Interrupted(BackupError):
    """Exit 1: the run was stopped by SIGINT or SIGTERM and cleaned up after itself."""

    exit_code = 1


class RestoreError(BackupError):
    """Exit 8 (db-restore): the restore failed; the new database was dropped, the live one kept."""

    exit_code = 8


class SwapError(BackupError):
    """Exit 9 (db-restore): putting the restore in place of the live database failed."""

    exit_code = 9
