"""A throwaway PostgreSQL cluster built from the local server binaries.

initdb refuses to run as root, so under root the cluster belongs to the ``postgres`` system
user: its directory is a fresh temporary directory chowned to that user, and every server
command runs through ``runuser -u postgres --``. Authentication is scram-sha-256 over TCP on
127.0.0.1, so password handling in the tests is real.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from ._net import ServiceUnavailable, clean_environ, free_port

SUPERUSER = "postgres"
CLUSTER_USER = "postgres"


class ClusterAddress(NamedTuple):
    """Where the started cluster listens and how its superuser logs in."""

    host: str
    port: int
    superuser: str
    password: str


class LocalCluster:
    """A throwaway cluster from the local server binaries, stopped and deleted on exit.

    initdb refuses to run as root, so under root the cluster belongs to the ``postgres``
    system user and every server command runs through ``runuser -u postgres --``.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.password = secrets.token_hex(12)
        self.root: Path | None = None
        self.port = 0

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    def _as_cluster_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", CLUSTER_USER, "--", *argv]
        return argv

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam(CLUSTER_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, argv: list[str], timeout: float = 120) -> None:
        result = subprocess.run(
            self._as_cluster_user(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=clean_environ(),
            cwd=self.root,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()[-8:]
            raise ServiceUnavailable(
                f"{Path(argv[0]).name} failed ({result.returncode}): "
                + " | ".join(output)
                + self._log_tail()
            )

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").strip().splitlines()[-5:]
        except OSError:
            return ""
        return " | server log: " + " | ".join(lines) if lines else ""

    def start(self) -> ClusterAddress:
        """initdb, configure and start the cluster; return its connection facts."""
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(CLUSTER_USER)
            except KeyError as error:
                raise ServiceUnavailable(
                    f"running as root needs a {CLUSTER_USER!r} system user to own the test "
                    "cluster (apt-get install postgresql creates it)"
                ) from error
        # /tmp keeps the unix socket path short (about 100 bytes at most) and is
        # reachable by the postgres user when running as root
        base = "/tmp" if Path("/tmp").is_dir() else None
        self.root = Path(tempfile.mkdtemp(prefix="pg-backup-test-", dir=base))
        self._own(self.root)
        password_file = self.root / "superuser.password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        self._own(password_file)
        socket_dir = self.root / "socket"
        socket_dir.mkdir(mode=0o700)
        self._own(socket_dir)

        self._run(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(password_file),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ]
        )
        password_file.unlink()
        last_error: ServiceUnavailable | None = None
        for _attempt in range(3):
            self.port = free_port()
            self._write_settings(socket_dir)
            try:
                self._run(
                    [
                        str(self.bindir / "pg_ctl"),
                        "--pgdata",
                        str(self.data_dir),
                        "--log",
                        str(self.log_file),
                        "--wait",
                        "--timeout",
                        "60",
                        "start",
                    ],
                    timeout=90,
                )
            except ServiceUnavailable as error:
                last_error = error
                continue
            return ClusterAddress("127.0.0.1", self.port, SUPERUSER, self.password)
        assert last_error is not None
        raise last_error

    def _write_settings(self, socket_dir: Path) -> None:
        settings = (
            "\n# throwaway test cluster\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{socket_dir}'\n"
            "password_encryption = 'scram-sha-256'\n"
            "fsync = off\n"
            "synchronous_commit = off\n"
            "full_page_writes = off\n"
            "max_connections = 50\n"
            "shared_buffers = 32MB\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(settings)

    def stop(self) -> None:
        """Stop the server (fast, no checkpoint needed) and delete the cluster directory."""
        try:
            if self.root is not None and (self.data_dir / "postmaster.pid").exists():
                subprocess.run(
                    self._as_cluster_user(
                        [
                            str(self.bindir / "pg_ctl"),
                            "--pgdata",
                            str(self.data_dir),
                            "--mode",
                            "immediate",
                            "--wait",
                            "stop",
                        ]
                    ),
                    capture_output=True,
                    timeout=60,
                    check=False,
                    env=clean_environ(),
                )
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None


@contextlib.contextmanager
def local_cluster(bindir: Path) -> Iterator[ClusterAddress]:
    """Run a throwaway local cluster for the duration of the block."""
    cluster = LocalCluster(bindir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
