"""Small process and network utilities shared by the service modules."""

from __future__ import annotations

import functools
import os
import socket
import subprocess


def clean_environ() -> dict[str, str]:
    """A copy of this process's environment without libpq (PG*) variables.

    A developer's PGHOST or PGPASSWORD must never redirect or authenticate the harness's
    psql, initdb or pg_ctl.
    """
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def docker_answers(timeout: float = 10.0) -> bool:
    """Tell whether a Docker engine answers ``docker info`` within ``timeout`` seconds.

    Asked once per process: the PostgreSQL and S3 services share the answer.
    """
    try:
        result = subprocess.run(
            ["docker", "info"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def loopback(host: str) -> str:
    """Spell ``localhost`` as 127.0.0.1, so clients never try ::1 where nothing listens."""
    return "127.0.0.1" if host in {"localhost", ""} else host


class ServiceUnavailable(RuntimeError):
    """No way to start a service was found; the message says how to get one."""


DOCKER_SWITCH = "BACKUP_TEST_DOCKER"


def use_docker(environ: dict[str, str] | None = None) -> bool:
    """Tell whether services should run in containers.

    ``BACKUP_TEST_DOCKER=0`` forces local processes even where Docker answers; otherwise
    containers are used exactly when a Docker engine answers.
    """
    switch = (environ if environ is not None else os.environ).get(DOCKER_SWITCH, "auto")
    if switch.strip().lower() in {"0", "no", "false", "never", "off"}:
        return False
    return docker_answers()
