"""In-memory doubles of the ports, for unit tests of the workflow's logic and branches.

They script the world step by step (a build ends after a few looks at it), not in time, so
that the tests are fast and deterministic. End-to-end behaviour against services that speak
the real wire protocols is tested with the sandbox.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from oob.clock import Clock, SystemClock
from oob.errors import ChatError, GitHubError, JenkinsError
from oob.ports import (
    Build,
    Button,
    CombinedStatus,
    Commit,
    CommitStatus,
    CompareStatus,
    Comparison,
    DeploymentRecord,
    DeploymentState,
    JobInfo,
    LogChunk,
    LogScan,
    OpenPull,
    PostedMessage,
    ProbeResult,
    PullRequest,
    QueuedBuild,
    StatusState,
)

if TYPE_CHECKING:
    from oob.config import Config

RELEASE = "deploys/cms-auto-deploy"
CHAIN = (RELEASE, "cms/cms-full-pipeline", "releases/cms", "deploys/cms-vagov-prod")
FIX = "f" * 40
MERGED = "e" * 40
BEFORE = "b" * 40


@dataclass
class Script:
    """What the doubles do: which commit the release picks, which job fails, and so on."""

    released: str = FIX
    released_state: str = "success"
    failing_job: str | None = None
    fix_cures: bool = True
    log_reads_before_pick: int = 3
    reads_to_finish: int = 2
    shield_reads: int = 2
    merge_during_wait: bool = False
    trigger_response_lost: bool = False  # Jenkins queues the first trigger, its answer is lost
    deployment_failures: int = 0  # GitHub fails the deployments record this often, in passing
    deployments_refused: bool = False  # the token may not make deployments


@dataclass
class Deployments:
    """GitHub's deployments of the repository: per run's key, the states posted."""

    script: Script
    states: dict[str, list[str]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # per run's key, the ref deployed
    calls: int = 0

    def _fail(self) -> None:
        self.calls += 1
        if self.script.deployments_refused:
            raise GitHubError("GitHub answered 403 on a deployment: Resource not accessible")
        if self.calls <= self.script.deployment_failures:
            raise GitHubError("GitHub answered 502 Bad Gateway", transient=True)

    def record(self, ref: str, environment: str, key: str, description: str) -> DeploymentRecord:
        self._fail()
        states = self.states.setdefault(key, [])
        self.refs.setdefault(key, ref)
        number = list(self.states).index(key) + 1
        return DeploymentRecord(number, FIX, environment, states[-1] if states else None)

    def set_state(
        self,
        deployment: DeploymentRecord,
        state: DeploymentState,
        target_url: str,
        description: str,
    ) -> DeploymentRecord:
        states = list(self.states.values())[deployment.id - 1]
        if not states or states[-1] != state.value:
            states.append(state.value)
        return replace(deployment, state=state.value)


@dataclass
class Builds:
    script: Script
    made: dict[str, list[Build]] = field(default_factory=dict)
    reads: Counter[tuple[str, int]] = field(default_factory=Counter)
    log_reads: Counter[int] = field(default_factory=Counter)
    triggered: Counter[str] = field(default_factory=Counter)
    stopped: list[tuple[str, int]] = field(default_factory=list)
    code: Code | None = None
    clock: Clock = field(default_factory=SystemClock)  # the run's: build times compare with its

    def job(self, path: str) -> JobInfo:
        return JobInfo(path, f"http://jenkins/{path}", True, ("release_wait",))

    def _start(self, path: str, parameters: dict[str, str], cause: str) -> Build:
        number = len(self.made.get(path, [])) + 1
        build = Build(
            job=path,
            number=number,
            url=f"http://jenkins/job/{path}/{number}/",
            building=True,
            result=None,
            started_at=self.clock.now(),
            duration_seconds=0,
            estimated_seconds=60,
            sha=None,
            parameters=parameters,
            causes=(cause,),
            queue_id=number,
        )
        self.made.setdefault(path, []).append(build)
        return build

    def trigger(self, path: str, parameters: dict[str, str]) -> QueuedBuild:
        self.triggered[path] += 1
        build = self._start(path, parameters, "oob")
        if self.script.trigger_response_lost and self.triggered[path] == 1:
            raise JenkinsError("Jenkins dropped the connection after the request was sent")
        return QueuedBuild(path, queue_id=build.number)

    def queued(self, path: str, queue_id: int) -> QueuedBuild:
        return QueuedBuild(path, queue_id, build_number=queue_id)

    def find(self, path: str, parameters: dict[str, str], since: datetime) -> Build | None:
        return next(
            (b for b in self.builds(path) if b.started_at >= since and b.parameters == parameters),
            None,
        )

    def build(self, path: str, number: int) -> Build:
        build = self.made[path][number - 1]
        if not build.building:
            return build
        if path == RELEASE and self.log_reads[number] <= self.script.log_reads_before_pick:
            return build
        self.reads[(path, number)] += 1
        if self.reads[(path, number)] >= self.script.reads_to_finish:
            result = "FAILURE" if path == self.script.failing_job else "SUCCESS"
            build = replace(build, building=False, result=result, duration_seconds=42.0)
            self.made[path][number - 1] = build
            index = CHAIN.index(path)
            if result == "SUCCESS" and index + 1 < len(CHAIN):
                self._start(
                    CHAIN[index + 1],
                    {},
                    f"Started by upstream project {path} build number {number}",
                )
        return build

    def builds(self, path: str, limit: int = 20) -> list[Build]:
        return list(reversed(self.made.get(path, [])))[:limit]

    def log(self, path: str, number: int, start: int = 0) -> LogChunk:
        self.log_reads[number] += 1
        build = self.made[path][number - 1]
        if self.script.merge_during_wait and self.code is not None and self.log_reads[number] == 2:
            self.code.merges.append(MERGED)
        if not build.building:
            return LogChunk("", start, False)
        if self.log_reads[number] <= self.script.log_reads_before_pick:
            return LogChunk("Sleeping for 15 min\n", start + 1, True)
        line = f"Commit status: {self.script.released_state} : {self.script.released}\n"
        return LogChunk(line if start < 100 else "", 100 + len(line), True)

    def scan_log(self, path: str, number: int, pattern: str, start: int = 0) -> LogScan:
        chunk = self.log(path, number, start)
        regex = re.compile(pattern)
        line = next((line for line in chunk.text.splitlines() if regex.search(line)), None)
        return LogScan(line, chunk.next_start, chunk.more)

    def follow_log(self, path: str, number: int, start: int = 0) -> Iterator[str]:
        raise NotImplementedError

    def stop(self, path: str, number: int) -> None:
        self.stopped.append((path, number))
        build = self.made[path][number - 1]
        self.made[path][number - 1] = replace(build, building=False, result="ABORTED")


@dataclass
class Code:
    script: Script
    merges: list[str] = field(default_factory=list)
    branches: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    pulls: dict[str, PullRequest] = field(default_factory=dict)
    # An engineer's open pull request (head sha) and the statuses posted on commits.
    open_pull: str | None = None
    statuses: dict[str, list[tuple[str, StatusState]]] = field(default_factory=dict)
    # GitHub refuses to take statuses as if it were down (until changed).
    statuses_down: bool = False
    broken_compare: bool = False  # comparing commits hits a bug in oob
    record: Deployments | None = None

    def deployments(self) -> Deployments:
        if self.record is None:
            self.record = Deployments(self.script)
        return self.record

    def open_pulls(self, base: str) -> list[OpenPull]:
        sha = self.open_pull
        return [OpenPull(7, "http://pull/7", sha, "engineer")] if sha else []

    def commit(self, ref: str, repository: str | None = None) -> Commit:
        return Commit(FIX, "fix", "dev", None, "http://github/commit")

    def combined_status(self, sha: str) -> CombinedStatus:
        return CombinedStatus(sha, StatusState.SUCCESS, ())

    def create_status(
        self, sha: str, state: StatusState, context: str, description: str, target_url: str | None
    ) -> CommitStatus:
        if self.statuses_down:
            raise GitHubError("GitHub answered 502 Bad Gateway", transient=True)
        self.statuses.setdefault(sha, []).append((context, state))
        return CommitStatus(context, state, description, target_url, None)

    def compare(self, base: str, head: str) -> Comparison:
        if self.broken_compare:
            raise RuntimeError("a bug while comparing commits")
        contains = head in (FIX, MERGED)
        status = CompareStatus.AHEAD if contains else CompareStatus.BEHIND
        return Comparison(base, head, status, int(contains), int(not contains), "http://compare")

    def commits_after(self, sha: str, branch: str | None = None) -> list[Commit]:
        return [Commit(m, "Merge pull request #1", "kwalsh", None, "http://c") for m in self.merges]

    def ensure_branch(self, repository: str, branch: str, from_branch: str) -> None:
        self.branches.add(branch)

    def put_file(self, repository: str, branch: str, path: str, content: str, message: str) -> None:
        self.files[path] = content

    def ensure_pull_request(
        self, repository: str, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        return self.pulls.setdefault(
            head, PullRequest(len(self.pulls) + 1, "http://pr", head, base)
        )


@dataclass
class Chat:
    posted: dict[str, tuple[str, str]] = field(default_factory=dict)
    attempts: Counter[str] = field(default_factory=Counter)
    # Messages (by purpose) whose posts fail as if Slack were down: for how many real seconds
    # after the first attempt (None: until `down` is changed).
    down: dict[str, float | None] = field(default_factory=dict)
    first_try: dict[str, float] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)  # messages whose posts hit a bug in oob
    buttons: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by key@channel
    settled: list[tuple[str, str, str]] = field(default_factory=list)  # channel, ts, footer

    def post(
        self, channel: str, text: str, key: str, buttons: Sequence[Button] = ()
    ) -> PostedMessage:
        import time

        self.attempts[key] += 1
        purpose = key.split(":")[2]
        if purpose in self.broken:
            raise RuntimeError(f"a bug while posting {purpose}")
        if purpose in self.down:
            since = self.first_try.setdefault(purpose, time.monotonic())
            seconds = self.down[purpose]
            if seconds is None or time.monotonic() - since < seconds:
                raise ChatError(
                    "Slack could not be reached: 503 Service Unavailable", transient=True
                )
        self.posted.setdefault(f"{key}@{channel}", (channel, text))
        if buttons:
            self.buttons[f"{key}@{channel}"] = tuple(b.action for b in buttons)
        return PostedMessage(channel, key, "1.0")

    def settle(self, message: PostedMessage, footer: str) -> None:
        self.settled.append((message.channel, str(message.ts), footer))

    def purposes(self) -> Counter[str]:
        """Messages posted, by `purpose:audience`."""
        return Counter(":".join(k.split("@")[0].split(":")[2:4]) for k in self.posted)


@dataclass
class Probe:
    script: Script
    shield_reads: int = 0

    def run(self, check_name: str) -> ProbeResult:
        ok = self.script.fix_cures
        return ProbeResult(check_name, ok, "HTTP 200" if ok else "HTTP 500")

    def shield_up(self) -> bool:
        self.shield_reads += 1
        return self.shield_reads <= self.script.shield_reads


@dataclass
class Same:
    """`oob.ports.Connections` handing every plan the same doubles."""

    builds: Builds
    code: Code
    messages: Chat
    checks: Probe

    def build_server(self, plan: Config) -> Builds:
        return self.builds

    def code_host(self, plan: Config) -> Code:
        return self.code

    def chat(self, plan: Config) -> Chat:
        return self.messages

    def probe(self, plan: Config) -> Probe:
        return self.checks
