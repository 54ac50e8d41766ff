"""Retries of S3 requests, bounded by a number of attempts and by time.

botocore's standard retry mode knows what is worth retrying (connection errors,
timeouts, throttling, 5xx answers) but bounds retries by count only, and its
pauses add up to a second or two: a short outage of the endpoint fails the run.
``RetryBudget`` keeps botocore's judgement of what is retryable and retries a
failed request while both hold: fewer than ``max_attempts`` attempts so far (the
first included, as the ``amz-sdk-request: attempt=..; max=..`` header says), and
less than ``seconds`` since the request first failed. Every request is judged
on its own, so each part of a multipart upload has the whole budget.

Pauses double from 0.5 s up to 5 s, each drawn between half and all of that
(so parallel parts do not retry in step), the last one cut short to end with
the budget.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

FIRST_PAUSE = 0.5  # seconds
MAX_PAUSE = 5.0
_FIRST_FAILURE = "db_backup_first_failure"  # kept in botocore's per-request context

log = logging.getLogger(__name__)


class RetryBudget:
    """A botocore ``needs-retry`` handler: botocore's retryable errors, within attempts and time."""

    def __init__(
        self,
        max_attempts: int,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        from botocore.retries import standard

        self.max_attempts = max_attempts
        self.seconds = seconds
        self._clock = clock
        self._draw = draw
        self._adapter = standard.RetryEventAdapter()
        self._conditions = standard.StandardRetryConditions(max_attempts=max_attempts)

    def install(self, client: Any) -> None:
        """Replace the client's standard-mode retry handler with this one.

        botocore registers its handler under ``retry-config-<service>``; taking that
        id keeps botocore from ever retrying a request this budget refuses. The
        first attempt's ``amz-sdk-request`` header gets its ``max`` too (botocore
        adds it only from the second attempt on).
        """
        events = client.meta.events
        service = client.meta.service_model.service_id.hyphenize()
        event, unique_id = f"needs-retry.{service}", f"retry-config-{service}"
        events.unregister(event, unique_id=unique_id)
        events.register(event, self.needs_retry, unique_id=unique_id)
        events.register(
            f"request-created.{service}", self.seed_max, unique_id=f"db-backup-max-{service}"
        )

    def seed_max(self, request: Any, **kwargs: Any) -> None:
        """Record ``max`` for the ``amz-sdk-request`` header of every attempt."""
        retries = getattr(request, "context", {}).get("retries")
        if retries is not None:
            retries["max"] = self.max_attempts

    def needs_retry(self, **kwargs: Any) -> float | None:
        """The pause before the next attempt, or None when the request has failed for good."""
        context = self._adapter.create_retry_context(**kwargs)
        # Also records ``max`` for the amz-sdk-request header of the next attempt.
        retryable = self._conditions.is_retryable(context)
        self._adapter.adapt_retry_response_from_context(context)
        if not retryable or self.seconds <= 0:
            return None
        now = self._clock()
        first_failure = context.request_context.setdefault(_FIRST_FAILURE, now)
        left = self.seconds - (now - first_failure)
        if left <= 0:
            return None
        pause = self.pause(context.attempt_number)
        operation = getattr(context.operation_model, "name", "request")
        log.info(
            f"S3 {operation} failed ({_reason(context)}); attempt {context.attempt_number + 1} "
            f"of {self.max_attempts} in {min(pause, left):.1f} s "
            f"({left:.0f} s of BACKUP_S3_RETRY_SECONDS left)"
        )
        return min(pause, left)

    def pause(self, attempt: int) -> float:
        """The pause after failed attempt ``attempt`` (1 for the first)."""
        ceiling = min(MAX_PAUSE, FIRST_PAUSE * 2 ** min(attempt - 1, 16))
        return ceiling * (0.5 + self._draw() / 2)


def _reason(context: Any) -> str:
    """What failed, in a few words and without server text: an exception or an error code."""
    if context.caught_exception is not None:
        return type(context.caught_exception).__name__
    error = (context.parsed_response or {}).get("Error") or {}
    status = getattr(context.http_response, "status_code", None)
    return str(error.get("Code") or f"HTTP {status}")
