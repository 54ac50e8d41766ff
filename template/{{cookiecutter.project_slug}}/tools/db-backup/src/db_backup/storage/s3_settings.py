"""S3 settings read from the environment, and the pure rules built on them.

Nothing here imports boto3, so a bad value is a ``ConfigError`` (exit 2) in
every environment, and the rules (object keys, part sizes) are testable
without an S3 client. Credentials are never read here: boto3 finds them in its
standard chain (environment, shared profile, IAM role, web identity).
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..naming import BACKUP_TYPES, CHECKSUM_SUFFIX
from ..variables import read_bool, read_int, read_text

MIB = 1024 * 1024
MAX_PARTS = 10_000
MIN_PART_SIZE = 5 * MIB  # S3's smallest part but the last
DEFAULT_PART_SIZE = 8 * MIB
MAX_PART_SIZE = 5 * 1024 * MIB  # S3's largest part
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MIB  # 5 TiB
DEFAULT_PREFIX = "backups/"
ADDRESSING_STYLES = ("auto", "path", "virtual")
CHECKSUM_MODES = ("when_supported", "when_required")
SSE_MODES = ("AES256", "aws:kms")
INSTALL_HINT = "pip install 'tools/db-backup[s3]' (or the Debian package python3-boto3)"

_STORAGE_CLASS = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class S3Settings:
    """Where and how backups are copied to an S3-compatible bucket."""

    bucket: str
    prefix: str  # normalised: no leading '/', always ends with '/'
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    ca_bundle: Path | None = None
    storage_class: str | None = None
    sse: str | None = None
    sse_kms_key_id: str | None = None
    max_attempts: int = 20  # per request, the first included
    retry_seconds: int = 30  # per request, from its first failure; 0: no retry
    checksum_mode: str | None = None  # None: boto3's own default (AWS)
    delete_local_after_upload: bool = False
    part_size_override: int | None = None  # bytes; BACKUP_S3_PART_SIZE_MB
    max_parts: int = MAX_PARTS  # the store's part-count limit; BACKUP_S3_MAX_PARTS
    # The environment link of boto3's credential chain, read from the merged
    # environment so keys kept in the env file work too; never logged.
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> S3Settings | None:
        """The settings, or None when ``BACKUP_S3_BUCKET`` is unset.

        A bucket without boto3 installed is a ``ConfigError`` raised here, before
        any dump starts.
        """
        settings = cls.parse(env)
        if settings is not None and not boto3_installed():
            raise ConfigError(
                f"BACKUP_S3_BUCKET is set ({settings.bucket}) but boto3 is not installed",
                hint=f"install it: {INSTALL_HINT}",
            )
        return settings

    @classmethod
    def parse(cls, env: Mapping[str, str]) -> S3Settings | None:
        """``from_env`` without the boto3 check: pure parsing and validation."""
        bucket = read_text(env, "BACKUP_S3_BUCKET")
        if not bucket:
            return None
        _check_bucket(bucket)
        endpoint_url = _endpoint_url(env)
        custom_endpoint = endpoint_url is not None and not is_aws_endpoint(endpoint_url)
        sse = _sse(env)
        kms_key_id = read_text(env, "BACKUP_S3_SSE_KMS_KEY_ID") or None
        if kms_key_id and sse != "aws:kms":
            raise ConfigError("BACKUP_S3_SSE_KMS_KEY_ID needs BACKUP_S3_SSE=aws:kms")
        part_mb = read_int(env, "BACKUP_S3_PART_SIZE_MB")
        return cls(
            bucket=bucket,
            prefix=normalise_prefix(read_text(env, "BACKUP_S3_PREFIX")),
            endpoint_url=endpoint_url,
            region=_first(env, "BACKUP_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
            addressing_style=_addressing_style(env, custom_endpoint),
            ca_bundle=_ca_bundle(env),
            storage_class=_storage_class(env),
            sse=sse,
            sse_kms_key_id=kms_key_id,
            max_attempts=read_int(env, "BACKUP_S3_MAX_ATTEMPTS"),
            retry_seconds=read_int(env, "BACKUP_S3_RETRY_SECONDS"),
            checksum_mode=read_text(env, "BACKUP_S3_CHECKSUM_MODE")
            or ("when_required" if custom_endpoint else None),
            delete_local_after_upload=read_bool(env, "BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD"),
            part_size_override=part_mb * MIB if part_mb else None,
            max_parts=read_int(env, "BACKUP_S3_MAX_PARTS"),
            credentials=_credentials(env),
        )

    def type_prefix(self, backup_type: str) -> str:
        """``${prefix}${type}/``: the only place this tool lists or deletes."""
        if backup_type not in BACKUP_TYPES:
            raise ValueError(f"unknown backup type {backup_type!r}")
        return f"{self.prefix}{backup_type}/"

    def object_key(self, backup_type: str, filename: str) -> str:
        """The contract key ``${prefix}${type}/${filename}``."""
        if not filename or "/" in filename:
            raise ValueError(f"not a plain file name: {filename!r}")
        return self.type_prefix(backup_type) + filename

    def checksum_key(self, backup_key: str) -> str:
        """The key of the ``.sha256`` object beside a backup."""
        return backup_key + CHECKSUM_SUFFIX

    def url(self, key: str = "") -> str:
        """``s3://bucket/key`` for messages."""
        return f"s3://{self.bucket}/{key}"

    def part_size(self, file_size: int) -> int:
        """Multipart chunk size for ``file_size`` bytes (see ``choose_part_size``)."""
        return choose_part_size(file_size, self.part_size_override, self.max_parts)


def boto3_installed() -> bool:
    """Whether boto3 can be imported (checked without importing it)."""
    return importlib.util.find_spec("boto3") is not None


def is_aws_endpoint(url: str) -> bool:
    """Whether ``url`` is AWS S3 itself (a regional or FIPS endpoint, a VPC endpoint)."""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def normalise_prefix(raw: str) -> str:
    """``backups`` -> ``backups/``; refuse a prefix that would mean the bucket root.

    The tool deletes old backups under the prefix, so an empty or ``/`` prefix
    is refused outright rather than let retention loose at the top of a bucket.
    """
    prefix = raw.strip().lstrip("/")
    if not prefix.strip("/"):
        raise ConfigError(
            f"BACKUP_S3_PREFIX must name a folder such as 'backups/', got {raw!r}",
            detail="retention deletes old backups under the prefix; "
            "it will not do that at the root of a bucket",
        )
    if "//" in prefix or any(part in (".", "..") for part in prefix.rstrip("/").split("/")):
        raise ConfigError(f"BACKUP_S3_PREFIX has an empty, '.' or '..' segment: {raw!r}")
    return prefix if prefix.endswith("/") else prefix + "/"


def choose_part_size(
    file_size: int, override: int | None = None, max_parts: int = MAX_PARTS
) -> int:
    """The multipart chunk size: at least 8 MiB (or ``override``), whole MiB,
    and large enough that ``file_size`` never needs more than ``max_parts`` parts.

    A file over S3's 5 TiB object limit is a ``ValueError``; one that needs more
    than ``max_parts`` parts of S3's largest part size (5 GiB) is a ``ConfigError``.
    """
    if file_size > MAX_OBJECT_SIZE:
        raise ValueError(f"{file_size} bytes is more than S3's 5 TiB object limit")
    if file_size > max_parts * MAX_PART_SIZE:
        raise ConfigError(
            f"a backup of {file_size} bytes does not fit in BACKUP_S3_MAX_PARTS={max_parts} "
            "parts of at most 5 GiB",
            hint="raise BACKUP_S3_MAX_PARTS as far as the store allows (AWS: 10000)",
        )
    needed = math.ceil(file_size / max_parts)
    needed = math.ceil(needed / MIB) * MIB
    base = override if override is not None else DEFAULT_PART_SIZE
    return min(max(base, needed, MIN_PART_SIZE), MAX_PART_SIZE)


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = read_text(env, name)
        if value:
            return value
    return None


def _credentials(env: Mapping[str, str]) -> dict[str, str]:
    """Keys, session token and profile as boto3's Session takes them (a pair or nothing)."""
    found: dict[str, str] = {}
    key_id = read_text(env, "AWS_ACCESS_KEY_ID")
    secret = read_text(env, "AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        found["aws_access_key_id"] = key_id
        found["aws_secret_access_key"] = secret
        token = read_text(env, "AWS_SESSION_TOKEN")
        if token:
            found["aws_session_token"] = token
    elif key_id or secret:
        raise ConfigError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
    profile = read_text(env, "AWS_PROFILE")
    if profile and not found:
        found["profile_name"] = profile
    return found


def _check_bucket(bucket: str) -> None:
    # Loose on purpose (R2, B2 and Ceph accept names AWS would not); reject what
    # can only be a mistake, such as a URL or a path pasted into the variable.
    if "/" in bucket or any(ch.isspace() for ch in bucket) or len(bucket) > 255:
        raise ConfigError(
            f"BACKUP_S3_BUCKET must be a bare bucket name, got {bucket!r}",
            hint="put the folder in BACKUP_S3_PREFIX and the host in BACKUP_S3_ENDPOINT_URL",
        )


def _endpoint_url(env: Mapping[str, str]) -> str | None:
    """``BACKUP_S3_ENDPOINT_URL``, else boto3's ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``."""
    name = next(
        (
            n
            for n in ("BACKUP_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
            if read_text(env, n)
        ),
        None,
    )
    if name is None:
        return None
    if name != "BACKUP_S3_ENDPOINT_URL" and read_bool(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        return None
    url = read_text(env, name)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {url!r}")
    if parts.username or parts.password:
        raise ConfigError(f"{name} must not carry credentials; use the AWS_* variables")
    return url.rstrip("/")


def _addressing_style(env: Mapping[str, str], custom_endpoint: bool) -> str:
    """Path style for custom endpoints (MinIO, Ceph), boto3's ``auto`` for AWS."""
    if read_bool(env, "BACKUP_S3_FORCE_PATH_STYLE"):
        return "path"
    return read_text(env, "BACKUP_S3_ADDRESSING_STYLE") or ("path" if custom_endpoint else "auto")


def _ca_bundle(env: Mapping[str, str]) -> Path | None:
    """``BACKUP_S3_CA_BUNDLE``, else boto3's ``AWS_CA_BUNDLE`` (which may sit in the env file)."""
    for name in ("BACKUP_S3_CA_BUNDLE", "AWS_CA_BUNDLE"):
        raw = read_text(env, name)
        if raw:
            path = Path(raw)
            if not path.is_file():
                raise ConfigError(f"{name} is not a readable file: {raw}")
            return path
    return None


def _storage_class(env: Mapping[str, str]) -> str | None:
    raw = read_text(env, "BACKUP_S3_STORAGE_CLASS")
    if not raw:
        return None
    if not _STORAGE_CLASS.match(raw):
        raise ConfigError(
            f"BACKUP_S3_STORAGE_CLASS must look like STANDARD_IA or GLACIER_IR, got {raw!r}"
        )
    return raw


def _sse(env: Mapping[str, str]) -> str | None:
    raw = read_text(env, "BACKUP_S3_SSE")
    if not raw:
        return None
    for mode in SSE_MODES:
        if raw.lower() == mode.lower():
            return mode
    raise ConfigError(f"BACKUP_S3_SSE must be one of {', '.join(SSE_MODES)}, got {raw!r}")
