"""The backup directory as a store: each backup a file with its ``.sha256`` beside it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from ..atomic import create_exclusive, publish, remove_quietly, write_text_atomic
from ..checksums import (
    checksum_line,
    checksum_path_for,
    file_sha256,
    parse_checksum_text,
)
from ..errors import ConfigError, UploadError
from ..naming import CHECKSUM_SUFFIX, FAILED_SUFFIX, checksum_filename
from ..roles import roles_filename
from .base import StoredBackup


class LocalStore:
    """``BACKUP_DIR``: only this database's backup files are listed, read or deleted."""

    location = "local"
    label = "local"
    deletion_hint = (
        "check the permissions and attributes of those files (ls -l, lsattr), "
        "then delete them or rerun the backup"
    )

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def where(self, backup_type: str | None = None) -> str:
        """The directory (every type lives in it)."""
        return str(self.directory)

    def list_backups(self, database: str, backup_type: str | None = None) -> list[StoredBackup]:
        """Every backup of ``database`` in the directory, whatever ``backup_type`` says.

        A missing directory holds none; an unreadable one is a ``ConfigError``.
        """
        try:
            scan = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ConfigError(
                f"cannot read the backup directory {self.directory}: {exc.strerror or exc}",
                hint="check BACKUP_DIR and its permissions",
            ) from None
        names = {item.name for item in scan}
        found = []
        for item in scan:
            if item.name.endswith((CHECKSUM_SUFFIX, CHECKSUM_SUFFIX + FAILED_SUFFIX)):
                continue  # a checksum travels with its backup
            try:
                if not item.is_file(follow_symlinks=False):
                    continue
                stat = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            backup = StoredBackup.for_name(
                database,
                item.name,
                dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc),
                stat.st_size,
                has_checksum=checksum_filename(item.name) in names,
                key=item.path,
                has_roles=_roles_name(item.name) in names,
            )
            if backup.parsed is not None:
                found.append(backup)
        return sorted(found, key=lambda b: (b.modified, b.filename))

    def open(self, backup: StoredBackup) -> BinaryIO:
        """The backup file, opened for reading."""
        return Path(backup.key).open("rb")

    def expected_sha256(self, backup: StoredBackup) -> str | None:
        """The digest in the ``.sha256`` beside the backup; None when missing or unusable."""
        try:
            text = checksum_path_for(Path(backup.key)).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        line = parse_checksum_text(text)
        return line.digest if line else None

    def put(self, path: Path, checksum_path: Path, backup_type: str) -> str:
        """Copy a backup from elsewhere into the directory, proven by its ``.sha256``.

        A backup already in the directory is only checked. The copy is written under
        a temporary name, hashed, fsynced and published without replacing anything.
        """
        line = parse_checksum_text(checksum_path.read_text(encoding="utf-8", errors="replace"))
        if line is None:
            raise UploadError(f"{checksum_path} is not a sha256sum line for {path.name}")
        final = self.directory / path.name
        if path.resolve() != final.resolve():
            temporary = self.directory / f".{path.name}.copy-{os.getpid()}"
            try:
                fd = create_exclusive(temporary)
                with os.fdopen(fd, "wb") as target, path.open("rb") as source:
                    shutil.copyfileobj(source, target, 1 << 20)
                    target.flush()
                    os.fsync(target.fileno())
                _, digest = file_sha256(temporary)
                if digest != line.digest:
                    raise UploadError(f"copy of {path.name} does not match its .sha256")
                publish(temporary, final)
                write_text_atomic(checksum_path_for(final), checksum_line(digest, final.name))
            except OSError as exc:
                raise UploadError(f"cannot copy {path.name} to {self.directory}: {exc}") from None
            finally:
                remove_quietly(temporary)
        return str(final)

    def delete(self, backups: Sequence[StoredBackup]) -> dict[str, str]:
        """Delete each backup, then its checksum; returns ``{filename: what is left, why}``.

        When a backup itself cannot be deleted its checksum stays too, so what is
        left can still be verified.
        """
        left = {}
        for backup in backups:
            path = Path(backup.key)
            problem = _delete_pair(path)
            if problem is None and backup.parsed is not None:
                problem = _delete_pair(path.with_name(roles_filename(path.name)))
                if problem:
                    problem += " (its roles file; the backup was deleted)"
            if problem:
                left[backup.filename] = problem
        return left

    def companion(self, backup: StoredBackup, filename: str) -> StoredBackup | None:
        """The file ``filename`` beside ``backup`` (its roles file); None if absent."""
        path = Path(backup.key).with_name(filename)
        try:
            stat = path.stat()
        except OSError:
            return None
        return StoredBackup(
            filename,
            None,
            dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc),
            stat.st_size,
            checksum_path_for(path).exists(),
            str(path),
            str(path),
        )


def _roles_name(filename: str) -> str | None:
    """The roles file's name for a backup's name (None for a name that is no backup's)."""
    try:
        return roles_filename(filename)
    except ValueError:
        return None


def _delete_pair(path: Path) -> str | None:
    checksum = checksum_path_for(path)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if checksum.exists():
            return f"{path.name} ({reason}; its {CHECKSUM_SUFFIX} kept with it)"
        return f"{path.name} ({reason})"
    try:
        checksum.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        return f"{checksum.name} ({exc.strerror or exc}; its backup was deleted)"
    return None
