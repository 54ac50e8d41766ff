"""botocore failures turned into one-line ``UploadError`` messages (exit 6).

Each message names the action, the bucket and the key, and says what went
wrong in the words people search for (bucket missing, access denied, wrong
region, endpoint unreachable, clock skew). Nothing secret is ever included:
no keys, no signatures, no server text for authentication failures.
``describe_client_error`` works on the plain ``ClientError.response`` dict so
it is testable without botocore.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import BackupError, UploadError

_MISSING_BUCKET = {"NoSuchBucket"}
_ACCESS_DENIED = {"AccessDenied", "AllAccessDisabled", "Forbidden", "403"}
_UNKNOWN_KEY = {"InvalidAccessKeyId", "InvalidClientTokenId", "UnrecognizedClientException"}
_BAD_SECRET = {"SignatureDoesNotMatch", "IncompleteSignature"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired"}
_SKEW = {"RequestTimeTooSkewed", "RequestExpired"}
_WRONG_REGION = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
    "301",
}
_CHECKSUM = {"XAmzContentSHA256Mismatch", "BadDigest", "InvalidDigest"}
_BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "503", "500"}
_MAX_SERVER_TEXT = 160


@dataclass(frozen=True)
class Target:
    """What was being done, and where, when a call failed."""

    action: str  # "upload", "preflight write", "listing", ...
    bucket: str
    key: str
    endpoint: str | None  # None: AWS itself

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def where(self) -> str:
        return self.endpoint or "AWS S3"


def describe_client_error(response: Mapping[str, Any], target: Target) -> UploadError:
    """The ``UploadError`` for an error response from the S3 endpoint."""
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    headers = {str(k).lower(): str(v) for k, v in (meta.get("HTTPHeaders") or {}).items()}
    code = str(error.get("Code") or status or "unknown")
    server_text = _one_line(str(error.get("Message") or ""))
    headline = f"{target.action} of {target.url} failed"

    def fail(reason: str, hint: str | None = None) -> UploadError:
        return UploadError(f"{headline}: {reason}", hint=hint)

    if code in _MISSING_BUCKET or (code == "404" and not target.key):
        return fail(
            f"bucket {target.bucket} does not exist at {target.where}",
            "create the bucket, or correct BACKUP_S3_BUCKET / BACKUP_S3_ENDPOINT_URL",
        )
    if code in ("NoSuchKey", "404"):
        return fail(f"object {target.url} does not exist")
    if code in _UNKNOWN_KEY:
        return fail(
            f"invalid credentials: {target.where} does not know the access key ({code})",
            "check AWS_ACCESS_KEY_ID (or the profile or role in use)",
        )
    if code in _BAD_SECRET:
        return fail(
            f"invalid credentials: the secret key does not match the access key ({code})",
            "check AWS_SECRET_ACCESS_KEY; behind a proxy, check it keeps the request intact",
        )
    if code in _EXPIRED:
        return fail(
            f"invalid credentials: the session token expired or is invalid ({code})",
            "refresh the credentials (AWS_SESSION_TOKEN, the profile or the role)",
        )
    if code in _SKEW:
        return fail(
            f"clock skew: this host's clock differs too much from {target.where}'s ({code})",
            "synchronise the clock (NTP); S3 refuses requests more than 15 minutes off",
        )
    if code in _WRONG_REGION or ("region" in server_text.lower() and status in (301, 400)):
        region = headers.get("x-amz-bucket-region")
        where = f" ({region})" if region else ""
        return fail(
            f"wrong region: bucket {target.bucket} is in another region{where} ({code})",
            "set AWS_REGION (or BACKUP_S3_REGION) to the bucket's region",
        )
    if code in _ACCESS_DENIED:
        return fail(
            f"access denied to {target.url} ({code})",
            "grant the IAM policy in tools/db-backup/README.md on this bucket and prefix",
        )
    if code in _CHECKSUM or "checksum" in server_text.lower() or "x-amz-checksum" in server_text:
        return fail(
            f"the endpoint rejected the request's checksum ({code}: {server_text})",
            "S3-compatible stores often reject newer checksum headers: "
            "set BACKUP_S3_CHECKSUM_MODE=when_required",
        )
    if code == "InvalidStorageClass":
        return fail(
            f"the endpoint does not offer this storage class ({code})",
            "change or unset BACKUP_S3_STORAGE_CLASS",
        )
    if code in _BUSY:
        return fail(
            f"{target.where} is unavailable ({code}) after every retry",
            "try again later, or raise BACKUP_S3_RETRY_SECONDS (and BACKUP_S3_MAX_ATTEMPTS)",
        )
    detail = f": {server_text}" if server_text else ""
    return fail(f"{code}{detail}")


def translate(exc: BaseException, target: Target) -> BackupError:
    """The ``BackupError`` for any exception raised by boto3 or the local file."""
    if isinstance(exc, BackupError):
        return exc
    from botocore import exceptions as bce

    headline = f"{target.action} of {target.url} failed"
    if isinstance(exc, bce.ClientError):
        return describe_client_error(exc.response, target)
    if isinstance(exc, bce.SSLError):
        return UploadError(
            f"{headline}: TLS verification failed for {target.where}",
            hint="point BACKUP_S3_CA_BUNDLE at the CA that signed the endpoint's certificate",
        )
    if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectTimeoutError)):
        return UploadError(
            f"{headline}: endpoint unreachable: cannot connect to {target.where}",
            detail=_one_line(str(exc)),
            hint="check BACKUP_S3_ENDPOINT_URL, DNS and the network path to the endpoint",
        )
    if isinstance(exc, (bce.ConnectionError, bce.HTTPClientError)):
        return UploadError(
            f"{headline}: the connection to {target.where} failed or timed out after every retry",
            detail=_one_line(str(exc)),
            hint="check the network path to the endpoint; BACKUP_S3_RETRY_SECONDS sets how long "
            "each request is retried",
        )
    if isinstance(exc, bce.NoCredentialsError):
        return UploadError(
            f"{headline}: no S3 credentials found",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or attach a role",
        )
    if isinstance(exc, (bce.PartialCredentialsError, bce.CredentialRetrievalError)):
        return UploadError(f"{headline}: invalid credentials: {type(exc).__name__}")
    if isinstance(exc, bce.ProfileNotFound):
        return UploadError(f"{headline}: AWS_PROFILE names a profile that does not exist")
    if isinstance(exc, bce.BotoCoreError):
        return UploadError(f"{headline}: {_one_line(str(exc))}")
    if isinstance(exc, OSError):
        return UploadError(f"{headline}: {exc.strerror or exc}")
    return UploadError(f"{headline}: {type(exc).__name__}: {_one_line(str(exc))}")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_SERVER_TEXT:
        text = text[: _MAX_SERVER_TEXT - 3] + "..."
    return text
