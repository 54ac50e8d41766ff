"""S3 under hostile conditions: uploads left by killed runs, an endpoint that goes away for
a moment, the attempt count requests carry, a store that allows few parts.

The baked tool runs as a real process against the test PostgreSQL and the S3 endpoint,
through ``OutageProxy`` where the endpoint has to disappear.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cutting_proxy import OutageProxy
from tests.helpers import describe
from tests.services.postgres import PostgresServer
from tests.services.s3 import S3Endpoint
from tests.test_s3 import PREFIX, Run, fill_with_random_text, unfinished_uploads

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


@pytest.fixture
def run(
    baked_project: Path, postgres: PostgresServer, database: Callable[..., str], tmp_path: Path
) -> Run:
    """The baked tool pointed at a fresh copy of the small dataset."""
    return Run(baked_project, postgres, database("small"), tmp_path / "backups")


def endpoint_port(s3: S3Endpoint) -> int:
    return int(s3.endpoint_url.rsplit(":", 1)[1])


def through(proxy: OutageProxy, s3: S3Endpoint, bucket: str, **env: str) -> dict[str, str]:
    """The tool's S3 variables with the endpoint reached through ``proxy``."""
    return {
        **s3.env(bucket, PREFIX),
        "BACKUP_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        **env,
    }


def sha256_of_object(s3: S3Endpoint, bucket: str, key: str) -> str:
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def attempts_and_max(headers: list[str]) -> list[tuple[int, int]]:
    """``(attempt, max)`` of each ``amz-sdk-request`` header (``attempt=2; max=20``)."""
    found = []
    for header in headers:
        attempt = re.search(r"\battempt=(\d+)", header)
        most = re.search(r"\bmax=(\d+)", header)
        assert attempt and most, f"an amz-sdk-request header without attempt or max: {header}"
        found.append((int(attempt[1]), int(most[1])))
    return found


# --- unfinished multipart uploads of earlier runs ------------------------------------------


def test_a_run_aborts_its_databases_unfinished_multipart_uploads_and_says_how_many(
    run: Run, s3: S3Endpoint, bucket: str
) -> None:
    """Uploads a killed run left (parts sent, never completed) under any type folder are
    aborted before the dump and counted in the log; other databases' uploads, one of a
    database whose name extends ours, and uploads under another prefix stay."""
    db = run.database
    client = s3.client()
    ours = [
        f"{PREFIX}daily/{db}_daily_20200101_000000.sql.gz",
        f"{PREFIX}monthly/{db}_monthly_20200201_000000.sql.gz",
    ]
    theirs = [
        f"{PREFIX}daily/other_daily_20200101_000000.sql.gz",
        f"{PREFIX}daily/{db}_daily_daily_20200101_000000.sql.gz",  # database "<db>_daily"
        f"{PREFIX}daily/nested/{db}_daily_20200101_000000.sql.gz",
        f"other-project/daily/{db}_daily_20200101_000000.sql.gz",
    ]
    for key in ours + theirs:
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 4096
        )
    assert sorted(unfinished_uploads(s3, bucket)) == sorted(ours + theirs)

    result = run(**s3.env(bucket, PREFIX))

    assert result.returncode == 0, describe(result)
    assert sorted(unfinished_uploads(s3, bucket)) == sorted(theirs)
    output = result.stdout + result.stderr
    [line] = [x for x in output.splitlines() if "unfinished multipart upload" in x]
    assert "[INFO]" in line and "aborted 2 unfinished multipart uploads" in line, line
    assert f"of {db} under s3://{bucket}/{PREFIX}" in line, line

    again = run(**s3.env(bucket, PREFIX))

    assert again.returncode == 0, describe(again)
    assert "unfinished multipart upload" not in again.stdout + again.stderr, "none left to abort"
    assert sorted(unfinished_uploads(s3, bucket)) == sorted(theirs)


# --- retries: a time budget, and the attempt count requests carry --------------------------


def test_a_2_second_outage_during_the_upload_costs_a_pause_not_the_run(
    run: Run, s3: S3Endpoint, bucket: str
) -> None:
    """The endpoint drops every connection for 2 s from the backup's PUT on: with the default
    settings the request is retried until it goes through, and the object is the backup."""
    proxy = OutageProxy(
        endpoint_port(s3), trigger=f"PUT /{bucket}/{PREFIX}daily/".encode(), seconds=2
    )
    try:
        result = run(**through(proxy, s3, bucket))
        ended = time.monotonic()
    finally:
        proxy.close()

    assert result.returncode == 0, describe(result)
    assert proxy.dark_from is not None, "the upload went through the proxy"
    [local] = run.local_backups()
    key = f"{PREFIX}daily/{local.name}"
    assert {key, f"{key}.sha256"} <= set(s3.list_keys(bucket, f"{PREFIX}daily/"))
    assert sha256_of_object(s3, bucket, key) == hashlib.sha256(local.read_bytes()).hexdigest()
    assert unfinished_uploads(s3, bucket) == []

    put = f"PUT /{bucket}/{key} "
    lost = [line for line in proxy.dropped if line.startswith(put)]
    assert len(lost) >= 2, f"the lost PUT and a retry while dark: {proxy.dropped}"
    sent = [line for line in proxy.requests if line.startswith(put)]
    assert len(sent) == len(lost) + 1, "then one that went through"
    pairs = attempts_and_max(proxy.sdk_headers)
    assert {most for _, most in pairs} == {20}, "BACKUP_S3_MAX_ATTEMPTS defaults to 20"
    assert max(attempt for attempt, _ in pairs) >= len(lost) + 1
    output = result.stdout + result.stderr
    assert "S3 PutObject failed" in output and "of 20 in" in output, describe(result)
    print(
        f"\noutage of {proxy.seconds:.0f} s survived: {len(lost)} PUT attempts lost, "
        f"the last attempt was number {max(a for a, _ in pairs)}; the run ended "
        f"{ended - proxy.dark_from:.1f} s after the outage began"
    )


def test_a_2_second_outage_during_a_multipart_upload_costs_the_parts_a_pause(
    run: Run, postgres: PostgresServer, s3: S3Endpoint, bucket: str
) -> None:
    """The endpoint drops everything for 2 s from the first part on: each part has its own
    retry budget, the upload completes, and the object is the backup."""
    fill_with_random_text(postgres, run.database, 7)
    proxy = OutageProxy(endpoint_port(s3), trigger=b"partNumber=", seconds=2)
    try:
        result = run(**through(proxy, s3, bucket, BACKUP_S3_PART_SIZE_MB="5"))
        ended = time.monotonic()
    finally:
        proxy.close()

    assert result.returncode == 0, describe(result)
    assert proxy.dark_from is not None, "the parts went through the proxy"
    [local] = run.local_backups()
    key = f"{PREFIX}daily/{local.name}"
    head = s3.client().head_object(Bucket=bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]
    assert sha256_of_object(s3, bucket, key) == hashlib.sha256(local.read_bytes()).hexdigest()
    assert unfinished_uploads(s3, bucket) == []
    lost_parts = [line for line in proxy.dropped if "partNumber=" in line]
    assert len(lost_parts) >= 2, f"the lost part and a retry while dark: {proxy.dropped}"
    assert max(attempt for attempt, _ in attempts_and_max(proxy.sdk_headers)) >= 3
    print(
        f"\noutage of {proxy.seconds:.0f} s in a 2-part upload survived: "
        f"{len(proxy.dropped)} requests lost; the run ended "
        f"{ended - proxy.dark_from:.1f} s after the outage began"
    )


def test_with_retry_seconds_0_an_outage_is_exit_6_after_one_attempt(
    run: Run, s3: S3Endpoint, bucket: str
) -> None:
    """``BACKUP_S3_RETRY_SECONDS=0``: the lost PUT is not tried again; exit 6 while the
    endpoint is still away, the local backup intact, nothing left in the bucket."""
    proxy = OutageProxy(
        endpoint_port(s3), trigger=f"PUT /{bucket}/{PREFIX}daily/".encode(), seconds=600
    )
    try:
        result = run(**through(proxy, s3, bucket, BACKUP_S3_RETRY_SECONDS="0"))
        still_dark = proxy.dark
        ended = time.monotonic()
    finally:
        proxy.close()

    assert result.returncode == 6, describe(result)
    assert proxy.dark_from is not None and still_dark, "the run ended during the outage"
    [local] = run.local_backups()
    key = f"{PREFIX}daily/{local.name}"
    puts = [line for line in proxy.requests if line.startswith(f"PUT /{bucket}/{key} ")]
    assert len(puts) == 1, puts
    assert all(attempt == 1 for attempt, _ in attempts_and_max(proxy.sdk_headers))
    assert f"s3://{bucket}/{key}" in result.stderr, describe(result)
    assert "S3 PutObject failed" not in result.stdout + result.stderr, "no retry"
    checksum = local.with_name(local.name + ".sha256")
    assert checksum.read_text().split()[0] == hashlib.sha256(local.read_bytes()).hexdigest()
    assert s3.list_keys(bucket, f"{PREFIX}daily/") == []
    print(f"\nexit 6 {ended - proxy.dark_from:.1f} s after the endpoint went away (no retry)")


@pytest.mark.parametrize(
    ("setting", "tried"),
    [({"BACKUP_S3_RETRY_SECONDS": "3"}, range(2, 20)), ({"BACKUP_S3_MAX_ATTEMPTS": "3"}, [3])],
    ids=["3-seconds", "3-attempts"],
)
def test_retries_end_at_the_time_budget_or_the_attempt_count(
    run: Run, s3: S3Endpoint, bucket: str, setting: dict[str, str], tried: range | list[int]
) -> None:
    """An endpoint that stays away: 3 seconds of retries end before the default 20 attempts
    are used; 3 attempts are exactly 3 tries of the PUT. Exit 6 either way, the local backup
    intact and nothing left in the bucket."""
    proxy = OutageProxy(
        endpoint_port(s3), trigger=f"PUT /{bucket}/{PREFIX}daily/".encode(), seconds=600
    )
    try:
        result = run(**through(proxy, s3, bucket, **setting))
        ended = time.monotonic()
    finally:
        proxy.close()

    assert result.returncode == 6, describe(result)
    assert proxy.dark_from is not None
    [local] = run.local_backups()
    key = f"{PREFIX}daily/{local.name}"
    puts = [line for line in proxy.requests if line.startswith(f"PUT /{bucket}/{key} ")]
    assert len(puts) in tried, puts
    assert s3.list_keys(bucket, f"{PREFIX}daily/") == []
    assert unfinished_uploads(s3, bucket) == []
    print(
        f"\n{setting}: {len(puts)} PUT attempts, exit 6 "
        f"{ended - proxy.dark_from:.1f} s after the endpoint went away"
    )


@pytest.mark.parametrize("attempts", ["1", "7"])
def test_every_request_says_max_attempts_as_set(
    run: Run, s3: S3Endpoint, bucket: str, attempts: str
) -> None:
    """``BACKUP_S3_MAX_ATTEMPTS=N`` is N attempts in all: every request's ``amz-sdk-request``
    header says ``max=N`` (botocore's own ``max_attempts`` would have said N + 1)."""
    proxy = OutageProxy(endpoint_port(s3), trigger=b"\0never sent\0", seconds=0)
    try:
        result = run(**through(proxy, s3, bucket, BACKUP_S3_MAX_ATTEMPTS=attempts))
    finally:
        proxy.close()

    assert result.returncode == 0, describe(result)
    pairs = attempts_and_max(proxy.sdk_headers)
    methods = {line.split()[0] for line in proxy.requests}
    assert {"GET", "PUT", "HEAD"} <= methods, proxy.requests
    assert len(pairs) == len(proxy.requests), "every request carries the header"
    assert {most for _, most in pairs} == {int(attempts)}


# --- the store's part limit -----------------------------------------------------------------


def test_a_small_part_limit_makes_parts_larger_not_the_upload_fail(
    run: Run, postgres: PostgresServer, s3: S3Endpoint, bucket: str
) -> None:
    """``BACKUP_S3_MAX_PARTS=2`` with 5 MiB parts asked for: a backup of over 10 MiB goes up
    in 2 larger parts and comes back whole."""
    fill_with_random_text(postgres, run.database, 12)

    result = run(BACKUP_S3_MAX_PARTS="2", BACKUP_S3_PART_SIZE_MB="5", **s3.env(bucket, PREFIX))

    assert result.returncode == 0, describe(result)
    [local] = run.local_backups()
    size = local.stat().st_size
    assert size > 2 * 5 * MIB, "5 MiB parts would need more than 2"
    key = f"{PREFIX}daily/{local.name}"
    head = s3.client().head_object(Bucket=bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]
    part_mib = math.ceil(math.ceil(size / 2) / MIB)
    assert f"in 2 parts of {part_mib} MiB" in result.stdout + result.stderr, describe(result)
    assert sha256_of_object(s3, bucket, key) == hashlib.sha256(local.read_bytes()).hexdigest()
    assert unfinished_uploads(s3, bucket) == []
