"""The sandbox's own data: the pipeline it plays, the history it replays, and the scenarios.

All three are TOML files shipped in the package (`data/` and `scenarios/`), read into frozen
dataclasses here. The sandbox deliberately does not reuse oob's config models: it is the
stand-in for the real world, and must not inherit the mistakes of the code it tests.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Literal

from oob.sandbox.errors import SandboxError

JobKind = Literal["build", "tests", "release", "deploy"]
EventAction = Literal["merge", "open", "trigger"]
JOB_KINDS: tuple[JobKind, ...] = ("build", "tests", "release", "deploy")
RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "NOT_BUILT", "ABORTED")
STATES = ("success", "failure", "error", "pending")


@dataclass(frozen=True)
class Parameter:
    """A string parameter of a Jenkins job."""

    name: str
    default: str
    description: str


@dataclass(frozen=True)
class JobSpec:
    """One Jenkins job of the pipeline: where it lives, how long it runs, what it hands on to."""

    path: str
    estimate_minutes: float
    next_build: int
    kind: JobKind
    downstream: str | None
    sets_pending: bool
    stages: tuple[str, ...]
    work: tuple[str, ...]
    parameters: tuple[Parameter, ...]
    concurrent: bool = True
    """False: a job that runs one build at a time (its next item is blocked meanwhile)."""

    @property
    def name(self) -> str:
        """The job's own name, without its folder."""
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SlackTeam:
    """The Slack workspace the sandbox plays, and its channels."""

    team: str
    team_id: str
    domain: str
    channels: tuple[str, ...]
    other_channels: int = 0
    """Channels of other teams, so that listing the workspace's channels takes pages."""
    history_messages: int = 0
    """People's messages in each of the team's channels before the run."""
    chatter_minutes: float = 0.0
    """About how often someone writes in each of the team's channels during the run."""


#: What a bot token of the va-cms app is granted (Slack's `x-oauth-scopes`).
BOT_SCOPES = (
    "chat:write",
    "channels:read",
    "channels:history",
    "groups:read",
    "groups:history",
    "usergroups:read",
    "users:read",
)


@dataclass(frozen=True)
class SlackSetup:
    """How a scenario departs from a well set-up Slack app: channels archived, channels the
    app was never invited to, and the scopes its token has."""

    archived: tuple[str, ...] = ()
    not_member: tuple[str, ...] = ()
    scopes: tuple[str, ...] = BOT_SCOPES


@dataclass(frozen=True)
class Pipeline:
    """The pipeline facts of `data/pipeline.toml`."""

    jenkins_version: str
    quiet_period_seconds: float
    executor_pickup_seconds: float
    queue_item_retention_seconds: float
    repository: str
    branch: str
    required_contexts: tuple[str, ...]
    postmortems_repository: str
    postmortems_branch: str
    tag_prefix: str
    search_depth: int
    jobs: tuple[JobSpec, ...]
    slack: SlackTeam

    def job(self, path: str) -> JobSpec | None:
        """The job at `path` (for example `deploys/cms-auto-deploy`), if there is one."""
        return next((j for j in self.jobs if j.path == path), None)

    @property
    def release_job(self) -> JobSpec:
        """The job that waits, picks the release commit and tags it."""
        return next(j for j in self.jobs if j.kind == "release")


@dataclass(frozen=True)
class CommitSpec:
    """A commit of the CMS repository's history, or one a scenario lands later."""

    key: str
    author: str
    email: str
    message: str
    path: str
    minutes: float = 0.0
    ci: bool = True


@dataclass(frozen=True)
class History:
    """The past that `data/history.toml` describes, replayed when the world is built."""

    first_tag: int
    bug: str
    fix: str
    commits: tuple[CommitSpec, ...]
    release_minutes: tuple[float, ...]
    later: tuple[CommitSpec, ...]


@dataclass(frozen=True)
class Event:
    """Something a scenario makes happen at a moment of the run."""

    after: Literal["start", "release"]
    minutes: float
    action: EventAction
    job: str | None = None
    ref: str = "main"
    user: str = "cms-engineer"
    statuses_after_minutes: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """One scenario file: how this run of the world departs from the happy path."""

    name: str
    summary: str
    fix_minutes: float | None = None
    fix_statuses: dict[str, str] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    fix_cures: bool = True
    events: tuple[Event, ...] = ()
    disabled_jobs: tuple[str, ...] = ()
    slack: SlackSetup = field(default_factory=SlackSetup)
    job_minutes: dict[str, float] = field(default_factory=dict)
    """Jobs that run for other durations than the pipeline's (`[jenkins] minutes`)."""
    release_wait: float | None = None
    """The release wait a rehearsal asks for, in minutes (`[rehearsal] release_wait`)."""

    def paced(self, pipeline: Pipeline) -> Pipeline:
        """`pipeline` with this scenario's job durations."""
        jobs = tuple(
            replace(job, estimate_minutes=self.job_minutes.get(job.path, job.estimate_minutes))
            for job in pipeline.jobs
        )
        return replace(pipeline, jobs=jobs)


def _read(package: str, name: str) -> dict[str, Any]:
    try:
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SandboxError(f"no such sandbox data file: {name}") from None
    return tomllib.loads(text)


def load_pipeline() -> Pipeline:
    """Read `data/pipeline.toml`."""
    data = _read("oob.sandbox.data", "pipeline.toml")
    jobs = []
    for raw in data["jobs"]:
        kind = raw.get("kind", "build")
        if kind not in JOB_KINDS:
            raise SandboxError(f"job {raw['path']}: unknown kind {kind!r}")
        jobs.append(
            JobSpec(
                path=raw["path"],
                estimate_minutes=float(raw["estimate_minutes"]),
                next_build=int(raw["next_build"]),
                kind=kind,
                downstream=raw.get("downstream"),
                sets_pending=bool(raw.get("sets_pending", False)),
                stages=tuple(raw["stages"]),
                work=tuple(raw["work"]),
                parameters=tuple(Parameter(**p) for p in raw.get("parameters", [])),
                concurrent=bool(raw.get("concurrent", True)),
            )
        )
    github = data["github"]
    return Pipeline(
        jenkins_version=data["jenkins_version"],
        quiet_period_seconds=float(data["quiet_period_seconds"]),
        executor_pickup_seconds=float(data["executor_pickup_seconds"]),
        queue_item_retention_seconds=float(data["queue_item_retention_seconds"]),
        repository=github["repository"],
        branch=github["branch"],
        required_contexts=tuple(github["required_contexts"]),
        postmortems_repository=github["postmortems_repository"],
        postmortems_branch=github["postmortems_branch"],
        tag_prefix=data["release"]["tag_prefix"],
        search_depth=int(data["release"]["search_depth"]),
        jobs=tuple(jobs),
        slack=SlackTeam(**{**data["slack"], "channels": tuple(data["slack"]["channels"])}),
    )


def load_history() -> History:
    """Read `data/history.toml`."""
    data = _read("oob.sandbox.data", "history.toml")
    return History(
        first_tag=int(data["first_tag"]),
        bug=data["bug"],
        fix=data["fix"],
        commits=tuple(CommitSpec(**c) for c in data["commits"]),
        release_minutes=tuple(float(r["minutes"]) for r in data["releases"]),
        later=tuple(CommitSpec(**c) for c in data["later"]),
    )


def scenario_names() -> list[str]:
    """The names of the scenarios shipped with the sandbox, sorted."""
    files = resources.files("oob.sandbox.scenarios").iterdir()
    return sorted(f.name.removesuffix(".toml") for f in files if f.name.endswith(".toml"))


def load_scenario(name: str) -> Scenario:
    """Read `scenarios/<name>.toml`, checking every value against what the sandbox can play."""
    if name not in scenario_names():
        raise SandboxError(
            f"unknown scenario {name!r}", hint=f"choose one of: {', '.join(scenario_names())}"
        )
    data = _read("oob.sandbox.scenarios", f"{name}.toml")
    fix_statuses = dict(data.get("fix_statuses", {}))
    results = dict(data.get("results", {}))
    if bad := [s for s in fix_statuses.values() if s not in STATES]:
        raise SandboxError(f"scenario {name}: unknown status state {bad[0]!r}")
    if bad := [r for r in results.values() if r not in RESULTS]:
        raise SandboxError(f"scenario {name}: unknown build result {bad[0]!r}")
    jenkins = data.get("jenkins", {})
    job_minutes = {path: float(m) for path, m in jenkins.get("minutes", {}).items()}
    if bad := sorted(set(job_minutes) - {j.path for j in load_pipeline().jobs}):
        raise SandboxError(f"scenario {name}: no such job {bad[0]!r}")
    if bad := [m for m in job_minutes.values() if not 0 < m < math.inf]:
        raise SandboxError(f"scenario {name}: a job cannot run for {bad[0]:g} minutes")
    return Scenario(
        name=name,
        summary=data["summary"],
        fix_minutes=data.get("fix_minutes"),
        fix_statuses=fix_statuses,
        results=results,
        fix_cures=bool(data.get("cms", {}).get("fix_cures", True)),
        events=tuple(Event(**e) for e in data.get("events", [])),
        disabled_jobs=tuple(jenkins.get("disabled_jobs", [])),
        slack=_slack_setup(name, data.get("slack", {})),
        job_minutes=job_minutes,
        release_wait=data.get("rehearsal", {}).get("release_wait"),
    )


def _slack_setup(name: str, data: dict[str, Any]) -> SlackSetup:
    unknown = set(data) - {"archived", "not_member", "scopes"}
    if unknown:
        raise SandboxError(f"scenario {name}: unknown [slack] setting {sorted(unknown)[0]!r}")
    return SlackSetup(
        archived=tuple(data.get("archived", ())),
        not_member=tuple(data.get("not_member", ())),
        scopes=tuple(data.get("scopes", BOT_SCOPES)),
    )
