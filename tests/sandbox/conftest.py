"""Sandboxes on real sockets with a manual clock, and the real clients a user's scripts use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import api4jenkins
import httpx
import jenkins
import pytest
from github import Auth, Github
from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler

from oob.sandbox.faults import FaultPlan
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options

TOKEN = "sandbox-token"
CMS_REPO = "department-of-veterans-affairs/va.gov-cms"
POSTMORTEMS = "department-of-veterans-affairs/va.gov-team-sensitive"
START = 1_750_000_000.0  # a fixed simulated start: timestamps are the same on every run
# Simulated seconds after which `happy`'s fix, merged a minute before the start, passed staging.
STAGING = 20 * 60

StartSandbox = Callable[..., SandboxServer]


@pytest.fixture(scope="session")
def idle_sandboxes() -> Iterator[list[SandboxServer]]:
    """Plain sandboxes kept between tests (reset before reuse): starting one costs time."""
    idle: list[SandboxServer] = []
    yield idle
    for server in idle:
        server.stop()


@pytest.fixture
def start_sandbox(idle_sandboxes: list[SandboxServer]) -> Iterator[StartSandbox]:
    """Start sandboxes (manual clock unless told otherwise); each is done when the test ends."""
    reusable: list[SandboxServer] = []
    own: list[SandboxServer] = []

    def start(
        scenario: str = "happy", faults: FaultPlan | None = None, **options: Any
    ) -> SandboxServer:
        seed = options.pop("seed", 0)
        plain = faults is None and not options
        if plain and idle_sandboxes:
            server = idle_sandboxes.pop()
            server.world.reset(scenario=scenario, seed=seed)
            reusable.append(server)
            return server
        time_scale = options.pop("time_scale", 0)
        opts = Options(scenario=scenario, seed=seed, time_scale=time_scale, start=START, **options)
        server = SandboxServer(opts, faults=faults).start()
        (reusable if plain else own).append(server)
        return server

    yield start
    idle_sandboxes.extend(reusable)
    for server in own:
        server.stop()


@pytest.fixture
def sandbox(start_sandbox: StartSandbox) -> SandboxServer:
    """A happy-path sandbox whose clock moves only when the test advances it."""
    return start_sandbox()


@dataclass
class Clients:
    """The real clients, pointed at one sandbox; `close()` releases their connections."""

    sandbox: SandboxServer
    token: str = TOKEN
    timeout: float = 5
    github_retry: Any = None
    slack_handlers: list[RetryHandler] = field(default_factory=list)
    _open: list[Callable[[], None]] = field(default_factory=list)

    @cached_property
    def jenkins(self) -> jenkins.Jenkins:
        """python-jenkins, as a user's script would create it."""
        server = jenkins.Jenkins(
            f"{self.sandbox.url}/jenkins", username="oob", password=self.token, timeout=self.timeout
        )
        self._open.append(server._session.close)
        return server

    @cached_property
    def api4jenkins(self) -> api4jenkins.Jenkins:
        """api4jenkins, as a user's script would create it."""
        client = api4jenkins.Jenkins(
            f"{self.sandbox.url}/jenkins/", auth=("oob", self.token), timeout=self.timeout
        )
        self._open.append(client.http_client.close)
        return client

    @cached_property
    def github(self) -> Github:
        """PyGithub with the sandbox as a GitHub Enterprise base URL, without request pacing."""
        client = Github(
            base_url=f"{self.sandbox.url}/github",
            auth=Auth.Token(self.token),
            seconds_between_requests=0,
            seconds_between_writes=0,
            timeout=self.timeout,
            retry=self.github_retry,
        )
        self._open.append(client.close)
        return client

    @cached_property
    def slack(self) -> WebClient:
        """slack_sdk's WebClient against the sandbox's Slack."""
        return WebClient(
            base_url=f"{self.sandbox.url}/slack/api/",
            token=self.token,
            timeout=self.timeout,
            retry_handlers=self.slack_handlers,
        )

    @cached_property
    def http(self) -> httpx.Client:
        """A plain HTTP client, for what the libraries hide (headers, raw bodies)."""
        client = httpx.Client(base_url=self.sandbox.url, timeout=self.timeout)
        self._open.append(client.close)
        return client

    def close(self) -> None:
        """Close every client that was created."""
        for close in self._open:
            close()


Connect = Callable[..., Clients]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Make clients for a sandbox; they are closed when the test ends."""
    made: list[Clients] = []

    def make(sandbox: SandboxServer, **kwargs: Any) -> Clients:
        clients = Clients(sandbox, **kwargs)
        made.append(clients)
        return clients

    yield make
    for clients in made:
        clients.close()


@pytest.fixture
def clients(sandbox: SandboxServer, connect: Connect) -> Clients:
    """The real clients for the happy-path sandbox."""
    return connect(sandbox)


def land(server: SandboxServer, count: int) -> list[str]:
    """Land `count` commits on main (an engineer merging many changes); their SHAs, oldest first."""
    shas = []
    with server.world.session() as world:
        for n in range(count):
            commit = world.repo.commit(
                branch="main",
                message=f"Change {n}",
                author="Pat Doe",
                email="pat@example.gov",
                date=world.now + n,
                changes={f"docs/change-{n}.md": f"{n}\n".encode()},
            )
            shas.append(commit.sha)
    return shas
