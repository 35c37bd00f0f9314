"""The adapters of the plans a process's runs follow: each run talks to its own pipeline's
repository, Jenkins controller and job folder, channels and checks.

A client is made once per distinct service settings and process, then bound to each plan's
repository, channels or checks (`for_repository`, `for_channels`, `for_checks`): the runs on one
Jenkins controller share one client and its connection pool, those on one GitHub API share one
client, its rate-limit state and its cached answers, those in one Slack workspace one client.

Tokens come from this process's own config and environment (`Config.secret`), never from a plan,
and only for a service that config names with that same token variable: a plan naming another
address gets no token sent there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from oob.adapters import Reach, login, quiet_retry_log, slack_chat, tls
from oob.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from oob.adapters.actions import ActionsBuildServer
    from oob.adapters.build_servers import BuildServers
    from oob.adapters.chat import SlackChat
    from oob.adapters.github import GitHubCodeHost
    from oob.adapters.jenkins import JenkinsBuildServer
    from oob.adapters.probe import HttpProbe
    from oob.adapters.retry import RetryPolicy
    from oob.clock import Clock
    from oob.config import Config
    from oob.config_services import Secret

T = TypeVar("T")
S = TypeVar("S", bound="Secret")


class Pool:
    """The adapters of any plan, for a process whose own config is `config`. Close it (or use
    `with`) to close every client."""

    def __init__(
        self,
        config: Config,
        *,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        quiet_retry_log()
        if transport is None:
            tls.context()  # made with the pool (a worker's start), not in a run's first step
        self._config = config
        self._policy = policy
        self._reach = Reach(policy=policy, clock=clock, transport=transport)
        self._transport = transport
        self._known = known_services(config)
        self._made: dict[tuple[Any, ...], Any] = {}
        self._clients: list[Any] = []  # what `close` closes: the clients, not their bindings
        self._lock = threading.RLock()  # the steps of several runs use one pool

    def build_server(self, plan: Config) -> BuildServers:
        """The build servers of `plan`: its Jenkins controller, for its repository's builds,
        and GitHub Actions on its repository."""
        from oob.adapters.build_servers import BuildServers

        github = plan.services.github
        on = (github.repository, github.branch, plan.pipeline.correlation_input)
        key = ("build servers", self._jenkins_key(plan), self._github_key(plan), on)
        return self._once(
            key,
            lambda: BuildServers(
                self._jenkins(plan).for_repository(github.repository),
                self._actions(plan).for_repository(*on),
            ),
        )

    def code_host(self, plan: Config) -> GitHubCodeHost:
        """The GitHub of `plan`, for its repository and release branch."""
        from oob.adapters.github import GitHubCodeHost

        github = plan.services.github
        on = (github.repository, github.branch)

        def client() -> GitHubCodeHost:
            token = login(self._config, self._trusted("GitHub", github.api_url, github))
            return GitHubCodeHost(github.api_url, github.repository, **token, **self._reach)

        key = ("github", *self._github_key(plan))
        return self._once((*key, on), lambda: self._client(key, client).for_repository(*on))

    def chat(self, plan: Config) -> SlackChat:
        """The channels of `plan`, Slack ones through its Slack workspace."""
        slack = plan.services.slack
        key = ("slack", slack.api_url, slack.token_env, slack.timeout_seconds) if slack else ()

        def client() -> SlackChat:
            if slack is not None:
                self._trusted("Slack", slack.api_url, slack)
            return slack_chat(self._config, slack, {}, policy=self._policy)

        channels = tuple((n, c.slack, c.apprise_url_env) for n, c in plan.channels.items())
        return self._once(
            (*key, channels), lambda: self._client(key, client).for_channels(plan.channels)
        )

    def probe(self, plan: Config) -> HttpProbe:
        """The verification checks and deploy shield of `plan`."""
        from oob.adapters.probe import HttpProbe

        verify = plan.verify
        checks = verify.model_dump_json(include={"checks", "shield_url"})

        def client() -> HttpProbe:
            return HttpProbe([], verify.shield_url, transport=self._transport)

        return self._once(
            ("probe", checks),
            lambda: self._client(("probe",), client).for_checks(verify.checks, verify.shield_url),
        )

    def _jenkins(self, plan: Config) -> JenkinsBuildServer:
        """`plan`'s Jenkins client, made once."""
        from oob.adapters.jenkins import JenkinsBuildServer

        jenkins = plan.services.jenkins

        def client() -> JenkinsBuildServer:
            token = login(self._config, self._trusted("Jenkins", jenkins.url, jenkins))
            return JenkinsBuildServer(jenkins.url, jenkins.user, **token, **self._reach)

        return self._client(("jenkins", *self._jenkins_key(plan)), client)

    def _actions(self, plan: Config) -> ActionsBuildServer:
        """`plan`'s GitHub Actions client, made once."""
        from oob.adapters.actions import ActionsBuildServer

        github = plan.services.github

        def client() -> ActionsBuildServer:
            token = login(self._config, self._trusted("GitHub", github.api_url, github))
            return ActionsBuildServer(github.api_url, github.repository, **token, **self._reach)

        return self._client(("actions", *self._github_key(plan)), client)

    @staticmethod
    def _jenkins_key(plan: Config) -> tuple[Any, ...]:
        jenkins = plan.services.jenkins
        return (jenkins.url, jenkins.user, jenkins.token_env, jenkins.timeout_seconds)

    @staticmethod
    def _github_key(plan: Config) -> tuple[Any, ...]:
        github = plan.services.github
        return (github.api_url, github.token_env, github.timeout_seconds)

    def _once(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """What `make` makes, the first time `key` is asked."""
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]  # type: ignore[no-any-return]

    def _client(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """The client of `key`, made once: `close` closes it."""

        def made() -> T:
            client = make()
            self._clients.append(client)
            return client

        return self._once(key, made)

    def check_tokens(self) -> Pool:
        """This pool, once every service's token is known to be set (a worker says so when
        it starts, not in a run's first step)."""
        for service in self._known.values():
            self._config.secret(service)
        return self

    def _trusted(self, kind: str, url: str, service: S) -> S:
        """`service`, when this process's config sends its token variable's token to `url`."""
        if (url, service.token_env) not in self._known:
            raise ConfigError(
                f"the run's plan names {kind} at {url} with {service.token_env}, which this "
                f"process's config ({self._config.source or 'oob.toml'}) does not",
                hint="a token is sent only where your own oob.toml sends it: add that pipeline",
            )
        return service

    def close(self) -> None:
        """Close every client."""
        with self._lock:
            for client in self._clients:
                if hasattr(client, "close"):
                    client.close()
            self._clients.clear()
            self._made.clear()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def known_services(config: Config) -> dict[tuple[str, str], Secret]:
    """Every service of every pipeline of `config`, by its address and token variable."""
    known: dict[tuple[str, str], Secret] = {}
    for name in config.pipeline_names:
        services = config.for_pipeline(name).services
        known[services.jenkins.url, services.jenkins.token_env] = services.jenkins
        known[services.github.api_url, services.github.token_env] = services.github
        if services.slack is not None:
            known[services.slack.api_url, services.slack.token_env] = services.slack
    return known
