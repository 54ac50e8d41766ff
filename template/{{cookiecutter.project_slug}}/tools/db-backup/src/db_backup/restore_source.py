"""Which backup a restore reads: ``latest`` (local, then S3), a path, a name, an s3:// URL.

``latest`` is the newest *good* backup (not quarantined, with its ``.sha256``):
in ``BACKUP_DIR`` first and, when none is there and a bucket is configured, in
the bucket; ``--from`` picks one of them. A name or path is taken as given; a
missing one is a configuration error (exit 2) that says where it looked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from .encryption import AGE_SUFFIX, IDENTITY_VARIABLE, check_identity
from .errors import BackupError, ConfigError, VerifyError
from .naming import FAILED_SUFFIX, parse_backup_name
from .storage.base import BackupStore, StoredBackup
from .storage.local import LocalStore
from .storage.s3_settings import S3Settings

LATEST = "latest"
SOURCES = ("local", "s3")
S3_SCHEME = "s3://"


@dataclass(frozen=True)
class ChosenBackup:
    """A backup to restore and the store that holds it."""

    store: BackupStore
    backup: StoredBackup
    identity: Path | None = None  # BACKUP_AGE_IDENTITY_FILE, for encrypted backups

    @property
    def name(self) -> str:
        """The backup's file name."""
        return self.backup.filename

    @property
    def address(self) -> str:
        """Where it is, for people."""
        return self.backup.address or self.backup.key

    @property
    def encrypted(self) -> bool:
        """Whether its name says it is sealed with age (the bytes decide when it is read)."""
        return self.name.removesuffix(FAILED_SUFFIX).endswith(AGE_SUFFIX)

    def with_identity(self, identity: Path | None) -> ChosenBackup:
        """The same backup with the identity that decrypts it (and its roles file).

        An encrypted backup without one is a ``ConfigError`` (exit 2) before anything runs.
        """
        if self.encrypted and identity is None:
            raise ConfigError(
                f"{self.name} is encrypted: restoring it needs {IDENTITY_VARIABLE}",
                hint=f"set {IDENTITY_VARIABLE} to the age identity (private key) of one of "
                "its recipients; restore where that key lives",
            )
        if self.encrypted and identity is not None:
            check_identity(identity)
        return dataclasses.replace(self, identity=identity)

    def expected_sha256(self) -> str:
        """The digest its ``.sha256`` records; ``VerifyError`` (exit 5) when there is none."""
        try:
            digest = self.store.expected_sha256(self.backup)
        except BackupError:
            if not self.address.startswith(S3_SCHEME):
                raise
            digest = None  # no .sha256 object beside it
        if digest is None:
            raise VerifyError(
                f"checksum: {self.name}.sha256 is missing or holds no sha256 digest",
                detail=f"every backup is written with a .sha256 beside it ({self.address})",
                hint="copy the .sha256 together with the backup; if you trust the file, "
                "recreate it with: sha256sum FILE > FILE.sha256",
            )
        return digest


def choose_backup(
    requested: str,
    *,
    database: str,
    backup_dir: Path,
    s3: S3Settings | None,
    backup_type: str | None = None,
    source: str | None = None,
) -> ChosenBackup:
    """The backup that ``requested`` names; ``ConfigError`` when there is none."""
    if requested == LATEST:
        return _latest(database, backup_dir, s3, backup_type, source)
    if backup_type is not None or source is not None:
        raise ConfigError("--type and --from go with 'latest', not with a named backup")
    if requested.startswith(S3_SCHEME):
        return _s3_object(requested, database, s3)
    return _local_file(requested, database, backup_dir)


def _latest(
    database: str,
    backup_dir: Path,
    s3: S3Settings | None,
    backup_type: str | None,
    source: str | None,
) -> ChosenBackup:
    if source == "s3" and s3 is None:
        raise ConfigError("--from=s3 needs BACKUP_S3_BUCKET")
    places: list[BackupStore] = []
    if source in (None, "local"):
        places.append(LocalStore(backup_dir))
    if source in (None, "s3") and s3 is not None:
        places.append(_s3_store(s3))
    for store in places:
        good = [b for b in store.list_backups(database, backup_type) if b.good]
        if backup_type is not None:
            good = [b for b in good if b.parsed and b.parsed.backup_type == backup_type]
        if good:
            newest = max(good, key=lambda b: (_when(b), b.filename))
            return ChosenBackup(store, newest)
    kind = f"{backup_type} " if backup_type else ""
    where = " or ".join(store.where() for store in places)
    raise ConfigError(
        f"no good {kind}backup of {database} to restore in {where}",
        hint="scripts/db-restore.sh --list shows what there is; name a file to restore it",
    )


def _when(backup: StoredBackup) -> dt.datetime:
    """The time in the backup's name (the store's modification time when it has none)."""
    stamp = backup.parsed.timestamp if backup.parsed else None
    if stamp is None:
        return backup.modified
    return stamp.astimezone(dt.timezone.utc)


def _local_file(requested: str, database: str, backup_dir: Path) -> ChosenBackup:
    path = Path(requested).expanduser()
    if os.sep not in requested and not path.exists():
        path = backup_dir / requested  # a bare name: a file in BACKUP_DIR
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"no such backup: {requested}",
            hint=f"give a path, or the name of a file in {backup_dir}; "
            "scripts/db-restore.sh --list shows what there is",
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise ConfigError(f"{path} is not a file")
    path = path.resolve()
    backup = StoredBackup(
        filename=path.name,
        parsed=parse_backup_name(database, path.name),
        modified=dt.datetime.fromtimestamp(stat.st_mtime, dt.timezone.utc),
        size=stat.st_size,
        has_checksum=Path(f"{path}.sha256").is_file(),
        key=str(path),
        address=str(path),
    )
    return ChosenBackup(LocalStore(path.parent), backup)


def _s3_object(url: str, database: str, s3: S3Settings | None) -> ChosenBackup:
    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    if not bucket or not key or key.endswith("/"):
        raise ConfigError(f"{url} does not name an object: write s3://BUCKET/KEY")
    if s3 is None:
        raise ConfigError(
            f"restoring {url} needs the S3 settings",
            hint="set BACKUP_S3_BUCKET (and the endpoint and credentials) as for uploads",
        )
    settings = dataclasses.replace(s3, bucket=bucket) if bucket != s3.bucket else s3
    store = _s3_store(settings)
    filename = key.rsplit("/", 1)[-1]
    backup = StoredBackup(
        filename=filename,
        parsed=parse_backup_name(database, filename),
        modified=dt.datetime.now(dt.timezone.utc),
        size=0,
        has_checksum=True,  # looked up when the checksum is read
        key=key,
        address=url,
    )
    return ChosenBackup(store, backup)


def _s3_store(settings: S3Settings) -> BackupStore:
    from .storage.s3 import S3Store

    return S3Store(settings)
