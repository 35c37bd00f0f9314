"""Adapters: the ports of `oob.ports` on the real services (or the sandbox, which speaks alike).

Build them all from a config with `connect`::

    with connect(config) as services:
        services.code_host.combined_status(sha)

This package imports no HTTP client at import time; `connect` does, so that `oob --help` stays
instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType

    import httpx

    from oob.adapters.chat import SlackChat
    from oob.adapters.github import GitHubCodeHost
    from oob.adapters.jenkins import JenkinsBuildServer
    from oob.adapters.probe import HttpProbe
    from oob.adapters.retry import RetryPolicy
    from oob.clock import Clock
    from oob.config import Config


@dataclass
class Services:
    """The connected adapters of one config. Close it (or use `with`) to free connections."""

    build_server: JenkinsBuildServer
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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
    from oob.adapters.chat import SlackChat, slack_client
    from oob.adapters.github import GitHubCodeHost
    from oob.adapters.jenkins import JenkinsBuildServer
    from oob.adapters.probe import HttpProbe
    from oob.adapters.retry import RetryPolicy

    policy = policy or RetryPolicy()
    jenkins = config.services.jenkins
    github = config.services.github
    slack = config.services.slack
    return Services(
        build_server=JenkinsBuildServer(
            jenkins.url,
            jenkins.user,
            config.secret(jenkins),
            token_env=jenkins.token_env,
            timeout_seconds=jenkins.timeout_seconds,
            policy=policy,
            repository=github.repository,
            transport=transport,
            clock=clock,
        ),
        code_host=GitHubCodeHost(
            github.api_url,
            github.repository,
            config.secret(github),
            token_env=github.token_env,
            branch=github.branch,
            timeout_seconds=github.timeout_seconds,
            policy=policy,
            transport=transport,
            clock=clock,
        ),
        chat=SlackChat(
            config.channels,
            slack=(
                slack_client(config.secret(slack), slack.api_url, slack.timeout_seconds, policy)
                if slack is not None
                else None
            ),
            token_env=slack.token_env if slack is not None else None,
            policy=policy,
        ),
        probe=HttpProbe(config.verify.checks, config.verify.shield_url, transport=transport),
    )
