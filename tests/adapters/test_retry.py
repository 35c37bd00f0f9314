"""The shared retry loop: what is retried, how long it waits, and where it stops."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import stamina

from oob.adapters.retry import (
    RetryPolicy,
    default_classifier,
    rate_limit_reset,
    retry_after,
    send,
)
from tests.adapters.conftest import FixedClock, Script

URL = "https://svc.example/thing"


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Real backoff arithmetic with a fake sleep: the waits are recorded, not spent."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    with stamina.set_testing(False):
        yield waits


def call(script: Script, policy: RetryPolicy, *, idempotent: bool = True) -> httpx.Response:
    with httpx.Client(transport=script.transport) as client:
        return send(
            client,
            "GET" if idempotent else "POST",
            URL,
            policy=policy,
            classify=default_classifier(FixedClock()),
            idempotent=idempotent,
        )


def test_retry_after_seconds_is_honoured(script: Script, slept: list[float]) -> None:
    route = "GET /thing"
    script.on(route, httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200))
    assert call(script, RetryPolicy()).status_code == 200
    assert slept == [7.0]


def test_backoff_grows_and_is_capped(script: Script, slept: list[float]) -> None:
    script.on("GET /thing", httpx.Response(500))
    policy = RetryPolicy(attempts=5, wait_initial=1, wait_max=3)
    assert call(script, policy).status_code == 500
    assert len(slept) == 4
    assert slept == sorted(slept)
    assert max(slept) <= 3
    assert slept[0] >= 1


def test_a_wait_longer_than_the_policy_allows_is_not_waited(
    script: Script, slept: list[float]
) -> None:
    script.on("GET /thing", httpx.Response(503, headers={"Retry-After": "3600"}))
    assert call(script, RetryPolicy(longest_wait=90)).status_code == 503
    assert slept == []
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_answers_that_will_not_change_are_not_retried(script: Script, status: int) -> None:
    script.on("GET /thing", httpx.Response(status))
    assert call(script, RetryPolicy()).status_code == status
    assert len(script.requests) == 1


def test_a_change_is_resent_only_when_surely_not_done(script: Script) -> None:
    script.on(
        "POST /thing",
        httpx.ConnectError("refused"),
        httpx.Response(429),
        httpx.Response(503),
        httpx.Response(500),
    )
    assert call(script, RetryPolicy(attempts=10), idempotent=False).status_code == 500
    assert len(script.requests) == 4


def test_a_change_is_not_resent_after_a_read_timeout(script: Script) -> None:
    script.on("POST /thing", httpx.ReadTimeout("no answer"))
    with pytest.raises(httpx.ReadTimeout):
        call(script, RetryPolicy(), idempotent=False)
    assert len(script.requests) == 1


def test_retry_after_as_an_http_date(clock: FixedClock) -> None:
    response = httpx.Response(503, headers={"Retry-After": "Sun, 23 Jun 2024 14:00:45 GMT"})
    assert retry_after(response, clock) == 45


def test_rate_limit_reset_counts_from_now(clock: FixedClock) -> None:
    reset = int(clock.at.timestamp()) + 30
    response = httpx.Response(403, headers={"X-RateLimit-Reset": str(reset)})
    assert rate_limit_reset(response, clock) == 31
    assert rate_limit_reset(httpx.Response(403), clock) is None
