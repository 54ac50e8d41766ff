"""Tell someone how a run went: a healthchecks-style ping, a JSON webhook, apprise messages.

``BACKUP_PING_URL`` follows the healthchecks.io protocol (also self-hosted
Healthchecks): ``<url>/start`` when a run starts, ``<url>`` on success,
``<url>/<exit code>`` on failure, the last log lines as the POST body, one
``rid`` per run. An Uptime Kuma push URL (``/api/push/<token>``) gets
``status=up`` or ``status=down`` instead. ``BACKUP_WEBHOOK_URL`` receives one
JSON object per run (on failure only, or ``BACKUP_WEBHOOK_ON=always``);
``BACKUP_NOTIFY_URLS`` sends a message through apprise (an optional extra) to
Slack, e-mail, Teams, Telegram, ntfy... (``BACKUP_NOTIFY_ON``).

Sending uses the standard library with a short timeout and one retry (none
after a timeout, so a hung receiver costs at most the timeout per call). A
notification that cannot be delivered is a WARNING: it never changes the exit
code. The URLs carry tokens, so log lines show only their scheme and host.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .errors import ConfigError
from .log import JsonValue, add_secrets, attach
from .variables import read_text

TIMEOUT_SECONDS = 5.0
ATTEMPTS = 2
RETRY_DELAY_SECONDS = 0.5
TAIL_LINES = 40
BODY_LIMIT = 10_000  # bytes of log lines sent with a ping (Healthchecks keeps the first 100 kB)
USER_AGENT = f"db-backup/{__version__}"
KUMA_PATH = "/api/push/"

log = logging.getLogger(__name__)


def safe_url(url: str) -> str:
    """``https://hc-ping.com/***``: the scheme and host only (paths and queries hold tokens)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    hidden = "/***" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{hidden}"


def _check_url(name: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {safe_url(url)}")
    return url


def _with(url: str, *, suffix: str = "", query: Mapping[str, str] | None = None) -> str:
    """``url`` with ``/suffix`` added to its path and ``query`` merged into its query string."""
    parts = urllib.parse.urlsplit(url)
    path = f"{parts.path.rstrip('/')}/{suffix}" if suffix else parts.path
    pairs = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if k not in (query or {})
    ]
    pairs.extend((query or {}).items())
    return urllib.parse.urlunsplit(parts._replace(path=path, query=urllib.parse.urlencode(pairs)))


def deliver(what: str, url: str, data: bytes | None = None, content_type: str = "") -> bool:
    """GET (or POST ``data``) ``url``, retried once after an error that may pass; else a WARNING."""
    # Imported here: every run imports this module, few send anything (urllib.request
    # brings http.client, ssl and email, a tenth of a second of start-up).
    import http.client
    import urllib.error
    import urllib.request

    headers = {"User-Agent": USER_AGENT}
    if content_type:
        headers["Content-Type"] = content_type
    reason = ""
    for attempt in range(ATTEMPTS):
        request = urllib.request.Request(
            url, data=data, headers=headers, method="POST" if data is not None else "GET"
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                answer.read(4096)
            log.debug(f"{what} sent to {safe_url(url)}")
            return True
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:  # the request itself is wrong: no retry
                break
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            cause = getattr(exc, "reason", None) or exc
            if isinstance(cause, TimeoutError):  # a hung receiver: waiting again costs as much
                reason = f"no answer within {TIMEOUT_SECONDS:g} s"
                break
            reason = getattr(cause, "strerror", None) or str(cause) or type(exc).__name__
        if attempt + 1 < ATTEMPTS:
            time.sleep(RETRY_DELAY_SECONDS)
    log.warning(f"{what} not delivered to {safe_url(url)}: {reason}")
    return False


class LogTail(logging.Handler):
    """The run's last log lines, secrets masked, for the body of a ping or message."""

    def __init__(self, lines: int = TAIL_LINES) -> None:
        super().__init__(logging.INFO)
        self.lines: collections.deque[str] = collections.deque(maxlen=lines)

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a line not kept must not disturb the run
            self.lines.append(self.format(record))

    def text(self, limit: int = BODY_LIMIT) -> str:
        """The kept lines, the newest ones within ``limit`` bytes."""
        out: list[str] = []
        size = 0
        for line in reversed(self.lines):
            size += len(line.encode()) + 1
            if size > limit:
                break
            out.append(line)
        return "\n".join(reversed(out)) + ("\n" if out else "")


@dataclass
class Ping:
    """A healthchecks.io (or Uptime Kuma push) check URL."""

    url: str
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def kuma(self) -> bool:
        """Uptime Kuma push monitors take ``status=up|down`` rather than paths."""
        return KUMA_PATH in urllib.parse.urlsplit(self.url).path

    def start(self) -> None:
        """The run started (Healthchecks measures the run's duration from here)."""
        if not self.kuma:
            deliver("start ping", _with(self.url, suffix="start", query={"rid": self.run_id}))

    def finish(self, exit_code: int, body: str, summary: str) -> None:
        """Success (exit 0) or failure with its exit code, the log lines as the body."""
        if self.kuma:
            status = "up" if exit_code == 0 else "down"
            deliver("ping", _with(self.url, query={"status": status, "msg": summary[:200]}))
            return
        suffix = "" if exit_code == 0 else str(exit_code)
        url = _with(self.url, suffix=suffix, query={"rid": self.run_id})
        deliver("ping", url, body.encode("utf-8", "replace"), "text/plain; charset=utf-8")


@dataclass
class RunReport:
    """What a run's notifications say about it; filled in as the run learns it."""

    mode: str
    database: str = ""
    backup_type: str | None = None
    file: str | None = None
    size_bytes: int | None = None

    def payload(self, exit_code: int, error: str | None, seconds: float) -> dict[str, JsonValue]:
        """The webhook's JSON object."""
        return {
            "database": self.database,
            "type": self.backup_type,
            "mode": self.mode,
            "status": "success" if exit_code == 0 else "failure",
            "exit_code": exit_code,
            "file": self.file,
            "size_bytes": self.size_bytes,
            "duration_seconds": round(seconds, 3),
            "error": error,
        }

    def summary(self, exit_code: int, error: str | None) -> str:
        """One line: ``backup of shop (daily) failed with exit 3: cannot connect ...``."""
        what = "backup" if self.mode == "backup" else self.mode.replace("-", " ")
        kind = f" ({self.backup_type})" if self.backup_type else ""
        if exit_code == 0:
            return f"{what} of {self.database}{kind} succeeded" + (
                f": {self.file}" if self.file else ""
            )
        return f"{what} of {self.database}{kind} failed with exit {exit_code}" + (
            f": {error}" if error else ""
        )


class Notifier:
    """Every configured notification of one run: ``started`` first, ``finished`` at the end."""

    def __init__(
        self,
        report: RunReport,
        *,
        ping: Ping | None = None,
        webhook: str | None = None,
        webhook_always: bool = False,
        apprise: Any = None,
        apprise_always: bool = False,
    ) -> None:
        self.report = report
        self.ping = ping
        self.webhook = webhook
        self.webhook_always = webhook_always
        self.apprise = apprise
        self.apprise_always = apprise_always
        self.tail = LogTail()
        self._clock = time.monotonic()

    def started(self) -> None:
        """Keep the run's log lines; ping ``/start``."""
        attach(self.tail)
        self._clock = time.monotonic()
        if self.ping is not None:
            self.ping.start()

    def finished(self, exit_code: int, error: str | None) -> None:
        """Ping, webhook and messages for the run's end; never raises, never blocks long."""
        seconds = time.monotonic() - self._clock
        logging.getLogger("db_backup").removeHandler(self.tail)
        summary = self.report.summary(exit_code, error)
        body = self.tail.text()
        if self.ping is not None:
            self.ping.finish(exit_code, body, summary)
        if self.webhook and (exit_code != 0 or self.webhook_always):
            payload = json.dumps(self.report.payload(exit_code, error, seconds)).encode()
            deliver("webhook", self.webhook, payload, "application/json")
        if self.apprise is not None and (exit_code != 0 or self.apprise_always):
            self._message(exit_code, summary, body)

    def _message(self, exit_code: int, summary: str, body: str) -> None:
        import apprise

        failed = exit_code != 0
        try:
            sent = self.apprise.notify(
                title=f"{'FAILED' if failed else 'OK'}: {summary}"[:250],
                body=body or summary,
                notify_type=apprise.NotifyType.FAILURE if failed else apprise.NotifyType.SUCCESS,
            )
        except Exception as exc:  # a plugin's bug must not change the run's outcome
            sent = False
            log.debug(f"apprise raised {type(exc).__name__}: {exc}")
        if not sent:
            log.warning("message not delivered to every BACKUP_NOTIFY_URLS target")


def _apprise_targets(raw: str) -> Any:
    """An ``apprise.Apprise`` with every URL of ``BACKUP_NOTIFY_URLS`` (comma/space separated)."""
    urls = [item for item in raw.replace(",", " ").split() if item]
    add_secrets(*urls)
    try:
        import apprise
    except ImportError:
        raise ConfigError(
            "BACKUP_NOTIFY_URLS needs the Python package apprise: pip install apprise "
            "(Debian/Ubuntu: apt-get install apprise)"
        ) from None
    quiet = logging.getLogger("apprise")  # its lines name full URLs: keep them out of the log
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    targets = apprise.Apprise()
    for index, url in enumerate(urls, start=1):
        if not targets.add(url):
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            raise ConfigError(
                f"BACKUP_NOTIFY_URLS entry {index} ({scheme}://***) is not a URL apprise knows"
            )
    return targets


def notifier_for(env: Mapping[str, str], report: RunReport) -> Notifier | None:
    """The notifications the settings ask for; None when none is set; ``ConfigError`` if bad."""
    ping_url = read_text(env, "BACKUP_PING_URL").strip()
    webhook = read_text(env, "BACKUP_WEBHOOK_URL").strip()
    notify_urls = read_text(env, "BACKUP_NOTIFY_URLS").strip()
    if not (ping_url or webhook or notify_urls):
        return None
    for url in (ping_url, webhook):
        parts = urllib.parse.urlsplit(url)
        add_secrets(url, parts.path if len(parts.path) >= 8 else None, parts.query or None)
    return Notifier(
        report,
        ping=Ping(_check_url("BACKUP_PING_URL", ping_url)) if ping_url else None,
        webhook=_check_url("BACKUP_WEBHOOK_URL", webhook) if webhook else None,
        webhook_always=read_text(env, "BACKUP_WEBHOOK_ON") == "always",
        apprise=_apprise_targets(notify_urls) if notify_urls else None,
        apprise_always=read_text(env, "BACKUP_NOTIFY_ON") == "always",
    )
