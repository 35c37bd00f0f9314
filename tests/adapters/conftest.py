"""Helpers for the adapters' unit tests: scripted HTTP answers and retries without waiting."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina

from oob.adapters.retry import RetryPolicy
from oob.sandbox.configfile import render_config
from oob.sandbox.faults import FaultPlan
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response] | Exception


@dataclass
class FixedClock:
    at: datetime = datetime(2024, 6, 23, 14, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


@dataclass
class Script:
    """A fake service: answers per "METHOD /path", in order (the last one repeats)."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(self, route: str, *answers: Answer) -> Script:
        self.answers.setdefault(route, []).extend(answers)
        return self

    def calls(self, route: str) -> list[httpx.Request]:
        return [r for r in self.requests if f"{r.method} {r.url.path}" == route]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = f"{request.method} {request.url.path}"
        queue = self.answers.get(route)
        if not queue:
            return httpx.Response(404, json={"message": "Not Found"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def ok(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(data).encode(), headers=headers)


POLICY = RetryPolicy(attempts=3, total_seconds=60, longest_wait=90)


@pytest.fixture(autouse=True)
def no_waiting() -> Iterator[None]:
    """Retries happen, but without sleeping, and never more than the policy allows."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


# --- the sandbox, over a real socket ----------------------------------------------------------

START = 1_750_000_000.0  # a fixed simulated start: the same timestamps on every run
TOKEN = "sandbox-token"


def render(url: str, timeout: float = 0.5) -> str:
    """The sandbox's own oob.toml for `url`, with short timeouts (faults are slower)."""
    text = render_config(url, TOKEN)
    for service in ("jenkins", "github", "slack"):
        header = f"[services.{service}]\n"
        assert header in text
        text = text.replace(header, f"{header}timeout_seconds = {timeout}\n")
    return text


Start = Callable[..., tuple[SandboxServer, Path]]


@pytest.fixture
def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Start]:
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    servers: list[SandboxServer] = []

    def run(
        scenario: str = "happy", faults: FaultPlan | None = None, **settings: Any
    ) -> tuple[SandboxServer, Path]:
        options = Options(scenario=scenario, time_scale=0, start=START, **settings)
        server = SandboxServer(options, faults=faults).start()
        servers.append(server)
        path = tmp_path / f"{scenario}-{len(servers)}.toml"
        path.write_text(render(server.url), encoding="utf-8")
        return server, path

    yield run
    for server in servers:
        server.stop()
