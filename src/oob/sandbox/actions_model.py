"""GitHub Actions' and Deployments' side of the world: workflows, their runs, the runs' jobs and
steps with their logs, and the repository's deployments with their statuses.

These are plain records; `oob.sandbox.actions.Actions` moves them through simulated time. A
job's log is a list of (simulated time, step number, line): GitHub serves it once the job has
completed, each line stamped with its time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def stamp(epoch: float) -> str:
    """The time at the start of each line of an Actions log (seven fractional digits)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def progress(started: float | None, completed: float | None) -> str:
    """GitHub's status of a step, a job or a run: queued, then in progress, then completed."""
    if completed is not None:
        return "completed"
    return "queued" if started is None else "in_progress"


@dataclass(frozen=True)
class Workflow:
    """A workflow file of the repository, with its `workflow_dispatch` inputs."""

    id: int
    name: str
    file: str
    inputs: dict[str, str | None]
    """Each input's default; None for a required input without one."""
    run_name: str
    """The title a dispatched run shows: `{input}` stands for that input's value."""
    created: float
    dispatchable: bool = True
    """False for a workflow without the `workflow_dispatch` trigger."""

    @property
    def path(self) -> str:
        """Where the file is in the repository."""
        return f".github/workflows/{self.file}"

    def title(self, inputs: dict[str, str]) -> str:
        """The run's title for `inputs`, as `run-name` evaluates (blanks trimmed)."""
        title = self.run_name
        for name, value in inputs.items():
            title = title.replace("{" + name + "}", value)
        return " ".join(title.split())


@dataclass
class Step:
    """A step of a job: queued until it starts, in progress until it completes."""

    number: int
    name: str
    started: float | None = None
    completed: float | None = None
    conclusion: str | None = None

    @property
    def status(self) -> str:
        """GitHub's step status."""
        return progress(self.started, self.completed)


@dataclass
class Job:
    """A job of a run, with its steps and its log."""

    id: int
    run_id: int
    name: str
    created: float
    steps: list[Step]
    environment: str | None = None
    started: float | None = None
    completed: float | None = None
    conclusion: str | None = None
    runner: str | None = None
    lines: list[tuple[float, int, str]] = field(default_factory=list)
    deployment: Deployment | None = None
    """The deployment an environment's job records while it runs."""

    @property
    def status(self) -> str:
        """GitHub's job status."""
        return progress(self.started, self.completed)

    @property
    def current(self) -> Step | None:
        """The step in progress, if any."""
        return next((s for s in self.steps if s.status == "in_progress"), None)

    def step(self, name: str) -> Step:
        """The step called `name`."""
        return next(s for s in self.steps if s.name == name)

    def write(self, at: float, step: int, *lines: str) -> None:
        """Append lines to the log of step `step`, stamped `at`."""
        self.lines.extend((at, step, line) for line in lines)

    def log(self, step: int | None = None) -> bytes:
        """The job's log (or one step's) as GitHub serves it: each line after its time."""
        chosen = [(at, line) for at, number, line in self.lines if step in (None, number)]
        return "".join(f"{stamp(at)} {line}\n" for at, line in chosen).encode()


@dataclass
class Run:
    """A workflow run: queued until a runner takes its first job, completed with a conclusion."""

    id: int
    number: int
    workflow: Workflow
    event: str
    actor: str
    branch: str
    sha: str
    inputs: dict[str, str]
    title: str
    created: float
    updated: float
    started: float | None = None
    completed: float | None = None
    conclusion: str | None = None
    jobs: list[Job] = field(default_factory=list)
    cancelling: bool = False
    released_sha: str | None = None
    release_tag: str | None = None

    @property
    def status(self) -> str:
        """GitHub's run status."""
        return progress(self.started, self.completed)


@dataclass
class DeploymentStatus:
    """One status of a deployment."""

    id: int
    state: str
    description: str
    environment: str
    target_url: str
    log_url: str
    environment_url: str
    creator: str
    created: float


@dataclass
class Deployment:
    """A deployment of a commit to an environment, with its statuses (oldest first)."""

    id: int
    sha: str
    ref: str
    task: str
    environment: str
    payload: dict[str, Any] | str
    description: str | None
    creator: str
    created: float
    transient: bool = False
    production: bool = True
    statuses: list[DeploymentStatus] = field(default_factory=list)

    @property
    def updated(self) -> float:
        """When it last changed: its newest status, else its creation."""
        return self.statuses[-1].created if self.statuses else self.created
