"""Where backups live: the backup directory and, optionally, an S3-compatible bucket.

``configured_stores`` gives the stores a run speaks to, local first; the S3
modules (and boto3) are imported only when a bucket is configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .base import BackupStore, StoredBackup
from .local import LocalStore

if TYPE_CHECKING:
    from .s3 import S3Store
    from .s3_settings import S3Settings

__all__ = ["BackupStore", "LocalStore", "StoredBackup", "configured_stores", "s3_store"]


def s3_store(settings: S3Settings | None) -> S3Store | None:
    """The bucket's store when one is configured."""
    if settings is None:
        return None
    from .s3 import S3Store

    return S3Store(settings)


def configured_stores(backup_dir: Path, s3: S3Settings | None) -> list[BackupStore]:
    """The backup directory, then the bucket when one is configured."""
    stores: list[BackupStore] = [LocalStore(backup_dir)]
    remote = s3_store(s3)
    if remote is not None:
        stores.append(remote)
    return stores
