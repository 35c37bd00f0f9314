"""Jenkins's side of the world: jobs, the queue, builds and their console logs.

These are plain records; `world.World` moves them through time. A build's log is a list of
(simulated time, line) pairs, some written ahead of time for the steady work of a long job: a
reader sees only the lines whose time has come, so logs grow as the clock runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oob.sandbox.scenario import JobSpec


@dataclass
class Build:
    """One run of a job."""

    job: JobSpec
    number: int
    queue_id: int
    parameters: dict[str, str]
    causes: list[dict[str, Any]]
    sha: str
    start: float
    planned_end: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    result: str | None = None
    end: float | None = None
    released_sha: str | None = None
    release_tag: str | None = None
    during_scenario: bool = True

    @property
    def building(self) -> bool:
        """True until the build has a result."""
        return self.result is None

    def write(self, at: float, *lines: str) -> None:
        """Append lines to the log, stamped `at` (they appear once the clock reaches it)."""
        self.lines.extend((at, line) for line in lines)

    def log(self, now: float) -> bytes:
        """The console text written up to `now`: only complete lines, each ending in a newline."""
        return "".join(f"{line}\n" for at, line in self.lines if at <= now).encode()

    def cut_log(self, now: float) -> None:
        """Forget lines planned for after `now` (the build was stopped before writing them)."""
        self.lines = [(at, line) for at, line in self.lines if at <= now]


@dataclass
class QueueItem:
    """An entry of the build queue; it leaves when its quiet period ends or it is cancelled."""

    id: int
    job: JobSpec
    parameters: dict[str, str]
    causes: list[dict[str, Any]]
    sha: str | None
    in_queue_since: float
    leaves_at: float
    left_at: float | None = None
    cancelled: bool = False
    build: Build | None = None


@dataclass
class Job:
    """A job with its build history (oldest first) and the number its next build gets."""

    spec: JobSpec
    next_number: int
    builds: list[Build] = field(default_factory=list)

    def build(self, number: int) -> Build | None:
        """The build numbered `number`, if it exists."""
        return next((b for b in self.builds if b.number == number), None)


def user_cause(user: str) -> dict[str, Any]:
    """The cause Jenkins records for a build someone started (by UI or API token)."""
    return {
        "_class": "hudson.model.Cause$UserIdCause",
        "shortDescription": f"Started by user {user}",
        "userId": user,
        "userName": user,
    }


def upstream_cause(build: Build) -> dict[str, Any]:
    """The cause of a build that an upstream build triggered."""
    return {
        "_class": "hudson.model.Cause$UpstreamCause",
        "shortDescription": (
            f'Started by upstream project "{build.job.path}" build number {build.number}'
        ),
        "upstreamBuild": build.number,
        "upstreamProject": build.job.path,
        "upstreamUrl": job_url_path(build.job.path),
    }


def push_cause(pusher: str) -> dict[str, Any]:
    """The cause of a build a push to GitHub started."""
    return {
        "_class": "com.cloudbees.jenkins.GitHubPushCause",
        "shortDescription": f"Started by GitHub push by {pusher}",
    }


def timer_cause() -> dict[str, Any]:
    """The cause of a scheduled build (the daily deploy)."""
    return {
        "_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
        "shortDescription": "Started by timer",
    }


def job_url_path(path: str) -> str:
    """`deploys/cms-auto-deploy` → `job/deploys/job/cms-auto-deploy/`."""
    return "".join(f"job/{part}/" for part in path.split("/"))
