"""S3 settings, keys, part sizes, error messages and refusals: the parts that need no endpoint."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

from db_backup.errors import ConfigError, UploadError
from db_backup.storage import StoredBackup, s3_settings
from db_backup.storage.s3 import S3Store, read_checksum_file
from db_backup.storage.s3_errors import Target, describe_client_error
from db_backup.storage.s3_settings import MAX_PARTS, MIB, S3Settings, choose_part_size

HAS_BOTO3 = importlib.util.find_spec("boto3") is not None
needs_boto3 = pytest.mark.skipif(not HAS_BOTO3, reason="boto3 (the s3 extra) is not installed")

BUCKET = {"BACKUP_S3_BUCKET": "backups-bucket"}
GIB = 1024 * MIB
TIB = 1024 * GIB


def parse(**env: str) -> S3Settings:
    settings = S3Settings.parse({**BUCKET, **env})
    assert settings is not None
    return settings


# -- settings ---------------------------------------------------------------------------


def test_no_bucket_means_no_remote_storage():
    """Without BACKUP_S3_BUCKET there are no S3 settings at all, and boto3 is not needed."""
    assert S3Settings.from_env({}) is None
    assert S3Settings.from_env({"BACKUP_S3_BUCKET": "  ", "BACKUP_S3_PREFIX": ""}) is None


def test_defaults_for_aws():
    """Against AWS: prefix backups/, boto3's own addressing and checksum defaults."""
    settings = parse()
    assert settings.prefix == "backups/"
    assert settings.endpoint_url is None
    assert settings.addressing_style == "auto"
    assert settings.checksum_mode is None
    assert settings.max_attempts == 20
    assert settings.retry_seconds == 30
    assert settings.max_parts == MAX_PARTS == 10_000
    assert settings.delete_local_after_upload is False
    assert settings.storage_class is None and settings.sse is None


def test_custom_endpoint_gets_path_style_and_checksums_only_when_required():
    """MinIO, R2, B2 and Ceph reject newer checksum headers, so custom endpoints default off."""
    settings = parse(BACKUP_S3_ENDPOINT_URL="https://minio.internal:9000/")
    assert settings.endpoint_url == "https://minio.internal:9000"
    assert settings.addressing_style == "path"
    assert settings.checksum_mode == "when_required"


def test_an_aws_endpoint_url_keeps_the_aws_defaults():
    """A regional or VPC endpoint of AWS itself is still AWS: no path style, boto3's checksums."""
    settings = parse(BACKUP_S3_ENDPOINT_URL="https://s3.eu-west-1.amazonaws.com")
    assert settings.endpoint_url == "https://s3.eu-west-1.amazonaws.com"
    assert (settings.addressing_style, settings.checksum_mode) == ("auto", None)


def test_checksum_mode_and_addressing_can_be_overridden():
    settings = parse(
        BACKUP_S3_ENDPOINT_URL="https://s3.example.com",
        BACKUP_S3_CHECKSUM_MODE="when_supported",
        BACKUP_S3_ADDRESSING_STYLE="virtual",
    )
    assert settings.checksum_mode == "when_supported"
    assert settings.addressing_style == "virtual"
    assert parse(BACKUP_S3_FORCE_PATH_STYLE="true").addressing_style == "path"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AWS_ENDPOINT_URL_S3": "http://s3.local"}, "http://s3.local"),
        ({"AWS_ENDPOINT_URL": "http://any.local"}, "http://any.local"),
        (
            {"AWS_ENDPOINT_URL_S3": "http://s3.local", "AWS_ENDPOINT_URL": "http://any.local"},
            "http://s3.local",
        ),
        (
            {"BACKUP_S3_ENDPOINT_URL": "http://mine.local", "AWS_ENDPOINT_URL_S3": "http://s3"},
            "http://mine.local",
        ),
        (
            {"AWS_ENDPOINT_URL": "http://any.local", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "1"},
            None,
        ),
    ],
    ids=["service-specific", "global", "service-wins", "ours-wins", "ignored"],
)
def test_endpoint_follows_boto3_variables(env, expected):
    """BACKUP_S3_ENDPOINT_URL first, then boto3's own endpoint variables in boto3's order."""
    assert parse(**env).endpoint_url == expected


def test_region_comes_from_our_variable_then_aws_ones():
    assert parse(AWS_DEFAULT_REGION="eu-west-1").region == "eu-west-1"
    assert parse(AWS_DEFAULT_REGION="eu-west-1", AWS_REGION="eu-central-1").region == (
        "eu-central-1"
    )
    assert parse(BACKUP_S3_REGION="auto", AWS_REGION="eu-central-1").region == "auto"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("backups", "backups/"),
        ("backups/", "backups/"),
        ("/backups/", "backups/"),
        ("prod/shop/", "prod/shop/"),
        ("  prod/shop  ", "prod/shop/"),
    ],
)
def test_prefix_is_normalised_to_a_folder(raw, expected):
    assert parse(BACKUP_S3_PREFIX=raw).prefix == expected


def test_unset_prefix_is_backups():
    assert parse(BACKUP_S3_PREFIX="").prefix == "backups/"


@pytest.mark.parametrize("raw", ["/", "//", " / ", "a//b", "a/../b", "./"])
def test_prefix_that_means_the_bucket_root_or_escapes_it_is_refused(raw):
    """Retention deletes under the prefix, so the bucket root is never a prefix."""
    with pytest.raises(ConfigError, match="BACKUP_S3_PREFIX"):
        parse(BACKUP_S3_PREFIX=raw)


BAD_VALUES = [
    ({"BACKUP_S3_BUCKET": "s3://bucket/path"}, "BACKUP_S3_BUCKET"),
    ({"BACKUP_S3_BUCKET": "my bucket"}, "BACKUP_S3_BUCKET"),
    ({"BACKUP_S3_ENDPOINT_URL": "minio:9000"}, "BACKUP_S3_ENDPOINT_URL"),
    ({"BACKUP_S3_ENDPOINT_URL": "ftp://minio"}, "BACKUP_S3_ENDPOINT_URL"),
    ({"BACKUP_S3_ENDPOINT_URL": "https://key:secret@minio"}, "BACKUP_S3_ENDPOINT_URL"),
    ({"AWS_ENDPOINT_URL_S3": "not a url"}, "AWS_ENDPOINT_URL_S3"),
    ({"BACKUP_S3_ADDRESSING_STYLE": "dns"}, "BACKUP_S3_ADDRESSING_STYLE"),
    ({"BACKUP_S3_FORCE_PATH_STYLE": "maybe"}, "BACKUP_S3_FORCE_PATH_STYLE"),
    ({"BACKUP_S3_CHECKSUM_MODE": "always"}, "BACKUP_S3_CHECKSUM_MODE"),
    ({"BACKUP_S3_MAX_ATTEMPTS": "0"}, "BACKUP_S3_MAX_ATTEMPTS"),
    ({"BACKUP_S3_MAX_ATTEMPTS": "three"}, "BACKUP_S3_MAX_ATTEMPTS"),
    ({"BACKUP_S3_MAX_ATTEMPTS": "101"}, "BACKUP_S3_MAX_ATTEMPTS"),
    ({"BACKUP_S3_RETRY_SECONDS": "-1"}, "BACKUP_S3_RETRY_SECONDS"),
    ({"BACKUP_S3_RETRY_SECONDS": "30s"}, "BACKUP_S3_RETRY_SECONDS"),
    ({"BACKUP_S3_MAX_PARTS": "0"}, "BACKUP_S3_MAX_PARTS"),
    ({"BACKUP_S3_MAX_PARTS": "10001"}, "BACKUP_S3_MAX_PARTS"),
    ({"BACKUP_S3_SSE": "rot13"}, "BACKUP_S3_SSE"),
    ({"BACKUP_S3_SSE_KMS_KEY_ID": "alias/backups"}, "BACKUP_S3_SSE_KMS_KEY_ID"),
    ({"BACKUP_S3_STORAGE_CLASS": "cheap please"}, "BACKUP_S3_STORAGE_CLASS"),
    ({"BACKUP_S3_CA_BUNDLE": "/nonexistent/ca.pem"}, "BACKUP_S3_CA_BUNDLE"),
    ({"BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD": "sometimes"}, "BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD"),
    ({"BACKUP_S3_PART_SIZE_MB": "1"}, "BACKUP_S3_PART_SIZE_MB"),
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, "AWS_SECRET_ACCESS_KEY"),
]


@pytest.mark.parametrize(("env", "variable"), BAD_VALUES, ids=[v for _, v in BAD_VALUES])
def test_bad_values_are_config_errors_naming_the_variable(env, variable):
    """Every bad value is exit 2, before any dump, and the message names the variable."""
    with pytest.raises(ConfigError) as caught:
        S3Settings.parse({**BUCKET, **env})
    assert caught.value.exit_code == 2
    assert variable in caught.value.msg


def test_passthrough_settings(tmp_path: Path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = parse(
        BACKUP_S3_CA_BUNDLE=str(ca),
        BACKUP_S3_STORAGE_CLASS="STANDARD_IA",
        BACKUP_S3_SSE="AWS:KMS",
        BACKUP_S3_SSE_KMS_KEY_ID="alias/backups",
        BACKUP_S3_MAX_ATTEMPTS="9",
        BACKUP_S3_RETRY_SECONDS="0",
        BACKUP_S3_MAX_PARTS="1000",
        BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD="yes",
    )
    assert settings.ca_bundle == ca
    assert settings.storage_class == "STANDARD_IA"
    assert (settings.sse, settings.sse_kms_key_id) == ("aws:kms", "alias/backups")
    assert settings.max_attempts == 9
    assert settings.retry_seconds == 0
    assert settings.max_parts == 1000
    assert settings.delete_local_after_upload is True


def test_credentials_from_the_env_file_are_kept_out_of_repr():
    """Keys in the merged environment reach boto3's session but never a log line or repr."""
    settings = parse(AWS_ACCESS_KEY_ID="AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY="very-secret")
    assert settings.credentials["aws_secret_access_key"] == "very-secret"
    assert "very-secret" not in repr(settings)
    assert parse(AWS_PROFILE="backup").credentials == {"profile_name": "backup"}
    assert parse().credentials == {}


def test_bucket_without_boto3_is_a_config_error_saying_how_to_install(monkeypatch):
    """Asking for S3 without the extra installed stops the run with exit 2 and the fix."""
    monkeypatch.setattr(s3_settings, "boto3_installed", lambda: False)
    with pytest.raises(ConfigError) as caught:
        S3Settings.from_env(BUCKET)
    assert caught.value.exit_code == 2
    assert "boto3" in caught.value.msg
    assert "pip install 'tools/db-backup[s3]'" in (caught.value.hint or "")
    assert "python3-boto3" in (caught.value.hint or "")


@needs_boto3
def test_bucket_with_boto3_installed_gives_settings():
    assert S3Settings.from_env(BUCKET) == parse()


# -- keys -------------------------------------------------------------------------------


def test_object_key_follows_the_contract():
    """``${BACKUP_S3_PREFIX}${type}/${file}`` with the .sha256 beside it."""
    settings = parse(BACKUP_S3_PREFIX="prod/shop")
    key = settings.object_key("weekly", "shop_weekly_20250615_020000.sql.gz")
    assert key == "prod/shop/weekly/shop_weekly_20250615_020000.sql.gz"
    assert settings.checksum_key(key) == key + ".sha256"
    assert settings.type_prefix("monthly") == "prod/shop/monthly/"
    assert settings.url(key) == f"s3://backups-bucket/{key}"


@pytest.mark.parametrize(("backup_type", "filename"), [("auto", "a.sql.gz"), ("daily", "x/y")])
def test_object_key_refuses_unknown_types_and_paths(backup_type, filename):
    with pytest.raises(ValueError):
        parse().object_key(backup_type, filename)


# -- part sizes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [0, 1, 8 * MIB, 8 * MIB + 1, 80 * GIB, 80 * GIB + 1, 100 * GIB, TIB, 5 * TIB - 1, 5 * TIB],
)
def test_part_size_never_needs_more_than_10000_parts(size):
    """Whatever the size, the chosen part size keeps the upload within S3's part limit."""
    part = choose_part_size(size)
    assert part >= 8 * MIB
    assert part % MIB == 0
    assert part <= 5 * GIB
    assert -(-size // part) <= MAX_PARTS


def test_part_size_is_8_mib_until_the_limit_needs_more():
    assert choose_part_size(10 * GIB) == 8 * MIB
    assert choose_part_size(100 * GIB) == 11 * MIB


def test_part_size_override_is_a_floor_not_a_way_past_the_limit():
    """A small forced part size (for tests) still cannot exceed 10,000 parts."""
    assert choose_part_size(20 * MIB, 5 * MIB) == 5 * MIB
    assert choose_part_size(TIB, 5 * MIB) == 105 * MIB
    assert parse(BACKUP_S3_PART_SIZE_MB="5").part_size(20 * MIB) == 5 * MIB


def test_larger_than_s3_allows_is_refused():
    with pytest.raises(ValueError):
        choose_part_size(5 * TIB + 1)


@pytest.mark.parametrize("max_parts", [1, 2, 3, 1000, 9999])
@pytest.mark.parametrize("size", [0, 1, 5 * MIB, 12 * MIB + 1, 8 * GIB + 1, 100 * GIB, TIB])
def test_part_size_grows_to_fit_a_smaller_part_limit(size, max_parts):
    """BACKUP_S3_MAX_PARTS (Scaleway and some Ceph setups allow 1000): any file that can fit
    in that many parts of at most 5 GiB gets a part size that makes it fit."""
    if size > max_parts * 5 * GIB:
        with pytest.raises(ConfigError) as caught:
            choose_part_size(size, None, max_parts)
        assert "BACKUP_S3_MAX_PARTS" in caught.value.msg
        return
    part = choose_part_size(size, None, max_parts)
    assert 8 * MIB <= part <= 5 * GIB and part % MIB == 0
    assert -(-size // part) <= max_parts


def test_with_1000_parts_a_backup_over_8_gib_still_fits():
    """Where 10,000 parts of 8 MiB would do, 1000 parts need larger ones."""
    settings = parse(BACKUP_S3_MAX_PARTS="1000")
    assert settings.part_size(8 * GIB) == 9 * MIB
    assert settings.part_size(100 * GIB) == 103 * MIB
    assert parse(BACKUP_S3_MAX_PARTS="2", BACKUP_S3_PART_SIZE_MB="5").part_size(12 * MIB) == 6 * MIB


def test_a_backup_too_large_for_the_part_limit_is_a_config_error_naming_it():
    """One part of at most 5 GiB cannot carry 5 GiB and a byte: exit 2 with the way out."""
    with pytest.raises(ConfigError) as caught:
        parse(BACKUP_S3_MAX_PARTS="1").part_size(5 * GIB + 1)
    assert caught.value.exit_code == 2
    assert "BACKUP_S3_MAX_PARTS=1" in caught.value.msg
    assert "raise BACKUP_S3_MAX_PARTS" in (caught.value.hint or "")


# -- error messages ---------------------------------------------------------------------

TARGET = Target("upload", "backups-bucket", "backups/daily/shop_daily_x.sql.gz", None)
MINIO = Target("S3 preflight write", "backups-bucket", "backups/.probe", "http://minio:9000")


def response(code: str, status: int, message: str = "", **headers: str) -> dict:
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }


ERRORS = [
    ("NoSuchBucket", 404, "", "bucket backups-bucket does not exist", "BACKUP_S3_BUCKET"),
    ("AccessDenied", 403, "Access Denied", "access denied to s3://backups-bucket/", "IAM"),
    ("403", 403, "Forbidden", "access denied", "IAM"),
    ("InvalidAccessKeyId", 403, "", "invalid credentials", "AWS_ACCESS_KEY_ID"),
    ("SignatureDoesNotMatch", 403, "", "invalid credentials", "AWS_SECRET_ACCESS_KEY"),
    ("ExpiredToken", 400, "", "invalid credentials", "refresh"),
    ("RequestTimeTooSkewed", 403, "", "clock skew", "NTP"),
    ("PermanentRedirect", 301, "", "wrong region", "AWS_REGION"),
    ("AuthorizationHeaderMalformed", 400, "expecting 'eu-west-1'", "wrong region", "AWS_REGION"),
    ("XAmzContentSHA256Mismatch", 400, "", "checksum", "BACKUP_S3_CHECKSUM_MODE=when_required"),
    ("InvalidArgument", 400, "Unsupported header 'x-amz-checksum-algorithm'", "checksum", "when_"),
    ("InvalidStorageClass", 400, "", "storage class", "BACKUP_S3_STORAGE_CLASS"),
    ("SlowDown", 503, "", "unavailable", "BACKUP_S3_MAX_ATTEMPTS"),
]


@pytest.mark.parametrize(
    ("code", "status", "message", "says", "hint"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_error_responses_become_one_line_upload_errors(code, status, message, says, hint):
    """Each failure people hit is exit 6, one line naming bucket and key, with the fix."""
    error = describe_client_error(response(code, status, message), TARGET)
    assert isinstance(error, UploadError)
    assert error.exit_code == 6
    assert "\n" not in error.msg
    assert says in error.msg
    assert "s3://backups-bucket/backups/daily/shop_daily_x.sql.gz" in error.msg
    assert hint in (error.hint or "")


def test_wrong_region_names_the_bucket_region_when_the_endpoint_says_it():
    error = describe_client_error(
        response("PermanentRedirect", 301, **{"x-amz-bucket-region": "eu-west-1"}), TARGET
    )
    assert "(eu-west-1)" in error.msg


def test_missing_bucket_names_the_custom_endpoint():
    error = describe_client_error(response("NoSuchBucket", 404), MINIO)
    assert error.msg.startswith("S3 preflight write of s3://backups-bucket/backups/.probe failed")
    assert "http://minio:9000" in error.msg


def test_authentication_errors_never_repeat_the_server_text():
    """Servers may echo signing material; authentication messages leave it out."""
    error = describe_client_error(
        response("SignatureDoesNotMatch", 403, "StringToSign AWS4-HMAC-SHA256 secret-stuff"),
        TARGET,
    )
    assert "secret-stuff" not in error.msg
    assert "secret-stuff" not in (error.hint or "")


def test_unknown_codes_keep_the_code_and_a_short_single_line_message():
    error = describe_client_error(response("Weird", 400, "line one\nline two " + "x" * 500), TARGET)
    assert "Weird: line one line two" in error.msg
    assert "\n" not in error.msg
    assert len(error.msg) < 300


@needs_boto3
def test_botocore_exceptions_are_translated():
    """Unreachable endpoints and missing credentials are exit 6 with the endpoint named."""
    from botocore import exceptions as bce

    from db_backup.storage.s3_errors import translate

    unreachable = translate(bce.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), MINIO)
    assert unreachable.exit_code == 6
    assert "endpoint unreachable" in unreachable.msg
    assert "http://minio:9000" in unreachable.msg
    missing = translate(bce.NoCredentialsError(), TARGET)
    assert "no S3 credentials" in missing.msg
    client_error = bce.ClientError(response("NoSuchBucket", 404), "PutObject")
    assert "does not exist" in translate(client_error, TARGET).msg


# -- what the store refuses without asking the endpoint ----------------------------------


def remote(key: str) -> StoredBackup:
    when = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    return StoredBackup.for_name(
        "shop", key.rsplit("/", 1)[-1], when, 1, has_checksum=True, key=key
    )


@pytest.mark.parametrize(
    "key",
    [
        "shop_daily_20250101_000000.sql.gz",  # the bucket root
        "other/daily/shop_daily_20250101_000000.sql.gz",  # another prefix
        "backups/shop_daily_20250101_000000.sql.gz",  # the prefix itself, no type folder
        "backups/daily/nested/shop_daily_20250101_000000.sql.gz",  # a folder below the type
        "backups/hourly/shop_hourly_20250101_000000.sql.gz",  # not a backup type
        "backups/daily/notes.txt",  # not a backup
        "backups/daily/shop_daily_20250101_000000.sql.gz.sha256",  # goes with its backup only
    ],
)
def test_delete_never_touches_keys_outside_the_type_folders(key):
    """Keys that are not ``${prefix}${type}/<backup name>`` come back undeleted, and no
    request is made (the store has no client to make one with)."""
    store = S3Store(parse())
    backup = remote(key)
    assert store.delete([backup]) == {backup.filename: key}
    assert store._clients == {}


@pytest.mark.parametrize(
    "line",
    ["{digest}  {name}\n", "{digest} *{name}\n", "{digest}  {name}"],
    ids=["text", "binary", "no-newline"],
)
def test_checksum_file_gives_the_digest_and_its_exact_bytes(tmp_path: Path, line: str):
    name = "shop_daily_20250101_000000.sql.gz"
    path = tmp_path / f"{name}.sha256"
    path.write_text(line.format(digest="ab" * 32, name=name))
    assert read_checksum_file(path, name) == ("ab" * 32, path.read_bytes())


@pytest.mark.parametrize(
    "content",
    ["", "nothex  shop.sql.gz\n", f"{'ab' * 32}  other_daily_20250101_000000.sql.gz\n"],
    ids=["empty", "not-a-digest", "another-file"],
)
def test_checksum_file_for_another_file_is_refused(tmp_path: Path, content: str):
    path = tmp_path / "x.sha256"
    path.write_text(content)
    with pytest.raises(UploadError):
        read_checksum_file(path, "shop_daily_20250101_000000.sql.gz")
