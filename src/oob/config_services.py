"""oob.toml's [services] and [sandbox]: where Jenkins, GitHub and Slack answer, and the
environment variables holding their tokens; a local sandbox's own credentials.

Secrets never live in the file: each service names the variable that holds its token
(`Config.secret` reads it). The one exception is a sandbox config's `[sandbox] token`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictBool, StrictInt, StringConstraints

from oob.config_types import ENV_NAME, JobPath, Model


class Secret(Model):
    """Where a service's credential comes from: the environment, never the file."""

    token_env: str = Field(pattern=ENV_NAME)


class JenkinsService(Secret):
    url: str
    user: str = Field(min_length=1)
    timeout_seconds: float = Field(default=30, gt=0)
    folder: JobPath | None = Field(
        default=None,
        description="The Jenkins folder holding the pipeline's jobs: it prefixes every stage's "
        "`job` path (`team-x` makes `deploys/cms` `team-x/deploys/cms`). A run's plan holds the "
        "prefixed paths.",
    )
    max_releases: StrictInt | None = Field(
        default=None,
        ge=1,
        description="At most this many release runs at once on this controller, across all "
        "workers; the others wait their turn in a queue.",
    )


class GitHubService(Secret):
    api_url: str = "https://api.github.com"
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    branch: str = "main"
    required_contexts: list[str] = Field(min_length=1)
    web_url: str = "https://github.com"
    timeout_seconds: float = Field(default=30, gt=0)


class SlackService(Secret):
    api_url: str = "https://slack.com/api/"
    timeout_seconds: float = Field(default=30, gt=0)
    signing_secret_env: str | None = Field(
        default=None,
        pattern=ENV_NAME,
        description="The variable holding the Slack app's signing secret: with it, `oob serve` "
        "takes decisions from the buttons of oob's messages and the `/oob` command.",
    )
    interactivity_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Where the Slack app sends clicks (its Interactivity Request URL, "
        "`oob serve`'s /slack/interactions): `oob doctor` checks that it answers.",
    )
    users: dict[Annotated[str, StringConstraints(pattern=r"^[UW][A-Z0-9]{2,}$")], str] = Field(
        default={},
        description="Slack user IDs and the oob person each one is (the names in [roles]).",
    )


class Services(Model):
    jenkins: JenkinsService
    github: GitHubService
    slack: SlackService | None = None


class Workers(Model):
    """`[workers]`: what each `oob worker` of the installation takes on."""

    max_runs: int = Field(
        default=50,
        ge=1,
        description="Runs one worker executes at once; more wait, queued, for a worker with "
        "room (so runs started together spread over the workers). One limit for all workers.",
    )


class Sandbox(Model):
    """Credentials of a local sandbox, written by `oob sandbox --write-config`. Sandbox only."""

    token: str
    sealed: StrictBool = Field(
        default=False,
        description="Always use `token`, even when the services' token variables are set "
        "(a sandbox must never receive an operator's real tokens).",
    )
    signing_secret: str | None = Field(
        default=None, description="The sandbox's Slack signing secret (it signs its clicks)."
    )
