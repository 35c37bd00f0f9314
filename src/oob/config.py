"""oob.toml: the typed configuration of one pipeline and the services and people around it.

The file is parsed with tomllib and validated by pydantic models that forbid unknown keys, so a
typo is an error, not a silently ignored setting. Secrets never live in the file: each service
names the environment variable that holds its token. The one exception is a sandbox config
(`[sandbox] token = ...`), accepted only while every service it names is on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

from pydantic import (
    Field,
    IPvAnyNetwork,
    StrictBool,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from oob.config_errors import problems
from oob.config_file import DEFAULT_CONFIG, config_path, read_text, tables
from oob.config_pipelines import SHARED, fold_folder, invalid, missing, resolve
from oob.config_services import (
    GitHubService,
    JenkinsService,
    Sandbox,
    Secret,
    Services,
    SlackService,
    Workers,
)
from oob.config_stages import Pipeline, Stage, StageKind
from oob.config_types import ENV_NAME, Limit, Model, OneOf
from oob.errors import ConfigError
from oob.telemetry import Telemetry

__all__ = [  # the [services] and [sandbox] sections are re-exported: a Config holds them
    "DEFAULT_CONFIG",
    "Audience",
    "Audiences",
    "Channel",
    "CommandCheck",
    "Config",
    "GitHubService",
    "HttpCheck",
    "JenkinsService",
    "Pipeline",
    "Postmortem",
    "Roles",
    "Sandbox",
    "Secret",
    "Services",
    "SlackService",
    "Stage",
    "StageKind",
    "Telemetry",
    "Templates",
    "Verify",
    "Web",
    "WebUser",
    "Workers",
    "config_path",
    "load",
    "parse",
]

T = TypeVar("T")


class Channel(OneOf):
    """Where messages go: a Slack channel, or an apprise URL read from the environment."""

    keys = ("slack", "apprise_url_env")
    called = "a channel"
    slack: str | None = Field(default=None, pattern=r"^#?[\w.-]+$")
    apprise_url_env: str | None = Field(default=None, pattern=ENV_NAME)


class Audience(Model):
    """Who hears a message: channels, and the Slack user group a message addresses."""

    channels: list[str] = Field(min_length=1)
    mention: str = Field(default="", description="The group's handle as people write it.")
    mention_id: str | None = Field(
        default=None,
        pattern=r"^S[A-Z0-9]{2,}$",
        description="The Slack user group's ID (S…): without it Slack shows `mention` as plain "
        "text and notifies nobody.",
    )

    @model_validator(mode="after")
    def _id_names_a_mention(self) -> Audience:
        if self.mention_id and not self.mention:
            raise ValueError("`mention_id` needs the `mention` it stands for")
        return self


class Audiences(Model):
    """Who is told what. `operators` receive the loud alerts (mismatch, failure, merges)."""

    engineers: Audience
    sitewide: Audience
    helpdesk: Audience
    editors: Audience
    product_owner: Audience
    operators: Audience | None = None


class Roles(Model):
    """Who may do what. Names are the identities oob knows people by."""

    deployers: list[str] = Field(min_length=1)
    approvers: list[str] = Field(min_length=1)
    status_overriders: list[str] = Field(default=[])
    fix_confirmers: list[str] = Field(default=[])
    allow_self_approval: StrictBool = False
    allow_asserted_identity: StrictBool = Field(
        default=False,
        description="Accept `--as NAME` on the command line (for sandboxes and drills).",
    )


class HttpCheck(Model):
    kind: Literal["http"]
    name: str
    url: str
    expect_status: int = Field(default=200, ge=100, le=599)
    body_pattern: str | None = None
    timeout_seconds: float = Field(default=10, gt=0)


class CommandCheck(Model):
    kind: Literal["command"]
    name: str
    command: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=60, gt=0)


AnyCheck = Annotated[HttpCheck | CommandCheck, Field(discriminator="kind")]


class Verify(Model):
    """How oob knows the deploy finished and the fix works in production."""

    shield_url: str = Field(
        description="A page editors use; it answers 503 while the deploy shield is up."
    )
    checks: list[AnyCheck] = Field(default=[])
    require_confirmation: StrictBool = Field(
        default=False, description="Also wait for a person's `oob confirm-fix`."
    )
    timeout_minutes: Limit = 30

    @model_validator(mode="after")
    def _some_way_to_verify(self) -> Verify:
        if not self.checks and not self.require_confirmation:
            raise ValueError("give at least one check, or set require_confirmation = true")
        return self


class Postmortem(Model):
    repository: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    base_branch: str = "main"
    path: str = "Postmortems/{year}/{date}-{slug}.md"
    open_pull_request: StrictBool = True
    template: Path | None = None


class Templates(Model):
    directory: Path | None = Field(
        default=None,
        description="Directory of Jinja2 files overriding the built-in messages.",
    )


class WebUser(OneOf):
    """A dashboard user of `identity = "tokens"`: where their token is checked from.

    Either the SHA-256 of the token (hex; the token itself never goes in the file) or the name
    of the environment variable that holds it.
    """

    keys = ("token_sha256", "token_env")
    called = "a web user"
    token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    token_env: str | None = Field(default=None, pattern=ENV_NAME)


class Web(Model):
    """How the dashboard (`oob serve`) knows who is asking. Roles still come from [roles]."""

    identity: Literal["sso", "tokens"] = Field(
        description="`sso`: a trusted header set by a single-sign-on proxy; "
        "`tokens`: per-user tokens listed under [web.users]."
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s<>|]+$",
        description="Where people open the dashboard: messages link to each run's page there.",
    )
    sso_header: str = Field(default="X-Forwarded-Email", pattern=r"^[A-Za-z0-9-]+$")
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default=[], description="Addresses or networks whose `sso_header` is believed."
    )
    users: dict[str, WebUser] = Field(default={})
    session_key_env: str | None = Field(
        default=None,
        pattern=ENV_NAME,
        description="The environment variable holding the key that signs sessions and forms: "
        "the same on every `oob serve` behind one load balancer. Unset: a random key per process.",
    )
    jenkins_hook_token_env: str | None = Field(
        default=None,
        pattern=ENV_NAME,
        description="The environment variable holding the token Jenkins' Notification plugin "
        "sends (`POST /hooks/jenkins?token=...`): a build's start or end then wakes the runs "
        "that follow it at once. Unset: no hook; runs look at their paced times only.",
    )
    metrics_public: bool = Field(
        default=False,
        description="Serve `GET /metrics` to anyone; by default only to dashboard users.",
    )

    @model_validator(mode="after")
    def _identity_is_complete(self) -> Web:
        if self.identity == "sso" and not self.trusted_proxies:
            raise ValueError('identity = "sso" needs `trusted_proxies`')
        if self.identity == "tokens" and not self.users:
            raise ValueError('identity = "tokens" needs at least one [web.users.NAME]')
        if self.identity == "sso" and self.users:
            raise ValueError('[web.users] are for identity = "tokens"')
        return self


REQUIRED = ("pipeline", "services", "audiences", "channels", "roles", "verify", "postmortem")


class Config(Model):
    """A config: one pipeline (`[pipeline]`), or several (`[pipelines.NAME]`, resolved when read
    into the single-pipeline config of each, `for_pipeline`), with the services and people
    around it.

    A run follows one pipeline's config (its plan). The pipeline's own tables (`pipeline`,
    `services`, `audiences`, `channels`, `roles`, `verify`, `postmortem`) are read through
    properties that, on a config of several pipelines, refuse a caller that did not choose one.
    """

    pipeline_: Pipeline | None = Field(default=None, alias="pipeline")
    services_: Services | None = Field(default=None, alias="services")
    audiences_: Audiences | None = Field(default=None, alias="audiences")
    channels_: dict[str, Channel] | None = Field(default=None, alias="channels")
    roles_: Roles | None = Field(default=None, alias="roles")
    verify_: Verify | None = Field(default=None, alias="verify")
    postmortem_: Postmortem | None = Field(default=None, alias="postmortem")
    pipelines_: dict[str, Config] | None = Field(
        default=None, alias="pipelines", exclude_if=lambda value: value is None
    )
    templates: Templates = Templates()
    sandbox: Sandbox | None = None
    web: Web | None = None
    telemetry: Telemetry | None = Field(default=None, exclude_if=lambda value: value is None)
    workers: Workers = Field(default=Workers(), exclude_if=lambda value: value == Workers())

    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="wrap")
    @classmethod
    def _one_form(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Config:
        """Several pipelines resolve each into its own config; one needs every table."""
        if not isinstance(data, dict):
            return cast("Config", handler(data))
        if "pipelines" in data:
            pipelines = resolve(data, cls.model_validate)
            return cast(
                "Config",
                handler({k: data[k] for k in SHARED if k in data} | {"pipelines": pipelines}),
            )
        data = fold_folder(data)
        lacks = missing(data, REQUIRED)
        try:
            config = handler(data)
        except ValidationError as exc:
            if not lacks:
                raise
            raise invalid([*exc.errors(), *lacks]) from None
        if lacks:
            raise invalid(lacks)
        return cast("Config", config)

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        if self.pipelines_ is not None or None in (self.audiences_, self.channels_, self.services_):
            return self  # several pipelines: each checked on its own; a table missing: told so
        for name, audience in self.audiences:
            if audience is None:
                continue
            for channel in audience.channels:
                if channel not in self.channels:
                    raise ValueError(
                        f"audience {name!r} names channel {channel!r}, which [channels] lacks"
                    )
        if self.services.slack is None and any(c.slack for c in self.channels.values()):
            raise ValueError("a channel uses slack, but [services.slack] is missing")
        if self.sandbox is not None:
            remote = [url for url in self._service_urls() if not _is_loopback(url)]
            if remote:
                raise ValueError(
                    f"[sandbox] credentials are only for local sandboxes, but {remote[0]} "
                    "is not on this machine"
                )
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Config:
        """A copy with `update`, by the names callers read (`pipeline`, `services`, ...)."""
        named = {(f"{key}_" if key in REQUIRED else key): v for key, v in (update or {}).items()}
        return super().model_copy(update=named, deep=deep)

    @property
    def pipeline_names(self) -> list[str]:
        """The names of the config's pipelines, in the file's order."""
        if self.pipelines_ is None:
            return [self.pipeline.name]
        return list(self.pipelines_)

    def for_pipeline(self, name: str) -> Config:
        """The single-pipeline config a run of pipeline `name` follows."""
        if self.pipelines_ is None:
            if name == self.pipeline.name:
                return self
        elif name in self.pipelines_:
            return self.pipelines_[name].model_copy(update={"source": self.source})
        raise ConfigError(
            f"no pipeline {name!r} in {self.source or 'the config'}; "
            f"its pipelines: {listed(self.pipeline_names)}"
        )

    def pick(self, name: str | None = None) -> Config:
        """The config of pipeline `name`, or of the one pipeline when no name is given (an
        error naming the choices when there are several)."""
        if name is not None:
            return self.for_pipeline(name)
        if self.pipelines_ is None:
            return self
        if len(self.pipelines_) == 1:
            return self.for_pipeline(next(iter(self.pipelines_)))
        raise ConfigError(
            f"{self.source or 'the config'} has {len(self.pipelines_)} pipelines "
            f"({listed(self.pipeline_names)}): say which one with --pipeline NAME"
        )

    def every_roles(self) -> list[Roles]:
        """The roles of every pipeline (a person may do what one of them lets them, outside a
        pipeline: a run's own plan then decides)."""
        return [self.for_pipeline(name).roles for name in self.pipeline_names]

    @property
    def pipeline(self) -> Pipeline:
        return _present(self.pick().pipeline_)

    @property
    def services(self) -> Services:
        return _present(self.pick().services_)

    @property
    def audiences(self) -> Audiences:
        return _present(self.pick().audiences_)

    @property
    def channels(self) -> dict[str, Channel]:
        return _present(self.pick().channels_)

    @property
    def roles(self) -> Roles:
        return _present(self.pick().roles_)

    @property
    def verify(self) -> Verify:
        return _present(self.pick().verify_)

    @property
    def postmortem(self) -> Postmortem:
        return _present(self.pick().postmortem_)

    def _service_urls(self) -> list[str]:
        urls = [self.services.jenkins.url, self.services.github.api_url]
        if self.services.slack:
            urls.append(self.services.slack.api_url)
        return urls

    def secret(self, service: Secret) -> str:
        """The credential of `service`, from its environment variable (or the sandbox's)."""
        if self.sandbox is not None and self.sandbox.sealed:
            return self.sandbox.token
        value = os.environ.get(service.token_env)
        if value:
            return value
        if self.sandbox is not None:
            return self.sandbox.token
        raise ConfigError(
            f"{service.token_env} is not set",
            hint=f"export {service.token_env} with the API token oob should use",
        )

    def signing_secret(self, slack: SlackService) -> str | None:
        """The Slack app's signing secret (None when the config names none, or it is unset)."""
        sandbox = self.sandbox
        if (sandbox is not None and sandbox.signing_secret) and (
            sandbox.sealed or not os.environ.get(slack.signing_secret_env or "")
        ):
            return sandbox.signing_secret
        if slack.signing_secret_env is None:
            return None
        return os.environ.get(slack.signing_secret_env) or None

    def sandbox_base(self) -> str | None:
        """Where a sandbox config's sandbox answers (its control API and clock); None for real
        services."""
        if self.sandbox is None:
            return None
        first = self.for_pipeline(self.pipeline_names[0])  # a sandbox serves every pipeline
        return first.services.jenkins.url.rstrip("/").removesuffix("/jenkins")

    def secret_is_set(self, service: Secret) -> bool:
        return bool(os.environ.get(service.token_env)) or self.sandbox is not None

    def uses_sandbox_token(self, service: Secret) -> bool:
        """True when `service` gets the [sandbox] token rather than its variable's."""
        if self.sandbox is None:
            return False
        return self.sandbox.sealed or not os.environ.get(service.token_env)


def _present(value: T | None) -> T:
    """A table of a single-pipeline config (validation made sure it is there)."""
    if value is None:
        raise ConfigError("the config lacks a table it needs", hint="a bug: report it")
    return value


def named_secret(variable: str, setting: str, minimum: int, hint: str) -> str:
    """The value of `variable`, which the config's `setting` names: unset or shorter than
    `minimum` characters is a mistake, said at once (without its value)."""
    value = os.environ.get(variable, "")
    if len(value) < minimum:
        raise ConfigError(
            f"{variable} ({setting}) is "
            + ("not set" if not value else f"shorter than {minimum} characters"),
            hint=hint,
        )
    return value


def listed(names: list[str], most: int = 8) -> str:
    """`names` for a one-line message: the first `most`, then how many more."""
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def load(path: Path | None = None) -> Config:
    """Read and validate a config file; every problem becomes one ConfigError naming the place."""
    path = config_path(path)
    return parse(read_text(path), path)


def parse(text: str, path: Path) -> Config:
    data = tables(text, path)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems(text, path, exc)) from None
    return config.model_copy(update={"source": path.resolve()})
