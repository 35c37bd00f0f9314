"""GitHub's secondary rate limit as the sandbox's faults give it (issue 13): a 403 or a 429, with
or without `retry-after`, each with GitHub's body; and oob's GitHub adapter takes every variant
as transient, waiting what `retry-after` asks, or GitHub's minute when it names no wait.

GitHub's REST docs ("Rate limits for the REST API", About secondary rate limits): "you will
receive a 403 or 429 response and an error message that indicates that you exceeded a secondary
rate limit. If the retry-after response header is present, you should not retry your request
until after that many seconds has elapsed. [...] Otherwise, wait for at least one minute".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from githubkit_schemas.v2022_11_28 import models as m
from pydantic import TypeAdapter
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from oob.adapters.github import GitHubCodeHost
from oob.adapters.retry import SECONDARY_WAIT, RetryPolicy
from oob.errors import GitHubError
from oob.ports import StatusState
from oob.sandbox.faults import FaultPlan
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options

from .conftest import CMS_REPO, START, TOKEN, StartSandbox

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
RETRY_AFTER = 2
SEEDS = tuple(range(8))  # about 40 secondary limits in all, every variant several times
REQUESTS_PER_SEED = 40
# What GitHub answers (its message as real traffic and GitHub's docs give it; the section of the
# docs that its REST description, github/rest-api-description, links for secondary limits).
MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
DOCUMENTATION_URL = (
    "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
# The services' seconds run this much faster than real ones in the adapter's waits.
TIME_SCALE = 200.0


@dataclass(frozen=True)
class Answer:
    """One answer of the sandbox, kept to be given again."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def retry_after(self) -> str | None:
        value: str | None = httpx.Headers(list(self.headers)).get("retry-after")
        return value

    @property
    def variant(self) -> tuple[int, bool]:
        return self.status, self.retry_after is not None

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers=list(self.headers), content=self.body)


def secondary_limits(server: SandboxServer, count: int) -> list[Answer]:
    """The secondary-limit answers among `count` reads of the fix's combined status."""
    fix = server.state()["fix_sha"]
    url = f"/github/repos/{CMS_REPO}/commits/{fix}/status"
    found: list[Answer] = []
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=5) as client:
        for _ in range(count):
            try:
                answer = client.get(url)
            except httpx.TransportError:  # a dropped connection: another fault
                continue
            if answer.status_code in (403, 429) and "secondary" in answer.text:
                found.append(
                    Answer(answer.status_code, tuple(answer.headers.multi_items()), answer.content)
                )
    return found


@pytest.fixture(scope="module")
def answers() -> list[Answer]:
    """The secondary limits of sandboxes where every GitHub request meets a fault, over seeds."""
    found: list[Answer] = []
    for seed in SEEDS:
        plan = FaultPlan(rate=1.0, seed=seed, slow_seconds=0.01, retry_after_seconds=RETRY_AFTER)
        options = Options(scenario="happy", seed=seed, time_scale=0, start=START)
        with SandboxServer(options, faults=plan) as server:
            found += secondary_limits(server, REQUESTS_PER_SEED)
    return found


def one_of_each(answers: list[Answer]) -> dict[tuple[int, bool], Answer]:
    return {a.variant: a for a in reversed(answers)}


VARIANTS = [(403, True), (403, False), (429, True), (429, False)]


def test_both_statuses_with_and_without_retry_after_occur_across_seeds(
    answers: list[Answer],
) -> None:
    assert set(one_of_each(answers)) == set(VARIANTS), [a.variant for a in answers]


def test_every_secondary_limit_has_githubs_body(answers: list[Answer]) -> None:
    assert answers
    for answer in answers:
        headers = httpx.Headers(list(answer.headers))
        assert headers["content-type"].startswith("application/json"), answer
        body = httpx.Response(answer.status, content=answer.body).json()
        TypeAdapter(m.BasicError).validate_python(body)
        assert body["message"].startswith(MESSAGE), body
        assert body["documentation_url"] == DOCUMENTATION_URL, body
        assert body.get("status") == str(answer.status), body
        # A secondary limit, not the primary one: requests are left in the hour.
        assert headers.get("x-ratelimit-remaining") != "0", answer
        assert answer.retry_after in (None, str(RETRY_AFTER)), answer


def test_the_sandbox_faults_are_reproducible(start_sandbox: StartSandbox) -> None:
    plan = FaultPlan(rate=1.0, seed=SEEDS[0], slow_seconds=0.01, retry_after_seconds=RETRY_AFTER)
    first = start_sandbox("happy", faults=plan)
    second = start_sandbox("happy", faults=plan)
    assert [a.variant for a in secondary_limits(first, 20)] == [
        a.variant for a in secondary_limits(second, 20)
    ]


# --- oob's GitHub adapter against each variant ------------------------------------------------


class LimitedThenReal(httpx.BaseTransport):
    """Gives `answer` (a secondary limit the sandbox sent) `times` times (None: always), then
    passes requests on to the sandbox."""

    def __init__(self, answer: Answer, times: int | None) -> None:
        self.answer = answer
        self.left = times
        self.sent: list[httpx.Request] = []
        self.real = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        if self.left is None or self.left > 0:
            if self.left is not None:
                self.left -= 1
            return self.answer.response()
        return self.real.handle_request(request)

    def close(self) -> None:
        self.real.close()


@pytest.fixture
def waits() -> Iterator[list[float]]:
    """The waits the retry loop schedules, in the services' seconds."""
    scheduled: list[float] = []

    def hook(details: RetryDetails) -> None:
        scheduled.append(details.wait_for * TIME_SCALE)

    before = get_on_retry_hooks()
    set_on_retry_hooks([*before, hook])
    yield scheduled
    set_on_retry_hooks(before)


def code_host(server: SandboxServer, transport: httpx.BaseTransport) -> GitHubCodeHost:
    return GitHubCodeHost(
        f"{server.url}/github",
        CMS_REPO,
        TOKEN,
        token_env="OOB_GITHUB_TOKEN",
        timeout_seconds=5,
        policy=RetryPolicy(attempts=3, total_seconds=30, time_scale=TIME_SCALE),
        transport=transport,
    )


def expected_wait(answer: Answer) -> float:
    return float(RETRY_AFTER) if answer.retry_after is not None else SECONDARY_WAIT


@pytest.mark.parametrize(("status", "named"), VARIANTS)
def test_the_adapter_waits_out_each_variant_then_reads(
    answers: list[Answer],
    start_sandbox: StartSandbox,
    waits: list[float],
    status: int,
    named: bool,
) -> None:
    answer = one_of_each(answers)[(status, named)]
    server = start_sandbox("happy")
    fix = server.state()["fix_sha"]
    transport = LimitedThenReal(answer, times=1)
    github = code_host(server, transport)
    try:
        combined = github.combined_status(fix)
        assert combined.sha == fix
        # A write meets the limit too, and is sent again once the wait is over.
        transport.left = 1
        posted = github.create_status(fix, StatusState.SUCCESS, "oob/probe", "after a limit", None)
        assert posted.state is StatusState.SUCCESS
    finally:
        github.close()
    assert len(transport.sent) == 4
    assert waits == [pytest.approx(expected_wait(answer))] * 2
    probes = [e for e in server.ledger() if e["summary"].get("context") == "oob/probe"]
    assert len(probes) == 1  # the limited write never reached GitHub; the one sent again did


@pytest.mark.parametrize(("status", "named"), VARIANTS)
def test_a_lasting_limit_is_a_transient_error(
    answers: list[Answer],
    start_sandbox: StartSandbox,
    waits: list[float],
    status: int,
    named: bool,
) -> None:
    answer = one_of_each(answers)[(status, named)]
    server = start_sandbox("happy")
    transport = LimitedThenReal(answer, times=None)
    github = code_host(server, transport)
    try:
        with pytest.raises(GitHubError) as caught:
            github.combined_status(server.state()["fix_sha"])
    finally:
        github.close()
    assert caught.value.transient is True
    assert "rate limiting" in caught.value.message
    assert len(transport.sent) == 3  # the policy's attempts, each after the wait asked for
    assert waits == [pytest.approx(expected_wait(answer))] * 2
