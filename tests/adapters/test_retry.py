"""The shared retry loop: what is retried, how long it waits, and where it stops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stamina

from oob.adapters.github import GitHubCodeHost
from oob.adapters.jenkins import JenkinsBuildServer
from oob.adapters.retry import (
    Gate,
    RetryPolicy,
    default_classifier,
    github_classifier,
    rate_limit_reset,
    retry_after,
    send,
)
from oob.adapters.retry import call as call_with_retries
from oob.errors import GitHubError, JenkinsError
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


def test_in_a_sandbox_the_services_waits_are_in_its_clock(
    script: Script, slept: list[float]
) -> None:
    """A rehearsal at 600 times real speed: GitHub's "wait a minute" is a simulated minute
    (0.1 s), not a real one -- a real minute is ten simulated hours, past every deadline of
    the run (seen: a soak run ending `failed` and another taking 143 s instead of 15)."""
    script.on(
        "GET /thing",
        httpx.Response(429, headers={"Retry-After": "60"}),
        httpx.Response(500),
        httpx.Response(200),
    )
    policy = RetryPolicy(wait_initial=3, wait_max=30, time_scale=600)
    assert call(script, policy).status_code == 200
    assert slept[0] == pytest.approx(0.1)
    assert 0 < slept[1] <= 30 / 600


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


# --- GitHub's transient answers, and what every adapter raises --------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "wait"),
    [
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "RESET"}, {}, 31.0),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "RESET"}, {}, 31.0),
        (403, {"retry-after": "7"}, {"message": "You have exceeded a secondary rate limit"}, 7.0),
        (429, {"retry-after": "7"}, {}, 7.0),
        (403, {}, {"message": "You have exceeded a secondary rate limit."}, 60.0),
        (429, {}, {"message": "You have exceeded a secondary rate limit."}, 60.0),
        (429, {}, {}, 0.0),
        (502, {}, {}, 0.0),
        (403, {"x-ratelimit-remaining": "12"}, {"message": "Resource not accessible"}, None),
        (401, {}, {"message": "Bad credentials"}, None),
        (404, {}, {"message": "Not Found"}, None),
        (422, {}, {"message": "Validation Failed"}, None),
    ],
)
def test_github_classifier(
    clock: FixedClock,
    status: int,
    headers: dict[str, str],
    body: dict[str, str],
    wait: float | None,
) -> None:
    reset = str(int(clock.at.timestamp()) + 30)
    headers = {k: reset if v == "RESET" else v for k, v in headers.items()}
    response = httpx.Response(status, headers=headers, json=body)
    assert github_classifier(clock)(response) == wait


def test_call_retries_what_the_adapter_calls_transient(slept: list[float]) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("reset")
        return "done"

    policy = RetryPolicy(attempts=5, wait_initial=1, wait_max=2)
    assert call_with_retries(flaky, policy=policy, transient=lambda e: True) == "done"
    assert len(attempts) == 3
    assert len(slept) == 2

    def refused() -> str:
        attempts.append(1)
        raise PermissionError("no")

    attempts.clear()
    with pytest.raises(PermissionError):
        call_with_retries(refused, policy=policy, transient=lambda e: False)
    assert len(attempts) == 1


@pytest.mark.parametrize(
    ("answer", "transient", "requests"),
    [
        (httpx.Response(401, json={"message": "Bad credentials"}), False, 1),
        (httpx.Response(403, json={"message": "Must have admin rights"}), False, 1),
        (httpx.Response(404, json={"message": "Not Found"}), False, 1),
        (httpx.Response(422, json={"message": "Validation Failed"}), False, 1),
        (httpx.Response(502), True, 3),
        (httpx.Response(403, headers={"x-ratelimit-remaining": "0"}, json={}), True, 3),
        (httpx.Response(429, headers={"retry-after": "3600"}, json={}), True, 1),
        (httpx.ConnectError("refused"), True, 3),
    ],
)
def test_github_errors_say_whether_trying_later_may_help(
    script: Script, clock: FixedClock, answer: Any, transient: bool, requests: int
) -> None:
    route = "GET /repos/o/r/commits/abc/status"
    script.on(route, answer)
    host = GitHubCodeHost(
        "https://api.github.com",
        "o/r",
        "t",
        token_env="OOB_GITHUB_TOKEN",
        timeout_seconds=1,
        policy=RetryPolicy(attempts=3),
        transport=script.transport,
        clock=clock,
    )
    with pytest.raises(GitHubError) as caught:
        host.combined_status("abc")
    assert caught.value.transient is transient
    assert caught.value.hint
    assert len(script.calls(route)) == requests


@pytest.mark.parametrize(
    ("answer", "transient", "requests"),
    [
        (httpx.Response(401), False, 1),
        (httpx.Response(403), False, 1),
        (httpx.Response(404), False, 1),
        (httpx.Response(503), True, 3),
        (httpx.ReadTimeout("slow"), True, 3),
    ],
)
def test_jenkins_errors_say_whether_trying_later_may_help(
    script: Script, answer: Any, transient: bool, requests: int
) -> None:
    route = "GET /job/x/1/api/json"
    script.on(route, answer)
    server = JenkinsBuildServer(
        "https://jenkins.example",
        "oob",
        "t",
        token_env="OOB_JENKINS_TOKEN",
        timeout_seconds=1,
        policy=RetryPolicy(attempts=3),
        transport=script.transport,
    )
    with pytest.raises(JenkinsError) as caught:
        server.build("x", 1)
    assert caught.value.transient is transient
    assert caught.value.hint
    assert len(script.calls(route)) == requests


def test_a_rate_limit_one_run_meets_holds_back_the_others_requests(
    script: Script, slept: list[float]
) -> None:
    """Runs of one worker share a token's limit: once an answer says it is spent until a
    moment, the next request -- another run's, through another client -- waits for that moment
    instead of being refused in turn."""
    gate = Gate.of("https://svc.example/", f"token-{time.monotonic()}")
    reset = str(int(time.time()) + 30)
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    script.on("GET /thing", httpx.Response(200, headers=spent), httpx.Response(200))
    for _run in range(2):  # two runs, each with its own client on the same token
        with httpx.Client(transport=script.transport) as client:
            answer = send(
                client, "GET", URL, policy=RetryPolicy(), classify=github_classifier(), gate=gate
            )
            assert answer.status_code == 200
    assert len(script.requests) == 2
    assert len(slept) == 1
    assert 25 < slept[0] <= 32  # the second request waited for the reset, not for a refusal


def test_clients_of_one_token_share_one_gate_and_other_tokens_do_not() -> None:
    def host(url: str, token: str, repository: str) -> GitHubCodeHost:
        return GitHubCodeHost(url, repository, token, token_env="T", timeout_seconds=1)

    one = host("https://gh.example/api/v3/", "tok-a", "org/cms")
    two = host("https://gh.example/api/v3", "tok-a", "org/forms")
    other = host("https://gh.example/api/v3", "tok-b", "org/cms")
    assert one._api._http.gate is two._api._http.gate
    assert one._api._http.gate is not other._api._http.gate
