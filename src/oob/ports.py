"""The narrow interfaces through which the procedure touches the world.

The procedure and the commands depend on these Protocols, never on a client library. Adapters
(`oob.adapters.*`) implement them against the real services, which may be the sandbox.
Every value crossing a port is a small frozen dataclass: easy to checkpoint, easy to compare.
Every method may raise an `oob.errors.IntegrationError` subclass, after bounded retries of
transient failures; errors that will not change (bad credentials, unknown job) are raised at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from oob.config import Config

# --- build server (Jenkins) -------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedBuild:
    """A build request accepted by the build server, not necessarily started yet."""

    job: str
    queue_id: int
    build_number: int | None = None
    cancelled: bool = False
    why: str | None = None


@dataclass(frozen=True)
class Build:
    """A build as the build server reports it: running (no result, no duration yet), or ended
    with its result."""

    job: str
    number: int
    url: str
    building: bool
    result: str | None  # SUCCESS | UNSTABLE | FAILURE | NOT_BUILT | ABORTED; None while building
    started_at: datetime
    duration_seconds: float  # 0 while building
    estimated_seconds: float | None
    sha: str | None  # the commit the build tested or released (Git BuildData), if any
    parameters: dict[str, str] = field(default_factory=dict)
    causes: tuple[str, ...] = ()  # user ids, or short descriptions for upstream/timer causes
    queue_id: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.result == "SUCCESS"


@dataclass(frozen=True)
class LogChunk:
    text: str
    next_start: int
    more: bool  # True while the build runs and more text may come


@dataclass(frozen=True)
class LogScan:
    """What a look through a build's log found: the first line a pattern matches, if any, and
    where the next look starts. Only this leaves the adapter, never the log's text."""

    line: str | None
    next_start: int
    more: bool  # True while the build runs and more text may come


@dataclass(frozen=True)
class JobInfo:
    """A job of the build server: where it is, whether it may be built (a disabled job may
    not), and its parameters' names."""

    path: str
    url: str
    buildable: bool
    parameters: tuple[str, ...]


class BuildServer(Protocol):
    def job(self, path: str) -> JobInfo: ...

    def trigger(self, path: str, parameters: dict[str, str]) -> QueuedBuild: ...

    def queued(self, path: str, queue_id: int) -> QueuedBuild:
        """The queue item; `build_number` is set once the build has started."""
        ...

    def build(self, path: str, number: int) -> Build: ...

    def builds(self, path: str, limit: int = 20) -> list[Build]:
        """Recent builds, newest first."""
        ...

    def find(self, path: str, parameters: dict[str, str], since: datetime) -> Build | None:
        """The build a trigger of `path` with `parameters` by us started at or after `since`,
        if the build server shows it yet: how a trigger whose answer was lost is found."""
        ...

    def log(self, path: str, number: int, start: int = 0) -> LogChunk: ...

    def follow_log(self, path: str, number: int, start: int = 0) -> Iterator[str]:
        """The build's log line by line as it is written, in constant memory, until it ends."""
        ...

    def scan_log(self, path: str, number: int, pattern: str, start: int = 0) -> LogScan:
        """The first line from byte `start` that `pattern` matches, read in bounded memory."""
        ...

    def stop(self, path: str, number: int) -> None: ...


# --- code host (GitHub) -----------------------------------------------------------------------


class StatusState(StrEnum):
    """A commit status's state, as GitHub names it; a required context blocks merging until
    it is success."""

    SUCCESS = "success"
    PENDING = "pending"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True)
class CommitStatus:
    """One context's status on a commit: a CI check's, or an override's (whose description
    says who overrode it, and why)."""

    context: str
    state: StatusState
    description: str | None
    target_url: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class CombinedStatus:
    """A commit's statuses, one per context, and the state they add up to."""

    sha: str
    state: StatusState
    statuses: tuple[CommitStatus, ...]

    def context(self, name: str) -> CommitStatus | None:
        """The status of context `name`; GitHub matches context names case-insensitively."""
        return next((s for s in self.statuses if s.context.lower() == name.lower()), None)


@dataclass(frozen=True)
class Commit:
    """A commit as the code host shows it."""

    sha: str
    message: str
    author: str
    committed_at: datetime | None
    url: str


class CompareStatus(StrEnum):
    """Where a head stands against a base."""

    AHEAD = "ahead"
    BEHIND = "behind"
    IDENTICAL = "identical"
    DIVERGED = "diverged"


@dataclass(frozen=True)
class Comparison:
    """The code host's compare of `base...head`: how far each is ahead of the other."""

    base: str
    head: str
    status: CompareStatus
    ahead_by: int
    behind_by: int
    html_url: str

    @property
    def head_contains_base(self) -> bool:
        return self.status in (CompareStatus.AHEAD, CompareStatus.IDENTICAL)


@dataclass(frozen=True)
class PullRequest:
    """A pull request oob opened (a postmortem draft's), as the code host shows it."""

    number: int
    url: str  # the page a person opens
    head: str
    base: str


@dataclass(frozen=True)
class OpenPull:
    """An open pull request into the release branch, as a merge hold sees it."""

    number: int
    url: str
    head_sha: str
    author: str


class CodeHost(Protocol):
    def commit(self, ref: str, repository: str | None = None) -> Commit:
        """The commit `ref` names (a short or full SHA, a branch); UsageError if none."""
        ...

    def combined_status(self, sha: str) -> CombinedStatus: ...

    def create_status(
        self, sha: str, state: StatusState, context: str, description: str, target_url: str | None
    ) -> CommitStatus: ...

    def compare(self, base: str, head: str) -> Comparison: ...

    def commits_after(self, sha: str, branch: str | None = None) -> list[Commit]:
        """Commits on `branch` (default: the configured one) that came after `sha`, newest first."""
        ...

    def ensure_branch(self, repository: str, branch: str, from_branch: str) -> None:
        """Create `branch` at the tip of `from_branch`, or keep it if it exists."""
        ...

    def put_file(self, repository: str, branch: str, path: str, content: str, message: str) -> None:
        """Create or update a file on a branch (a no-op when the content is unchanged)."""
        ...

    def ensure_pull_request(
        self, repository: str, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        """Open a pull request, or return the open one for `head` if it already exists."""
        ...

    def open_pulls(self, base: str) -> list[OpenPull]:
        """The open pull requests into `base` of the configured repository."""
        ...

    def branch_protection(self, branch: str) -> dict[str, Any] | None:
        """The branch's protection as GitHub reads it back; None if it is not protected."""
        ...

    def set_branch_protection(
        self, branch: str, protection: dict[str, Any], *, lock_branch: bool
    ) -> None:
        """Set the protection `branch_protection` read again, with `lock_branch` as given."""
        ...


# --- deployments record (GitHub's Deployments, for every build server) ----------------------


class DeploymentState(StrEnum):
    """The states of a deployment status oob posts, as GitHub names them."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    FAILURE = "failure"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class DeploymentRecord:
    """A deployment of a commit to an environment, as the code host keeps it."""

    id: int
    sha: str
    environment: str
    state: str | None  # its newest status's; None before any


class Deployments(Protocol):
    def record(self, ref: str, environment: str, key: str, description: str) -> DeploymentRecord:
        """The deployment of `ref` (a branch, tag or commit) to `environment` marked with `key`
        (an oob run's id): the one already made with that key, else a new one of the commit
        `ref` names now. Never two for one key."""
        ...

    def set_state(
        self,
        deployment: DeploymentRecord,
        state: DeploymentState,
        target_url: str,
        description: str,
    ) -> DeploymentRecord:
        """Post `state` (with a link to `target_url`), unless it is the newest already."""
        ...


# --- chat (Slack and apprise channels) --------------------------------------------------------


@dataclass(frozen=True)
class PostedMessage:
    channel: str  # the configured channel name
    key: str  # the idempotency key the message was posted with
    ts: str | None  # Slack's message id; None for channels that return none (apprise)
    permalink: str | None = None


@dataclass(frozen=True)
class Button:
    """A button under a message: the person who taps it takes `action` on run `run_id`."""

    action: str  # a policy action, as people type it: approve, deny, confirm-fix, ...
    label: str
    run_id: str
    style: str | None = None  # Slack's "primary" or "danger"


class Chat(Protocol):
    def post(
        self, channel: str, text: str, key: str, buttons: Sequence[Button] = ()
    ) -> PostedMessage:
        """Post `text` to a configured channel once: if a message with `key` is already in the
        channel (a retry after a lost response), return it instead of posting again. Channels
        that cannot show `buttons` (apprise) send the text alone."""
        ...

    def settle(self, message: PostedMessage, footer: str) -> None:
        """Replace the buttons under a posted message with `footer` (what was decided); a
        channel without buttons has nothing to settle."""
        ...


# --- probes (verifying the fix) ---------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str  # what was seen: "HTTP 200 in 84 ms", "exit 1: ..."


class Probe(Protocol):
    def run(self, check_name: str) -> ProbeResult:
        """Run the configured verification check of that name once."""
        ...

    def shield_up(self) -> bool:
        """True while the CMS answers editors with the deploy shield (HTTP 503)."""
        ...


# --- the services of a plan -------------------------------------------------------------------


class Connections(Protocol):
    """The services a run's plan names: its pipeline's build server (controller, job folder),
    code host (repository), channels and checks (`oob.adapters.pool.Pool`)."""

    def build_server(self, plan: Config) -> BuildServer: ...

    def code_host(self, plan: Config) -> CodeHost: ...

    def chat(self, plan: Config) -> Chat: ...

    def probe(self, plan: Config) -> Probe: ...
