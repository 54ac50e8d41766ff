"""S3 storage through the baked project's ``scripts/db-backup.sh``, against a real S3 endpoint.

The shared ``s3`` endpoint (moto's server here, MinIO where Docker answers) accepts any
credentials, so the wrong-credentials and access-denied cases run against a second moto
server started with IAM authentication on, which answers ``InvalidAccessKeyId``,
``SignatureDoesNotMatch`` and ``AccessDenied`` as AWS does.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.backup_support import DAY, backdate_object, backups_in, fake_backup, snapshot
from tests.cutting_proxy import CuttingProxy
from tests.helpers import describe, run_tool
from tests.services._net import free_port
from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Endpoint

pytestmark = pytest.mark.integration

PREFIX = "backups/"
MIB = 1024 * 1024


# --- helpers ----------------------------------------------------------------------------


@dataclass
class Run:
    """The tool against one database of the test server, with a fresh backup directory."""

    project: Path
    postgres: PostgresServer
    database: str
    backup_dir: Path

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {
            **self.postgres.env(self.database),
            "BACKUP_DIR": str(self.backup_dir),
            **env,
        }
        return run_tool(self.project, args, environ, timeout=300)

    def local_backups(self) -> list[Path]:
        """The finished backups in the backup directory, sorted by name."""
        return [self.backup_dir / name for name in backups_in(self.backup_dir)]

    def plant_previous_backup(self) -> dict[str, str]:
        """An older good backup in the backup directory; returns the directory's snapshot."""
        fake_backup(self.backup_dir, f"{self.database}_daily_20200101_000000.sql.gz")
        return snapshot(self.backup_dir)


@pytest.fixture
def run(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> Run:
    """The baked tool pointed at a fresh copy of the small dataset."""
    return Run(baked_project, postgres, database("small"), tmp_path / "backups")


def unfinished_uploads(s3: S3Endpoint, bucket: str) -> list[str]:
    """Keys of the bucket's multipart uploads that were neither completed nor aborted."""
    listed = s3.client().list_multipart_uploads(Bucket=bucket)
    return [upload["Key"] for upload in listed.get("Uploads", [])]


def fill_with_random_text(postgres: PostgresServer, dbname: str, mib: int) -> None:
    """Add a table of hex text that compresses to roughly ``mib`` MiB."""
    rows = mib * 1024 * 1024 // 58  # 128 hex characters compress to about 58 bytes with gzip
    postgres.psql(
        "CREATE TABLE public.blob AS SELECT g AS id, "
        "md5(random()::text) || md5(random()::text) || md5(random()::text) "
        "|| md5(random()::text) AS hex FROM generate_series(1, "
        f"{rows}) AS g",
        dbname,
    )


def uploaded_with(key: str) -> list[str]:
    """The keys a backup run puts in the bucket for backup ``key``, sorted: the backup, its
    .sha256, and the roles file that travels with it (``BACKUP_OWNERSHIP=keep``, the
    default, run as a superuser) with its .sha256."""
    roles = key.removesuffix(".sql.gz") + ".roles.sql"
    return sorted([key, f"{key}.sha256", roles, f"{roles}.sha256"])


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


# --- a moto server that checks credentials ----------------------------------------------


@dataclass(frozen=True)
class AuthEndpoint:
    """A moto server with IAM authentication, one bucket, and a user that may use it."""

    endpoint: S3Endpoint
    bucket: str
    policy_user: Callable[[dict], tuple[str, str]]


UNAUTHENTICATED_SETUP_ACTIONS = 3  # create the admin user, its key and its policy

# moto's server checks signatures against the URL as its web framework decoded it, so a
# query value holding "/" (every listing here: prefix=backups/) never matches what the
# client signed ("prefix=backups%2F"). The launcher re-encodes the query as AWS does.
MOTO_IAM_LAUNCHER = """
import sys
from urllib.parse import quote, unquote

from moto.iam import access_control
from moto.server import main

original_init = access_control.IAMRequestBase.__init__


def init_with_signed_query(self, account_id, method, path, *args, **kwargs):
    base, sep, query = path.partition("?")
    if sep:
        pairs = (pair.partition("=") for pair in query.split("&"))
        path = base + "?" + "&".join(
            quote(unquote(k), safe="-_.~") + eq + quote(unquote(v), safe="-_.~")
            for k, eq, v in pairs
        )
    original_init(self, account_id, method, path, *args, **kwargs)


access_control.IAMRequestBase.__init__ = init_with_signed_query
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def auth_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEndpoint]:
    """moto's server with ``INITIAL_NO_AUTH_ACTION_COUNT``: after setup, keys must be real."""
    import boto3

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto-auth") / "server.log"
    environ = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED_SETUP_ACTIONS)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", MOTO_IAM_LAUNCHER, "-H", "127.0.0.1", "-p", str(port)],
            env=environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"moto_server did not start: {log.read_text()}", pytrace=False)
            time.sleep(0.1)

        def client(service: str, key: str = "setup", secret: str = "setup"):
            return boto3.client(
                service,
                endpoint_url=url,
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                region_name="us-east-1",
            )

        # Three unauthenticated actions: an admin user, its key and its policy.
        iam = client("iam")
        iam.create_user(UserName="admin")
        admin = iam.create_access_key(UserName="admin")["AccessKey"]
        iam.put_user_policy(
            UserName="admin",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        admin_key = (admin["AccessKeyId"], admin["SecretAccessKey"])
        iam = client("iam", *admin_key)
        bucket = "auth-backups"
        client("s3", *admin_key).create_bucket(Bucket=bucket)
        users = iter(range(1000))

        def policy_user(policy: dict) -> tuple[str, str]:
            name = f"backup{next(users)}"
            iam.create_user(UserName=name)
            iam.put_user_policy(
                UserName=name, PolicyName="backup", PolicyDocument=json.dumps(policy)
            )
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return key["AccessKeyId"], key["SecretAccessKey"]

        endpoint = S3Endpoint(url, *admin_key, kind="moto-iam")
        yield AuthEndpoint(endpoint, bucket, policy_user)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def readme_policy(project: Path, bucket: str, prefix: str) -> dict:
    """The IAM policy printed in the generated README, for ``bucket`` and ``prefix``."""
    text = (project / "tools" / "db-backup" / "README.md").read_text()
    section = text[text.index("### IAM policy") :]
    document = section[section.index("```json") + len("```json") : section.index("```\n", 10)]
    document = document.replace("backups/", prefix).replace("my-bucket", bucket)
    return json.loads(document)


# --- a backup lands where the contract says ----------------------------------------------


def test_verified_backup_lands_at_the_contract_key_and_passes_sha256sum(
    run: Run, s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """``--verify`` then upload: ``${prefix}daily/${file}`` and its .sha256, nothing else;
    downloaded together they pass ``sha256sum -c``, and the aws CLI lists them there."""
    result = run("--verify", "--type=daily", **s3.env(bucket, PREFIX))

    assert result.returncode == 0, describe(result)
    [local] = run.local_backups()
    key = f"{PREFIX}daily/{local.name}"
    assert s3.list_keys(bucket) == uploaded_with(key)
    assert local.with_name(local.name + ".sha256").is_file(), "the local copy is kept by default"

    download = tmp_path / "download"
    download.mkdir()
    client = s3.client()
    for name in (local.name, local.name + ".sha256"):
        client.download_file(bucket, f"{PREFIX}daily/{name}", str(download / name))
    check = subprocess.run(
        ["sha256sum", "-c", f"{local.name}.sha256"],
        cwd=download,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert (download / local.name).read_bytes() == local.read_bytes()

    head = client.head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["sha256"] == hashlib.sha256(local.read_bytes()).hexdigest()

    listed = s3.aws(["s3", "ls", f"s3://{bucket}/{PREFIX}daily/"])
    assert listed.returncode == 0, listed.stderr
    names = sorted(line.split()[-1] for line in listed.stdout.splitlines())
    assert names == [k.rpartition("/")[2] for k in uploaded_with(key)]


def test_upload_larger_than_one_part_is_multipart_and_intact(
    run: Run, postgres: PostgresServer, s3: S3Endpoint, bucket: str, tmp_path: Path
) -> None:
    """With 5 MiB parts, a backup over 5 MiB goes up in several parts and comes back whole,
    with the storage class and server-side encryption asked for."""
    fill_with_random_text(postgres, run.database, 7)

    result = run(
        "--type=weekly",
        BACKUP_S3_PART_SIZE_MB="5",
        BACKUP_S3_STORAGE_CLASS="STANDARD_IA",
        BACKUP_S3_SSE="AES256",
        **s3.env(bucket, PREFIX),
    )

    assert result.returncode == 0, describe(result)
    [local] = run.local_backups()
    assert local.stat().st_size > 5 * MIB, "the dataset must be larger than one part"
    key = f"{PREFIX}weekly/{local.name}"
    head = s3.client().head_object(Bucket=bucket, Key=key)
    parts = int(head["ETag"].strip('"').rpartition("-")[2])
    assert parts >= 2, head["ETag"]
    assert head["ContentLength"] == local.stat().st_size
    assert head.get("StorageClass") == "STANDARD_IA"
    assert head.get("ServerSideEncryption") == "AES256"
    copy = tmp_path / "copy"
    s3.client().download_file(bucket, key, str(copy))
    assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(local.read_bytes()).digest()
    assert s3.list_keys(bucket) == uploaded_with(key)
    assert unfinished_uploads(s3, bucket) == []


def test_local_copy_is_deleted_only_after_a_proven_upload_when_asked(
    run: Run, s3: S3Endpoint, bucket: str
) -> None:
    """``BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD=true``: the bucket keeps the backup and its
    .sha256 (and its roles file), the backup directory keeps none of them."""
    result = run(BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD="true", **s3.env(bucket, PREFIX))

    assert result.returncode == 0, describe(result)
    assert run.local_backups() == []
    assert not any(p.name.endswith(".sha256") for p in run.backup_dir.iterdir())
    keys = s3.list_keys(bucket)
    [key] = [k for k in keys if k.endswith(".sql.gz")]
    assert keys == uploaded_with(key), keys


# --- failures: exit 6, quickly, nothing lost, nothing partial ------------------------------


def test_missing_bucket_fails_before_the_dump_with_exit_6(run: Run, s3: S3Endpoint) -> None:
    """A bucket that does not exist is found by the preflight: exit 6, nothing dumped, the
    previous local backup intact."""
    before = run.plant_previous_backup()

    result = run(**s3.env("no-such-bucket-here", PREFIX))

    assert result.returncode == 6, describe(result)
    assert "bucket no-such-bucket-here does not exist" in result.stderr, describe(result)
    assert snapshot(run.backup_dir) == before, describe(result)


def test_unreachable_endpoint_fails_before_the_dump_with_exit_6(run: Run, s3: S3Endpoint) -> None:
    """A closed port: exit 6 naming the endpoint, before anything is dumped; the previous
    local backup intact."""
    before = run.plant_previous_backup()
    url = closed_port_url()
    env = {**s3.env("any-bucket", PREFIX), "BACKUP_S3_ENDPOINT_URL": url}

    result = run(**env)

    assert result.returncode == 6, describe(result)
    assert "endpoint unreachable" in result.stderr and url in result.stderr, describe(result)
    assert snapshot(run.backup_dir) == before, describe(result)


@pytest.mark.parametrize(
    ("credentials", "says"),
    [
        (("AKIANOTAREALKEY00000", "whatever"), "does not know the access key"),
        (None, "the secret key does not match"),
    ],
    ids=["unknown-key", "wrong-secret"],
)
def test_wrong_credentials_fail_before_the_dump_with_exit_6(
    run: Run, auth_s3: AuthEndpoint, credentials: tuple[str, str] | None, says: str
) -> None:
    """Keys the endpoint rejects: exit 6 in the preflight, no secret in the output, nothing
    written to the bucket, and the previous local backup intact."""
    before = run.plant_previous_backup()
    key_id, secret = credentials or (auth_s3.endpoint.access_key, "not-the-secret")
    env = {
        **auth_s3.endpoint.env(auth_s3.bucket, PREFIX),
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
    }

    result = run(**env)

    assert result.returncode == 6, describe(result)
    assert "invalid credentials" in result.stderr and says in result.stderr, describe(result)
    assert auth_s3.bucket in result.stderr
    assert secret not in result.stdout + result.stderr
    assert snapshot(run.backup_dir) == before, describe(result)
    assert auth_s3.endpoint.list_keys(auth_s3.bucket, PREFIX) == []


def test_the_readme_iam_policy_is_enough_to_back_up_and_list(
    run: Run, auth_s3: AuthEndpoint
) -> None:
    """A user holding only the documented policy passes the preflight (list, put, delete),
    uploads and proves a backup, and lists it."""
    prefix = f"{run.database}/"
    key_id, secret = auth_s3.policy_user(readme_policy(run.project, auth_s3.bucket, prefix))
    env = {
        **auth_s3.endpoint.env(auth_s3.bucket, prefix),
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
    }

    made = run(**env)
    assert made.returncode == 0, describe(made)
    listed = run("--list", **env)
    assert listed.returncode == 0, describe(listed)
    [local] = run.local_backups()
    assert f"s3://{auth_s3.bucket}/{prefix}daily/{local.name}" in listed.stdout, describe(listed)


def test_access_denied_on_upload_keeps_the_local_backup_and_leaves_nothing_remote(
    run: Run, auth_s3: AuthEndpoint
) -> None:
    """The preflight may write its probe, but the backup's key is denied: exit 6 after the
    dump, the local backup and its .sha256 intact (even with delete-local-after-upload on),
    no object or unfinished upload left."""
    bucket = auth_s3.bucket
    prefix = f"{run.database}/"
    arn = f"arn:aws:s3:::{bucket}"
    key_id, secret = auth_s3.policy_user(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket*", "Resource": arn},
                {
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:DeleteObject"],
                    "Resource": f"{arn}/{prefix}.db-backup-preflight-*",
                },
            ],
        }
    )
    env = {
        **auth_s3.endpoint.env(bucket, prefix),
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "BACKUP_S3_DELETE_LOCAL_AFTER_UPLOAD": "true",
    }

    result = run(**env)

    assert result.returncode == 6, describe(result)
    [local] = run.local_backups()
    assert f"access denied to s3://{bucket}/{prefix}daily/{local.name}" in result.stderr
    checksum = local.with_name(local.name + ".sha256")
    assert checksum.is_file()
    check = subprocess.run(
        ["sha256sum", "-c", checksum.name], cwd=local.parent, capture_output=True, check=False
    )
    assert check.returncode == 0, "the local backup is intact"
    assert auth_s3.endpoint.list_keys(bucket, prefix) == []
    assert unfinished_uploads(auth_s3.endpoint, bucket) == []


def test_connection_lost_mid_upload_aborts_the_multipart_upload(
    run: Run, postgres: PostgresServer, s3: S3Endpoint, bucket: str
) -> None:
    """The endpoint's connection drops while parts are sent: exit 6, the local backup intact,
    the multipart upload aborted, and no object under the key."""
    fill_with_random_text(postgres, run.database, 7)
    port = int(s3.endpoint_url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, limit=2 * MIB)
    try:
        result = run(
            BACKUP_S3_PART_SIZE_MB="5",
            BACKUP_S3_MAX_ATTEMPTS="1",
            **{
                **s3.env(bucket, PREFIX),
                "BACKUP_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
            },
        )
    finally:
        proxy.close()

    assert result.returncode == 6, describe(result)
    assert proxy.cut >= 1, "the upload went through the proxy"
    [local] = run.local_backups()
    assert f"s3://{bucket}/{PREFIX}daily/{local.name}" in result.stderr, describe(result)
    check = subprocess.run(
        ["sha256sum", "-c", f"{local.name}.sha256"], cwd=local.parent, capture_output=True
    )
    assert check.returncode == 0, "the local backup is intact"
    assert s3.list_keys(bucket) == []
    assert unfinished_uploads(s3, bucket) == []


def test_s3_without_boto3_is_a_config_error_before_the_dump(
    run: Run, s3: S3Endpoint, bucket: str
) -> None:
    """The system python3 without the s3 extra: exit 2 saying how to install it."""
    probe = subprocess.run(["/usr/bin/python3", "-c", "import boto3"], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("/usr/bin/python3 has boto3 installed, so it cannot show its absence")
    path = "/usr/bin:/bin"

    result = run(**s3.env(bucket, PREFIX), PATH=path)

    assert result.returncode == 2, describe(result)
    assert "boto3" in result.stderr and "pip install 'tools/db-backup[s3]'" in result.stderr
    assert run.local_backups() == []
    assert s3.list_keys(bucket) == []


@pytest.mark.parametrize("prefix", ["/", "//"])
def test_a_prefix_meaning_the_bucket_root_is_a_config_error(
    run: Run, s3: S3Endpoint, bucket: str, prefix: str
) -> None:
    """Retention deletes under the prefix, so the bucket root is refused: exit 2, nothing
    dumped or uploaded."""
    result = run(**s3.env(bucket, prefix))

    assert result.returncode == 2, describe(result)
    assert "BACKUP_S3_PREFIX" in result.stderr
    assert run.local_backups() == []
    assert s3.list_keys(bucket) == []


# --- a bucket shared with other databases and projects -------------------------------------


def test_shared_bucket_objects_of_others_are_never_listed_or_deleted(
    run: Run, s3: S3Endpoint, bucket: str
) -> None:
    """Other databases' backups (even one whose name extends ours), other prefixes, nested
    folders and unrelated files stay, however old; only our own old backup is pruned."""
    db = run.database
    client = s3.client()
    body = gzip.compress(b"-- PostgreSQL database dump\n")
    ours_old = f"{PREFIX}daily/{db}_daily_20200101_000000.sql.gz"
    theirs = [
        f"{PREFIX}daily/other_daily_20200101_000000.sql.gz",
        f"{PREFIX}daily/{db}_daily_daily_20200101_000000.sql.gz",  # database "<db>_daily"
        f"{PREFIX}daily/{db}x_daily_20200101_000000.sql.gz",
        f"{PREFIX}daily/notes.txt",
        f"{PREFIX}daily/nested/{db}_daily_20200101_000000.sql.gz",
        f"{PREFIX}{db}_daily_20200101_000000.sql.gz",
        f"other-project/daily/{db}_daily_20200101_000000.sql.gz",
        f"{db}_daily_20200101_000000.sql.gz",
    ]
    for key in [ours_old, *theirs]:
        client.put_object(Bucket=bucket, Key=key, Body=body)
        client.put_object(Bucket=bucket, Key=f"{key}.sha256", Body=b"0" * 64 + b"  x\n")
        for name in (key, f"{key}.sha256"):
            backdate_object(s3, bucket, name, 400 * DAY)
    env = {**s3.env(bucket, PREFIX), "BACKUP_RETENTION_DAILY": "7", "BACKUP_KEEP_MIN": "1"}

    made = run("--type=daily", **env)

    assert made.returncode == 0, describe(made)
    keys = set(s3.list_keys(bucket))
    assert ours_old not in keys and f"{ours_old}.sha256" not in keys
    for key in theirs:
        assert key in keys and f"{key}.sha256" in keys, key
    listed = run("--list", **env)
    assert listed.returncode == 0, describe(listed)
    remote = [line for line in listed.stdout.splitlines() if "s3://" in line]
    [local] = run.local_backups()
    assert len(remote) == 1 and local.name in remote[0], describe(listed)
