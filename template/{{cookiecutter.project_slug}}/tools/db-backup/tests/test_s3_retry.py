"""S3 retries: botocore's retryable errors, at most so many attempts and so many seconds."""

from __future__ import annotations

import importlib.util
from typing import ClassVar

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("botocore") is None,
    reason="botocore (the s3 extra) is not installed",
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget(max_attempts: int = 20, seconds: float = 30, draw: float = 1.0):
    from db_backup.storage.s3_retry import RetryBudget

    clock = Clock()
    return RetryBudget(max_attempts, seconds, clock=clock, draw=lambda: draw), clock


def put_object():
    """botocore's model of S3 PutObject."""
    import botocore.session

    return botocore.session.get_session().get_service_model("s3").operation_model("PutObject")


def refused(attempts: int, context: dict) -> dict:
    """The ``needs-retry`` arguments for a connection that was refused."""
    from botocore.exceptions import EndpointConnectionError

    return {
        "response": None,
        "attempts": attempts,
        "caught_exception": EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        "operation": put_object(),
        "request_dict": {"context": context},
    }


def answered(status: int, code: str, attempts: int = 1) -> dict:
    """The ``needs-retry`` arguments for an error answer from the endpoint."""

    class Response:
        status_code = status
        headers: ClassVar[dict[str, str]] = {}

    return {
        "response": (Response(), {"Error": {"Code": code}, "ResponseMetadata": {}}),
        "attempts": attempts,
        "caught_exception": None,
        "operation": put_object(),
        "request_dict": {"context": {}},
    }


def test_pauses_double_from_half_a_second_up_to_five():
    retry, _ = budget()
    assert [retry.pause(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    low, _ = budget(draw=0.0)
    assert low.pause(1) == 0.25 and low.pause(10) == 2.5


def test_a_refused_connection_is_retried_until_the_budget_is_spent():
    """Time, not the attempt count, ends the retries; the last pause ends with the budget."""
    retry, clock = budget(max_attempts=100, seconds=30)
    context: dict = {}
    attempts, waited = 1, 0.0
    while (pause := retry.needs_retry(**refused(attempts, context))) is not None:
        assert pause > 0
        clock.now += pause
        waited += pause
        attempts += 1
    assert waited == pytest.approx(30)
    assert attempts == 10  # pauses 0.5 + 1 + 2 + 4 + 5 x 4 = 27.5, then the last 2.5 s


def test_the_budget_runs_from_the_first_failure_of_each_request():
    """A request that failed after a long attempt still gets its retries; another request
    (another part) has its own budget."""
    retry, clock = budget(seconds=10)
    first: dict = {}
    assert retry.needs_retry(**refused(1, first)) == 0.5
    clock.now += 9.8
    assert retry.needs_retry(**refused(2, first)) == pytest.approx(0.2)
    clock.now += 0.2
    assert retry.needs_retry(**refused(3, first)) is None
    assert retry.needs_retry(**refused(1, {})) == 0.5


def test_max_attempts_counts_every_attempt_and_sets_the_header_max():
    """BACKUP_S3_MAX_ATTEMPTS=3: a third failed attempt is the last; ``max=3`` is recorded."""
    retry, _ = budget(max_attempts=3)
    context: dict = {"retries": {"attempt": 1}}
    assert retry.needs_retry(**refused(1, context)) is not None
    assert retry.needs_retry(**refused(2, context)) is not None
    assert retry.needs_retry(**refused(3, context)) is None
    assert context["retries"]["max"] == 3


def test_zero_seconds_means_no_retry():
    retry, _ = budget(seconds=0)
    assert retry.needs_retry(**refused(1, {})) is None


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (500, "InternalError")])
def test_busy_or_failing_endpoints_are_retried(status, code):
    retry, _ = budget()
    assert retry.needs_retry(**answered(status, code)) is not None


@pytest.mark.parametrize(
    ("status", "code"), [(403, "AccessDenied"), (404, "NoSuchBucket"), (400, "InvalidArgument")]
)
def test_answers_that_a_retry_cannot_change_are_not_retried(status, code):
    retry, _ = budget()
    assert retry.needs_retry(**answered(status, code)) is None


def test_install_replaces_botocores_own_retries():
    """The client keeps one needs-retry handler: this one (botocore's would retry on its own)."""
    import boto3
    from botocore.config import Config

    retry, _ = budget(max_attempts=4, seconds=0)
    client = boto3.session.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    ).client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"mode": "standard", "total_max_attempts": 4}),
    )
    retry.install(client)
    answers = client.meta.events.emit("needs-retry.s3.PutObject", **refused(1, {}))
    handlers = [handler for handler, _ in answers]
    assert retry.needs_retry in handlers
    assert [answer for _, answer in answers if answer is not None] == []
