"""Copies of backups in an S3-compatible bucket (AWS, MinIO, R2, B2, Ceph).

``S3Store`` is a ``BackupStore``: it checks the bucket before a dump
(``preflight``), uploads a backup and proves the upload (``put``), lists,
reads and deletes this database's backups (``list_backups``, ``open``,
``delete``). Every listing and deletion stays under ``${prefix}${type}/``
and matches only this database's file names, so a bucket shared by several
databases and projects is safe. boto3 is an optional extra, imported only
when a store talks to the endpoint.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

from ..checksums import parse_checksum_text
from ..compression import EXTENSIONS, codec_for_name
from ..encryption import AGE_SUFFIX
from ..errors import UploadError
from ..log import SUCCESS, fields
from ..naming import BACKUP_TYPES, CHECKSUM_SUFFIX, FAILED_SUFFIX, parse_backup_name
from ..progress import Progress, transfer_subscriber
from ..roles import roles_filename
from .base import StoredBackup
from .s3_errors import Target, translate
from .s3_retry import RetryBudget
from .s3_settings import MIB, S3Settings

__all__ = ["S3Settings", "S3Store"]

PREFLIGHT_NAME = ".db-backup-preflight-"
# Quick failure for the preflight: a wrong bucket or a dead endpoint is known in seconds.
PREFLIGHT_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 15}
TRANSFER_TIMEOUTS = {"connect_timeout": 10, "read_timeout": 120}
CLEANUP_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 30}
# Checks and cleanups retry for at most this long (a short outage), transfers for
# BACKUP_S3_RETRY_SECONDS.
QUICK_RETRY_SECONDS = 5
MAX_CONCURRENCY = 4  # parts in flight; each streams from the file, memory stays bounded

log = logging.getLogger(__name__)


class S3Store:
    """One bucket and prefix, reached with boto3's standard credential chain."""

    location = "s3"
    label = "remote"
    deletion_hint = "check that the credentials allow s3:DeleteObject on the bucket"

    def __init__(self, settings: S3Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}  # boto3 clients: untyped library objects
        self._proven: set[Path] = set()
        # A backup run makes its store once it holds the lock: multipart uploads of
        # this database begun before then belong to earlier runs.
        self.opened = dt.datetime.now(dt.timezone.utc)

    def where(self, backup_type: str | None = None) -> str:
        """``s3://bucket/prefix/`` or, for a type, ``s3://bucket/prefix/type/``."""
        s = self.settings
        return s.url(s.type_prefix(backup_type) if backup_type else s.prefix)

    # -- checks before the dump -------------------------------------------------------

    def preflight(self) -> None:
        """Fail in seconds if the bucket is missing, unreachable, unlistable or read-only.

        Lists the prefix, then writes and deletes a small object under it (with the
        configured encryption, so a bucket policy that demands it is honoured).
        """
        s = self.settings
        probe = f"{s.prefix}{PREFLIGHT_NAME}{uuid.uuid4().hex}"
        client = self._client("preflight")
        log.debug(f"S3 preflight: {s.url(s.prefix)} at {s.endpoint_url or 'AWS S3'}")
        step = Target("S3 preflight listing", s.bucket, s.prefix, s.endpoint_url)
        try:
            client.list_objects_v2(Bucket=s.bucket, Prefix=s.prefix, MaxKeys=1)
            step = Target("S3 preflight write", s.bucket, probe, s.endpoint_url)
            client.put_object(
                Bucket=s.bucket, Key=probe, Body=b"db-backup preflight\n", **self._encryption()
            )
            step = Target("S3 preflight delete", s.bucket, probe, s.endpoint_url)
            client.delete_object(Bucket=s.bucket, Key=probe)
        except Exception as exc:
            raise translate(exc, step) from exc
        log.info(f"S3 preflight passed: {s.url(s.prefix)} is listable and writable")

    def abort_stale_uploads(self, database: str) -> int:
        """Abort ``database``'s multipart uploads that earlier runs left unfinished.

        A run killed mid-upload leaves its parts in the bucket, billed but in no
        listing. Only uploads begun before this store was made (under the run's
        lock) whose key is one of ``database``'s backup names under
        ``${prefix}${type}/`` are aborted; other databases' uploads are never
        touched. Returns how many were aborted; a failure is only a warning.
        """
        s = self.settings
        aborted = 0
        folder = s.prefix
        try:
            client = self._client("cleanup")
            for backup_type in BACKUP_TYPES:
                folder = s.type_prefix(backup_type)
                pages = client.get_paginator("list_multipart_uploads").paginate(
                    Bucket=s.bucket, Prefix=folder
                )
                for upload in (u for page in pages for u in page.get("Uploads", [])):
                    name = str(upload.get("Key", ""))[len(folder) :]
                    if "/" in name or parse_backup_name(database, name) is None:
                        continue
                    if _aware(upload["Initiated"]) >= self.opened:
                        continue
                    client.abort_multipart_upload(
                        Bucket=s.bucket, Key=folder + name, UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except Exception as exc:
            target = Target("unfinished upload cleanup", s.bucket, folder, s.endpoint_url)
            error = translate(exc, target)
            log.warning(f"{error.msg} (unfinished multipart uploads of earlier runs may remain)")
        if aborted:
            log.info(
                f"aborted {aborted} unfinished multipart upload{'s' if aborted > 1 else ''} "
                f"of earlier runs of {database} under {s.url(s.prefix)}",
                extra=fields(event="s3_stale_uploads_aborted", bucket=s.bucket, count=aborted),
            )
        else:
            log.debug(f"no unfinished multipart uploads of earlier runs under {s.url(s.prefix)}")
        return aborted

    # -- upload -----------------------------------------------------------------------

    def put(self, path: Path, checksum_path: Path, backup_type: str) -> str:
        """Upload ``path`` then its ``.sha256``, proving the first before writing the second.

        Multipart with a part size that keeps the file within ``BACKUP_S3_MAX_PARTS``;
        the sha256 travels as object metadata and must come back, with the size,
        from ``head_object``. On any failure the key's unfinished multipart uploads
        are aborted and a backup object that failed its proof is deleted, so the
        bucket never holds a partial backup, and a ``.sha256`` object always means
        a complete one. Returns the backup's key.
        """
        s = self.settings
        key = s.object_key(backup_type, path.name)
        target = Target("upload", s.bucket, key, s.endpoint_url)
        try:
            sha256, checksum_body = read_checksum_file(checksum_path, path.name)
            size = path.stat().st_size
            part_size = s.part_size(size)
        except (OSError, ValueError) as exc:
            raise UploadError(f"upload of {s.url(key)} failed: {exc}") from exc
        parts = -(-size // part_size) if size >= part_size else 1
        log.info(
            f"uploading {path.name} ({size} bytes) to {s.url(key)}"
            + (f" in {parts} parts of {part_size // MIB} MiB" if parts > 1 else ""),
            extra=fields(
                event="s3_upload_start", bucket=s.bucket, key=key, size_bytes=size, parts=parts
            ),
        )
        try:
            self._transfer(path, key, sha256, part_size)
            self._prove(key, size, sha256)
            target = Target("upload", s.bucket, s.checksum_key(key), s.endpoint_url)
            self._client("transfer").put_object(
                Bucket=s.bucket,
                Key=s.checksum_key(key),
                Body=checksum_body,
                ContentType="text/plain",
                **self._encryption(),
            )
        except BaseException as exc:
            self._clean_up_failed_upload(key)
            if isinstance(exc, Exception):
                raise translate(exc, target) from exc
            raise
        self._proven.add(path.resolve())
        log.log(
            SUCCESS,
            f"uploaded {s.url(key)} and its .sha256 (size and sha256 match)",
            extra=fields(
                event="s3_upload", bucket=s.bucket, key=key, size_bytes=size, sha256=sha256
            ),
        )
        return key

    def delete_local_copy(self, path: Path, checksum_path: Path) -> bool:
        """Delete the local backup and its ``.sha256`` if this store proved their upload.

        For ``BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD``; returns whether anything was deleted
        (never a file whose upload this run did not prove).
        """
        if path.resolve() not in self._proven:
            log.warning(f"kept {path}: its upload was not proven in this run")
            return False
        for item in (path, checksum_path):
            item.unlink(missing_ok=True)
        log.info(f"deleted the local copy {path.name} (the bucket holds a proven copy)")
        return True

    def _transfer(self, path: Path, key: str, sha256: str, part_size: int) -> None:
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        s = self.settings
        options: dict[str, Any] = {
            "multipart_threshold": part_size,
            "multipart_chunksize": part_size,
            "max_concurrency": MAX_CONCURRENCY,
            "preferred_transfer_client": "classic",
        }
        try:
            config = TransferConfig(**options)
        except TypeError:  # boto3 before 1.28 has no CRT choice to make
            options.pop("preferred_transfer_client")
            config = TransferConfig(**options)
        extra: dict[str, Any] = {"Metadata": {"sha256": sha256}, **self._encryption()}
        codec = codec_for_name(path.name)
        if codec is not None:
            extra["ContentType"] = codec.content_type
        if s.storage_class:
            extra["StorageClass"] = s.storage_class
        with create_transfer_manager(self._client("transfer"), config) as manager:
            progress = Progress("upload", f"uploading {path.name}", total=path.stat().st_size)
            subscribers = [transfer_subscriber(progress)]
            manager.upload(
                str(path), s.bucket, key, extra_args=extra, subscribers=subscribers
            ).result()

    def _prove(self, key: str, size: int, sha256: str) -> None:
        """The object must have the local file's size and sha256, else it is deleted."""
        s = self.settings
        head = self._client("transfer").head_object(Bucket=s.bucket, Key=key)
        remote_size = int(head.get("ContentLength", -1))
        remote_sha = (head.get("Metadata") or {}).get("sha256", "")
        problems = []
        if remote_size != size:
            problems.append(f"size {remote_size} != local {size}")
        if remote_sha.lower() != sha256:
            problems.append(f"metadata sha256 {remote_sha or '(missing)'} != local {sha256}")
        if problems:
            raise UploadError(
                f"upload of {s.url(key)} failed its proof: {'; '.join(problems)}",
                hint="the object was deleted; the local backup is intact",
            )

    def _clean_up_failed_upload(self, key: str) -> None:
        """Abort the key's unfinished multipart uploads and delete a half-made backup."""
        s = self.settings
        try:
            client = self._client("cleanup")
            for page in client.get_paginator("list_multipart_uploads").paginate(
                Bucket=s.bucket, Prefix=key
            ):
                for upload in page.get("Uploads", []):
                    if upload.get("Key") == key:
                        client.abort_multipart_upload(
                            Bucket=s.bucket, Key=key, UploadId=upload["UploadId"]
                        )
                        log.info(f"aborted an unfinished multipart upload of {s.url(key)}")
            # Whatever reached the bucket lacks its .sha256 or failed its proof.
            client.delete_object(Bucket=s.bucket, Key=s.checksum_key(key))
            client.delete_object(Bucket=s.bucket, Key=key)
        except Exception as exc:
            error = translate(exc, Target("cleanup", s.bucket, key, s.endpoint_url))
            log.warning(f"{error.msg} (after the failed upload; check for leftovers)")

    # -- listing and deletion (retention) ---------------------------------------------

    def list_backups(self, database: str, backup_type: str | None = None) -> list[StoredBackup]:
        """This database's backups under ``${prefix}${type}/`` (every type: None), oldest first.

        Objects of other databases, other folders and other files are never returned.
        Raises ``UploadError`` when the bucket cannot be listed.
        """
        if backup_type is None:
            found = [b for t in BACKUP_TYPES for b in self.list_backups(database, t)]
            return sorted(found, key=lambda b: (b.modified, b.filename))
        s = self.settings
        folder = s.type_prefix(backup_type)
        found: dict[str, dict[str, Any]] = {}
        checksums: set[str] = set()
        others: set[str] = set()
        try:
            for item in self._list(folder):
                name = item["Key"][len(folder) :]
                if name.endswith(CHECKSUM_SUFFIX):
                    checksums.add(name[: -len(CHECKSUM_SUFFIX)])
                    continue
                parsed = parse_backup_name(database, name)
                if parsed is not None and parsed.backup_type == backup_type:
                    found[name] = item
                else:
                    others.add(name)
        except Exception as exc:
            raise translate(exc, Target("listing", s.bucket, folder, s.endpoint_url)) from exc
        objects = [
            StoredBackup.for_name(
                database,
                name,
                _aware(item["LastModified"]),
                int(item.get("Size", 0)),
                has_checksum=name in checksums,
                key=item["Key"],
                address=s.url(item["Key"]),
                has_roles=roles_filename(name) in others,
            )
            for name, item in found.items()
        ]
        return sorted(objects, key=lambda o: (o.modified, o.filename))

    def open(self, backup: StoredBackup) -> BinaryIO:
        """The object's bytes, streamed from the bucket; ``UploadError`` when unreadable,
        at the request or at any later read (a connection lost mid-object)."""
        s = self.settings
        target = Target("download", s.bucket, backup.key, s.endpoint_url)
        try:
            answer = self._client("transfer").get_object(Bucket=s.bucket, Key=backup.key)
        except Exception as exc:
            raise translate(exc, target) from exc
        return cast(BinaryIO, _Download(answer["Body"], target))

    def expected_sha256(self, backup: StoredBackup) -> str | None:
        """The digest of the backup's ``.sha256`` object; None when it has none."""
        if not backup.has_checksum:
            return None
        s = self.settings
        key = s.checksum_key(backup.key)
        try:
            answer = self._client("transfer").get_object(Bucket=s.bucket, Key=key)
            text = answer["Body"].read(4096).decode("utf-8", "replace")
        except Exception as exc:
            raise translate(exc, Target("download", s.bucket, key, s.endpoint_url)) from exc
        line = parse_checksum_text(text)
        return line.digest if line else None

    def delete(self, objects: Sequence[StoredBackup]) -> dict[str, str]:
        """Delete each backup object and its ``.sha256``; returns ``{filename: key}`` left behind.

        The ``.sha256`` goes first, so an interrupted deletion never leaves a
        checksum that claims a complete backup. A key outside ``${prefix}${type}/``
        or not shaped like a backup name is never touched and is returned.
        """
        s = self.settings
        left: dict[str, str] = {}
        client = None
        for obj in objects:
            if not self._is_deletable(obj):
                left[obj.filename] = obj.key
                continue
            try:
                client = client or self._client("transfer")
                client.delete_object(Bucket=s.bucket, Key=s.checksum_key(obj.key))
                client.delete_object(Bucket=s.bucket, Key=obj.key)
            except Exception:
                left[obj.filename] = obj.key
                continue
            roles_key = _companion_key(obj.key, roles_filename(obj.filename))
            try:  # deleting a key that does not exist succeeds
                client.delete_object(Bucket=s.bucket, Key=s.checksum_key(roles_key))
                client.delete_object(Bucket=s.bucket, Key=roles_key)
            except Exception:
                left[obj.filename] = f"{roles_key} (its roles file; the backup was deleted)"
        return left

    def companion(self, backup: StoredBackup, filename: str) -> StoredBackup | None:
        """The file ``filename`` stored beside ``backup`` (its roles file); None if absent."""
        s = self.settings
        key = _companion_key(backup.key, filename)
        client = self._client("transfer")
        try:
            head = client.head_object(Bucket=s.bucket, Key=key)
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise translate(exc, Target("download", s.bucket, key, s.endpoint_url)) from exc
        try:
            client.head_object(Bucket=s.bucket, Key=s.checksum_key(key))
            has_checksum = True
        except Exception as exc:
            if not _is_not_found(exc):
                raise translate(exc, Target("download", s.bucket, key, s.endpoint_url)) from exc
            has_checksum = False
        return StoredBackup(
            filename,
            None,
            _aware(head["LastModified"]),
            int(head["ContentLength"]),
            has_checksum,
            key,
            s.url(key),
        )

    def _is_deletable(self, obj: StoredBackup) -> bool:
        name = obj.filename
        if not name or "/" in name or name.endswith(CHECKSUM_SUFFIX):
            return False
        if not any(obj.key == self.settings.type_prefix(t) + name for t in BACKUP_TYPES):
            return False
        base = name[: -len(FAILED_SUFFIX)] if name.endswith(FAILED_SUFFIX) else name
        base = base.removesuffix(AGE_SUFFIX)  # an encrypted backup is a backup too
        return any(base.endswith(ext) for ext in EXTENSIONS.values())

    def _list(self, folder: str) -> Iterator[dict[str, Any]]:
        """Objects directly in ``folder`` (not in folders below it), every page."""
        paginator = self._client("transfer").get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.settings.bucket, Prefix=folder, Delimiter="/"):
            yield from page.get("Contents", [])

    # -- clients ----------------------------------------------------------------------

    def _encryption(self) -> dict[str, str]:
        s = self.settings
        args: dict[str, str] = {}
        if s.sse:
            args["ServerSideEncryption"] = s.sse
        if s.sse_kms_key_id:
            args["SSEKMSKeyId"] = s.sse_kms_key_id
        return args

    def _client(self, purpose: str) -> Any:
        """A client per purpose: quick timeouts for checks, patient ones for transfers."""
        if purpose not in self._clients:
            s = self.settings
            timeouts = {"preflight": PREFLIGHT_TIMEOUTS, "cleanup": CLEANUP_TIMEOUTS}.get(
                purpose, TRANSFER_TIMEOUTS
            )
            retry_seconds = s.retry_seconds
            if purpose in ("preflight", "cleanup"):
                retry_seconds = min(retry_seconds, QUICK_RETRY_SECONDS)
            self._clients[purpose] = make_client(
                s, **timeouts, max_attempts=s.max_attempts, retry_seconds=retry_seconds
            )
        return self._clients[purpose]


class _Download:
    """An object's body whose read failures are ``UploadError`` (exit 6), never a verdict."""

    def __init__(self, body: Any, target: Target) -> None:
        self._body = body
        self._target = target

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when negative)."""
        try:
            return cast(bytes, self._body.read(size if size >= 0 else None))
        except Exception as exc:
            raise translate(exc, self._target) from exc

    def close(self) -> None:
        """Release the connection."""
        self._body.close()


def make_client(
    settings: S3Settings,
    *,
    connect_timeout: int,
    read_timeout: int,
    max_attempts: int,
    retry_seconds: int,
) -> Any:
    """A boto3 S3 client for ``settings``: each request is tried at most ``max_attempts``
    times in all, and retried for at most ``retry_seconds`` (see ``RetryBudget``)."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        # total_max_attempts counts the first attempt; botocore's max_attempts would not.
        "retries": {"mode": "standard", "total_max_attempts": max_attempts},
        "s3": {"addressing_style": settings.addressing_style},
        "user_agent_extra": "db-backup",
    }
    if settings.checksum_mode:
        options["request_checksum_calculation"] = settings.checksum_mode
        options["response_checksum_validation"] = settings.checksum_mode
    try:
        config = Config(**options)
    except TypeError:
        # botocore before 1.36 knows neither setting, and sends none of the new checksums.
        options.pop("request_checksum_calculation", None)
        options.pop("response_checksum_validation", None)
        config = Config(**options)
    target = Target("S3 setup", settings.bucket, settings.prefix, settings.endpoint_url)
    try:
        session = boto3.session.Session(region_name=settings.region, **settings.credentials)
        client = session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            verify=str(settings.ca_bundle) if settings.ca_bundle else None,
            config=config,
        )
    except Exception as exc:
        raise translate(exc, target) from exc
    RetryBudget(max_attempts, retry_seconds).install(client)
    return client


def _companion_key(key: str, filename: str) -> str:
    """The key of ``filename`` in the same folder as ``key``."""
    folder, _, _ = key.rpartition("/")
    return f"{folder}/{filename}" if folder else filename


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def read_checksum_file(checksum_path: Path, filename: str) -> tuple[str, bytes]:
    """The sha256 hex in a ``sha256sum`` line for ``filename``, and the file's bytes."""
    body = checksum_path.read_bytes()
    line = parse_checksum_text(body.decode("utf-8", "replace"))
    if line is None or line.filename != filename:
        raise UploadError(f"{checksum_path} is not a sha256sum line for {filename}")
    return line.digest, body


def _aware(value: dt.datetime | str) -> dt.datetime:
    """``LastModified`` as a timezone-aware UTC datetime."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
