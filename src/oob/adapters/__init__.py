"""Adapters: the ports of `oob.ports` on the real services (or the sandbox, which speaks alike).

Build them all from a config with `connect`::

    with connect(config) as services:
        services.code_host.combined_status(sha)

This package imports no HTTP client at import time; `connect` does, so that `oob --help` stays
instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, Unpack

if TYPE_CHECKING:
    import httpx

    from oob.adapters.build_servers import BuildServers
    from oob.adapters.chat import SlackChat
    from oob.adapters.github import GitHubCodeHost
    from oob.adapters.probe import HttpProbe
    from oob.adapters.retry import RetryPolicy
    from oob.clock import Clock
    from oob.config import Channel, Config
    from oob.config_services import GitHubService, JenkinsService, SlackService


@dataclass
class Services:
    """The connected adapters of one config. Close it (or use `with`) to free connections."""

    build_server: BuildServers
    code_host: GitHubCodeHost
    chat: SlackChat
    probe: HttpProbe

    def close(self) -> None:
        """Close every connection pool."""
        self.build_server.close()
        self.code_host.close()
        self.probe.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connect(
    config: Config,
    *,
    policy: RetryPolicy | None = None,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Services:
    """Build every adapter from `config`, with tokens from the environment (`Config.secret`).

    `transport` replaces the network for the httpx adapters (Jenkins, GitHub, probes), e.g. an
    `httpx.MockTransport` or an `httpx.WSGITransport`; Slack always goes over sockets.
    """
    quiet_retry_log()
    reach = Reach(policy=policy, clock=clock, transport=transport)
    return Services(
        build_server=make_build_server(config, **reach),
        code_host=make_code_host(config, **reach),
        chat=make_chat(config, policy=policy),
        probe=make_probe(config, transport=transport),
    )


class Reach(TypedDict, total=False):
    """How an HTTP adapter reaches its service: the retry policy, the clock its waits are told
    in, and a transport in place of the network."""

    policy: RetryPolicy | None
    clock: Clock | None
    transport: httpx.BaseTransport | None


class Login(TypedDict):
    """How an HTTP adapter logs in: its token, the variable holding it (for the errors' hints),
    and how long it waits for an answer."""

    token: str
    token_env: str
    timeout_seconds: float


def login(config: Config, service: JenkinsService | GitHubService) -> Login:
    """The login of `service`, its token from the environment (`Config.secret`)."""
    return Login(
        token=config.secret(service),
        token_env=service.token_env,
        timeout_seconds=service.timeout_seconds,
    )


def make_build_server(config: Config, **reach: Unpack[Reach]) -> BuildServers:
    """The build servers of `config`: Jenkins (`services.jenkins`), and GitHub Actions on the
    repository of `services.github`, each stage going to the one its path names."""
    from oob.adapters.actions import ActionsBuildServer
    from oob.adapters.build_servers import BuildServers
    from oob.adapters.jenkins import JenkinsBuildServer

    jenkins, github = config.services.jenkins, config.services.github
    return BuildServers(
        JenkinsBuildServer(
            jenkins.url,
            jenkins.user,
            repository=github.repository,
            **login(config, jenkins),
            **reach,
        ),
        ActionsBuildServer(
            github.api_url,
            github.repository,
            branch=github.branch,
            correlation_input=config.pipeline.correlation_input,
            **login(config, github),
            **reach,
        ),
    )


def make_code_host(config: Config, **reach: Unpack[Reach]) -> GitHubCodeHost:
    """The code host of `config.services.github`."""
    from oob.adapters.github import GitHubCodeHost

    github = config.services.github
    return GitHubCodeHost(
        github.api_url, github.repository, branch=github.branch, **login(config, github), **reach
    )


def make_chat(config: Config, *, policy: RetryPolicy | None = None) -> SlackChat:
    """The configured channels: Slack ones through `config.services.slack`, others apprise."""
    return slack_chat(config, config.services.slack, config.channels, policy=policy)


def slack_chat(
    config: Config,
    service: SlackService | None,
    channels: Mapping[str, Channel],
    *,
    policy: RetryPolicy | None = None,
) -> SlackChat:
    """`channels`: Slack ones through `service`, with the token `config` gives it."""
    from oob.adapters.chat import SlackChat, slack_client
    from oob.adapters.retry import RetryPolicy

    policy = policy or RetryPolicy()
    return SlackChat(
        channels,
        slack=(
            slack_client(config.secret(service), service.api_url, service.timeout_seconds, policy)
            if service is not None
            else None
        ),
        token_env=service.token_env if service is not None else None,
        policy=policy,
    )


def make_probe(config: Config, *, transport: httpx.BaseTransport | None = None) -> HttpProbe:
    """The verification checks and shield URL of `config.verify`."""
    from oob.adapters.probe import HttpProbe

    return HttpProbe(config.verify.checks, config.verify.shield_url, transport=transport)


def quiet_retry_log() -> None:
    """Keep stamina's per-retry log line off the terminal unless logging is set up.

    stamina logs each retry as a bare "stamina.retry_scheduled" warning, which Python prints
    when nothing handles it; oob reports what finally failed itself.
    """
    import logging

    logger = logging.getLogger("stamina")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
