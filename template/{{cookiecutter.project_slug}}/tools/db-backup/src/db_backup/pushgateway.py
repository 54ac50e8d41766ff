"""Push a run's metrics to a Prometheus Pushgateway (``BACKUP_PUSHGATEWAY_URL``).

Where no node exporter reads a textfile (a Kubernetes CronJob's pod is gone
before any scrape), the Pushgateway keeps the last values for Prometheus. The
metrics go to the group ``/metrics/job/db_backup/database/<name>`` with POST,
which replaces only the metric names pushed: a failed run pushes no success
time, so the last one stays. A push that fails is a warning: it never changes
the run's exit code.
"""

from __future__ import annotations

import base64
import logging
import urllib.parse
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    import urllib.request

log = logging.getLogger(__name__)

JOB = "db_backup"
TIMEOUT_SECONDS = 5
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def check_url(url: str) -> str:
    """``url`` when it is an http(s) URL with a host, else ``ConfigError`` (exit 2)."""
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            "BACKUP_PUSHGATEWAY_URL must be an http:// or https:// URL with a host",
            hint="for example http://pushgateway.monitoring:9091",
        )
    return url


def group_path(database: str) -> str:
    """The grouping key's path; a value with ``/`` (or an empty one) goes base64url-encoded."""
    if database and "/" not in database:
        return f"/metrics/job/{JOB}/database/{urllib.parse.quote(database, safe='')}"
    encoded = base64.urlsafe_b64encode(database.encode("utf-8")).decode("ascii") or "="
    return f"/metrics/job/{JOB}/database@base64/{encoded}"


def _bare(parts: urllib.parse.SplitResult, path: str) -> str:
    """Scheme, host and port of ``parts`` with ``path``: no user, password or query."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))


def shown(url: str) -> str:
    """The URL without user and password, for log lines."""
    parts = urllib.parse.urlsplit(url)
    return _bare(parts, parts.path)


def request_for(url: str, database: str, body: str) -> urllib.request.Request:
    """The POST of ``body`` to the database's group; user:password in the URL become
    basic authentication."""
    import urllib.request  # only when pushing (see push)

    parts = urllib.parse.urlsplit(url)
    target = _bare(parts, parts.path.rstrip("/") + group_path(database))
    request = urllib.request.Request(
        target, data=body.encode("utf-8"), method="POST", headers={"Content-Type": CONTENT_TYPE}
    )
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        request.add_header("Authorization", f"Basic {token}")
    return request


def push(url: str, database: str, body: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    """POST ``body`` (text exposition format); True on success, a warning otherwise."""
    # Imported here: config imports this module on every run, few runs push.
    import urllib.error
    import urllib.request

    where = shown(url)
    try:
        with urllib.request.urlopen(request_for(url, database, body), timeout=timeout) as reply:
            reply.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        log.warning(f"metrics not pushed to {where}: HTTP {exc.code} {detail}".rstrip())
        return False
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        log.warning(f"metrics not pushed to {where}: {reason}")
        return False
    log.debug(f"metrics pushed to {where}")
    return True
