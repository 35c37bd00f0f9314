"""Faults on: the services fail as real ones do, and careful clients still get exactly one effect.

The clients retry the way DESIGN.md asks oob to: library retries for reads and for failures
that happen before any effect (429, secondary rate limits), and an idempotency check before
repeating a state change (look for the build, the message) because a lost response may hide an
effect that happened. The ledger must agree with what the services hold.
"""

from __future__ import annotations

import gc
import http.client
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import jenkins
import pytest
import requests
from github import GithubException
from github.GithubRetry import GithubRetry
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from oob.sandbox.faults import FaultPlan

from .conftest import CMS_REPO, TOKEN, Clients, Connect, StartSandbox

T = TypeVar("T")
PLAN = FaultPlan(rate=0.3, seed=11, slow_seconds=1.5, retry_after_seconds=1)
TRANSIENT = (
    http.client.HTTPException,
    requests.RequestException,
    jenkins.JenkinsException,
    GithubException,
    SlackApiError,
    httpx.HTTPError,
    OSError,
)


def patiently(action: Callable[[], T], attempts: int = 40) -> T:
    """Retry an action that is safe to repeat (a read, or a write guarded by a check)."""
    for _ in range(attempts - 1):
        try:
            return action()
        except TRANSIENT:
            continue
    return action()


@pytest.fixture
def faulty(start_sandbox: StartSandbox, connect: Connect) -> Clients:
    sandbox = start_sandbox("happy", faults=PLAN)
    return connect(
        sandbox,
        timeout=1,
        github_retry=GithubRetry(total=10, backoff_factor=0),
        slack_handlers=[RateLimitErrorRetryHandler(max_retry_count=10)],
    )


def test_the_release_is_triggered_exactly_once(faulty: Clients) -> None:
    server, sandbox = faulty.jenkins, faulty.sandbox

    def ours() -> list[dict[str, object]]:
        job = patiently(lambda: server.get_job_info("deploys/cms-auto-deploy", depth=0))
        return [
            patiently(lambda n=b["number"]: server.get_build_info("deploys/cms-auto-deploy", n))
            for b in job["builds"]
            if b["number"] > 612  # history ends with #612
        ]

    for _ in range(40):
        if ours():
            break
        try:
            server.build_job("deploys/cms-auto-deploy", {"release_wait": 15})
        except jenkins.TimeoutException:
            # A request that timed out may still be served: wait until the server is done
            # with it before looking, or the check races the late trigger.
            time.sleep(PLAN.slow_seconds)
        except TRANSIENT:
            pass
        sandbox.advance(10)  # past the quiet period, so a trigger shows as a build
    builds = ours()
    assert len(builds) == 1
    triggers = [e for e in sandbox.ledger() if e["path"].endswith("/buildWithParameters")]
    assert len(triggers) == 1


def test_slack_messages_are_posted_exactly_once_per_key(faulty: Clients) -> None:
    client, sandbox = faulty.slack, faulty.sandbox
    channel = next(
        c["id"]
        for c in patiently(client.conversations_list)["channels"]
        if c["name"] == "cms-helpdesk"
    )

    def posted(key: str) -> bool:
        history = patiently(
            lambda: client.conversations_history(channel=channel, include_all_metadata=True)
        )
        return any(
            m.get("metadata", {}).get("event_payload", {}).get("key") == key
            for m in history["messages"]
        )

    keys = [f"run-1/notify-{n}" for n in range(6)]
    for key in keys:
        for _ in range(40):
            if posted(key):
                break
            try:
                client.chat_postMessage(
                    channel=channel, text=f"Deploy update {key}",
                    metadata={"event_type": "oob_message", "event_payload": {"key": key}},
                )  # fmt: skip
            except TimeoutError:
                time.sleep(PLAN.slow_seconds)  # the late post lands before we look again
            except TRANSIENT:
                continue
    history = patiently(
        lambda: client.conversations_history(channel=channel, include_all_metadata=True)
    )
    # People and other apps write in the channel too: count only oob's messages.
    ours = [
        m for m in history["messages"] if m.get("metadata", {}).get("event_type") == "oob_message"
    ]
    seen = sorted(m["metadata"]["event_payload"]["key"] for m in ours)
    assert seen == keys
    entries = [e for e in sandbox.ledger() if e["service"] == "slack"]
    assert len(entries) == len(keys)


def test_every_accepted_github_write_left_its_effect(faulty: Clients) -> None:
    sandbox = faulty.sandbox
    repo = patiently(lambda: faulty.github.get_repo(CMS_REPO))
    fix = sandbox.state()["fix_sha"]
    commit = patiently(lambda: repo.get_commit(fix))
    for n in range(4):
        patiently(
            lambda n=n: commit.create_status("success", context=f"drill/{n}", description="ok")
        )
    statuses = patiently(lambda: list(commit.get_statuses()))
    ours = [s for s in statuses if s.context.startswith("drill/")]
    assert {s.context for s in ours} == {f"drill/{n}" for n in range(4)}
    entries = [e for e in sandbox.ledger() if e["service"] == "github"]
    assert len(entries) == len(ours)  # retried posts after lost answers show in both
    combined = patiently(commit.get_combined_status)
    drills = {s.context: s.state for s in combined.statuses if s.context.startswith("drill/")}
    assert drills == {f"drill/{n}": "success" for n in range(4)}


def test_faults_are_reproducible_and_some_lose_answers_after_the_effect(
    start_sandbox: StartSandbox,
) -> None:
    plan = FaultPlan(rate=0.6, seed=68, slow_seconds=0.6, retry_after_seconds=1)

    def outcomes() -> tuple[list[str], int]:
        sandbox = start_sandbox("happy", faults=plan)
        seen = []
        with httpx.Client(base_url=sandbox.url, timeout=0.5) as client:
            for n in range(20):
                try:
                    answer = client.post(
                        "/slack/api/chat.postMessage",
                        json={"channel": "#cms-editors", "text": f"n{n}"},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    seen.append(str(answer.status_code))
                except httpx.TimeoutException:
                    seen.append("timeout")
                except httpx.TransportError:
                    seen.append("dropped")  # a cut reads as ReadError or RemoteProtocolError
                sandbox.advance(2)  # stay under Slack's own rate limit
        lost = sum(e["response_lost"] for e in sandbox.ledger())
        return seen, lost

    first, lost = outcomes()
    second, _ = outcomes()
    assert first == second
    assert {"429", "500", "502", "503", "timeout", "dropped"} <= set(first)
    assert lost > 0


def test_the_control_api_and_the_cms_are_never_faulted(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox("happy", faults=FaultPlan(rate=1.0, seed=1, slow_seconds=0.1))
    with httpx.Client(base_url=sandbox.url, timeout=5) as client:
        for _ in range(10):
            assert client.get("/_sandbox/state").status_code == 200
            assert client.get("/cms/health").status_code == 200


def test_a_slack_answer_that_times_out_fails_no_later_test() -> None:
    """slack_sdk leaves a timed-out response open; the suite must not fail wherever GC finds it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        answered = threading.Event()

        def half_answer() -> None:
            peer, _ = server.accept()
            with peer:
                peer.recv(65536)
                peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n")
                answered.wait(5)

        thread = threading.Thread(target=half_answer)
        thread.start()
        port = server.getsockname()[1]
        client = WebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{port}/", timeout=0.2)
        with pytest.raises(TimeoutError):
            client.api_test()
        answered.set()
        thread.join()
    gc.collect()
