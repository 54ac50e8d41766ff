"""A real S3 endpoint for the tests: MinIO in a container, or moto's server on 127.0.0.1.

MinIO runs through testcontainers when a Docker engine answers (``BACKUP_TEST_DOCKER=0``
turns that off); otherwise moto's threaded server listens on a free 127.0.0.1 port. Both
are real HTTP endpoints that boto3 and the aws CLI talk to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._net import free_port, loopback, use_docker

REGION = "us-east-1"
MOTO_ACCESS_KEY = "testing-access-key"
MOTO_SECRET_KEY = "testing-secret-key"


@dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible endpoint with fake credentials, plus helpers for the tests."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = REGION
    kind: str = "moto"

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 2},
                # MinIO and other non-AWS stores reject the newer default checksum headers
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name`` (in us-east-1, which takes no location constraint)."""
        self.client().create_bucket(Bucket=name)
        return name

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``, sorted."""
        paginator = self.client().get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)

    def credentials_env(self) -> dict[str, str]:
        """The AWS_* variables that give boto3 and the aws CLI this endpoint's credentials."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def env(self, bucket: str, prefix: str = "backups/") -> dict[str, str]:
        """Variables that point the backup tool at ``s3://bucket/prefix`` on this endpoint."""
        return {
            "BACKUP_S3_BUCKET": bucket,
            "BACKUP_S3_PREFIX": prefix,
            "BACKUP_S3_ENDPOINT_URL": self.endpoint_url,
            **self.credentials_env(),
        }

    def aws(self, args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the aws CLI against this endpoint with a clean environment."""
        environ = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            **self.credentials_env(),
        }
        return subprocess.run(
            [aws_cli(), "--endpoint-url", self.endpoint_url, *args],
            env=environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def aws_cli() -> str:
    """The aws CLI installed beside this Python (the dev virtualenv), else the one on PATH."""
    beside = Path(sys.executable).parent / "aws"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("aws")
    if found is None:
        raise FileNotFoundError("the aws CLI is missing: pip install -r requirements-dev.txt")
    return found


@contextlib.contextmanager
def moto_endpoint() -> Iterator[S3Endpoint]:
    """Run moto's S3 server on a free 127.0.0.1 port for the duration of the block."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint(f"http://{host}:{port}", MOTO_ACCESS_KEY, MOTO_SECRET_KEY, kind="moto")
    finally:
        server.stop()


@contextlib.contextmanager
def minio_endpoint() -> Iterator[S3Endpoint]:
    """Run MinIO through testcontainers for the duration of the block."""
    from testcontainers.community.minio import MinioContainer

    container = MinioContainer()
    container.start()
    try:
        host = loopback(container.get_container_host_ip())
        port = container.get_exposed_port(container.port)
        yield S3Endpoint(
            f"http://{host}:{port}",
            container.access_key,
            container.secret_key,
            kind="minio",
        )
    finally:
        container.stop()


@contextlib.contextmanager
def s3_service() -> Iterator[S3Endpoint]:
    """Yield a running S3 endpoint: MinIO where Docker answers, else moto's server."""
    factory = minio_endpoint if use_docker() else moto_endpoint
    with factory() as endpoint:
        yield endpoint
