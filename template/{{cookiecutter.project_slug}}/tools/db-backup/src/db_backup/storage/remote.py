"""The shape of a backup object in remote storage, shared by upload, listing and retention."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class RemoteObject:
    """One object under ``${BACKUP_S3_PREFIX}${type}/``."""

    key: str
    filename: str
    size: int
    last_modified: dt.datetime  # timezone-aware (UTC)
    has_checksum: bool
