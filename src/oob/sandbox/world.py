"""The simulated world behind the sandbox's four services, moved through simulated time.

The world is a discrete-event simulation. Everything that happens by itself (a build finishing, a
release job picking its commit, a scenario's merge) is an event at a simulated time; before any
request is answered, `session()` processes every event up to the clock's "now", in time order.
State therefore depends only on the scenario, the seed, the requests and when they came, never on
how often anyone polled. History is replayed through the same engine before the start, so the
Jenkins builds, the commit statuses, the release tags and the deployed CMS all agree.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from oob.sandbox.clock import SimClock
from oob.sandbox.errors import SandboxError
from oob.sandbox.jobs import (
    Build,
    Job,
    QueueItem,
    job_url_path,
    push_cause,
    timer_cause,
    upstream_cause,
    user_cause,
)
from oob.sandbox.ledger import Ledger, iso
from oob.sandbox.repo import PullRequest, Repo, protection_settings
from oob.sandbox.scenario import (
    CommitSpec,
    Event,
    load_history,
    load_pipeline,
    load_scenario,
)
from oob.sandbox.workspace import Channel, Workspace, signing_secret

CI_BOT = "va-cms-bot"
AGENTS = ("cms-ci-agent-1", "cms-ci-agent-2", "cms-ci-agent-3", "cms-ci-agent-4")
# A long job writes a line about this often (simulated seconds), so a follower sees progress.
LINE_EVERY = 30.0


@dataclass(frozen=True)
class Options:
    """How a world is set up; `reset` rebuilds the world from these."""

    scenario: str = "happy"
    seed: int = 0
    time_scale: float = 60.0
    start: float | None = None
    public_url: str = "http://127.0.0.1:8765"
    user: str = "oob"
    token: str = "sandbox-token"  # noqa: S105 (the sandbox's well-known fake credential)
    github_rate_limit: int = 5000
    """Requests per hour (real time) GitHub allows the token; a drill can make it small."""
    github_admin: bool = False
    """The token's user administers the repository (may read and change branch protection)."""
    hold_required: bool = False
    """The branch protection of main requires `oob/merge-hold` besides the CI contexts."""

    @property
    def signing_secret(self) -> str:
        """The sandbox Slack app's signing secret, with which it signs what it sends oob."""
        return signing_secret(self.token)


@dataclass
class GitHubRate:
    """GitHub's primary rate limit of the token: an hourly window in real time (clients sleep
    until `X-RateLimit-Reset` in real seconds), and what was counted against it."""

    limit: int
    window_start: float = 0.0
    used: int = 0
    counted: int = 0
    """Requests that cost rate limit since the world was built (all windows)."""
    not_modified: int = 0
    """Conditional requests answered 304, which cost nothing."""

    def window(self, now: float) -> None:
        """Open a new window when the hour is over."""
        if now - self.window_start >= 3600:
            self.window_start, self.used = now, 0

    @property
    def remaining(self) -> int:
        """Requests left in this window."""
        return max(0, self.limit - self.used)

    @property
    def reset(self) -> int:
        """Epoch second the window ends."""
        return int(self.window_start + 3600)


@dataclass
class Cms:
    """What production runs, and whether the deploy shield is up."""

    deployed_sha: str | None = None
    tag: str | None = None
    deployed_at: float | None = None
    deploys_running: int = 0

    @property
    def shield_up(self) -> bool:
        """True while a production deploy runs: editors get the maintenance page."""
        return self.deploys_running > 0


HOLD_CONTEXT = "oob/merge-hold"


class World:
    """All state of the sandbox; use it inside `session()`, which locks it and brings it to now."""

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        self.pipeline = load_pipeline()
        self.history = load_history()
        self.lock = threading.RLock()
        self._build(self.options)

    # -- setting up ---------------------------------------------------------------------------

    def _build(self, options: Options) -> None:
        self.options = options
        self.scenario = load_scenario(options.scenario)
        start = options.start if options.start is not None else float(math.floor(time.time()))
        self.clock = SimClock(start, options.time_scale)
        self.t0 = start
        self.ledger = Ledger()
        self.github_rate = GitHubRate(options.github_rate_limit)
        # Every request each service received (answered or not), and those answered 304.
        self.requests: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._queue_ids = itertools.count(48_213)
        self.queue: dict[int, QueueItem] = {}
        self.jobs = {spec.path: Job(spec, spec.next_build) for spec in self.pipeline.jobs}
        self.cms = Cms()
        self.next_tag = self.history.first_tag + 1
        self.releases: list[tuple[str, str]] = []
        self._later = list(self.history.later)
        self._release_anchored = False
        self._replaying = True
        self.repo = Repo(self.pipeline.repository, self.pipeline.branch, 104_012_337)
        self.postmortems = Repo(
            self.pipeline.postmortems_repository, self.pipeline.postmortems_branch, 98_118_201
        )
        contexts = list(self.pipeline.required_contexts)
        if options.hold_required:
            contexts.append(HOLD_CONTEXT)
        self.repo.protection[self.pipeline.branch] = protection_settings(contexts)
        self.merge_attempts: list[dict[str, Any]] = []
        self.fix_sha = ""
        self.bug_sha = ""
        earliest = min(c.minutes for c in self.history.commits) * 60 + start
        self._at = earliest
        team = self.pipeline.slack
        self.slack = Workspace.create(team, self.scenario.slack, earliest)
        self.slack.seed_history(
            self._rng("slack-history"), earliest, start - 60, team.history_messages
        )
        if team.chatter_minutes > 0:
            for channel in self.slack.channels.values():
                if channel.member:
                    self._chatter(channel, self._rng("chatter", channel.name), start)
        self._seed_postmortems(earliest)
        self._seed_history()
        self._run_until(start)
        self._replaying = False
        for event in self.scenario.events:
            if event.after == "start":
                self._schedule(start + event.minutes * 60, self._scenario_event(event))

    def _seed_postmortems(self, at: float) -> None:
        template = resources.files("oob.sandbox.data").joinpath("postmortem-template.md")
        self.postmortems.commit(
            branch=self.pipeline.postmortems_branch,
            message="Add the postmortem template",
            author="Sitewide Team",
            email="sitewide@example.gov",
            date=at,
            changes={
                "README.md": b"# Sensitive team documents\n\nPostmortems live in Postmortems/.\n",
                "Postmortems/postmortem-template.md": template.read_bytes(),
            },
        )

    def _seed_history(self) -> None:
        for spec in self.history.commits:
            minutes = spec.minutes
            if spec.key == self.history.fix and self.scenario.fix_minutes is not None:
                minutes = self.scenario.fix_minutes
            self._schedule(self.t0 + minutes * 60, self._pusher(spec))
        for minutes in self.history.release_minutes:
            self._schedule(self.t0 + minutes * 60, self._daily_release)

    def _pusher(self, spec: CommitSpec) -> Callable[[], None]:
        def push() -> None:
            commit = self._push(spec)
            if spec.key == self.history.fix:
                self.fix_sha = commit
            if spec.key == self.history.bug:
                self.bug_sha = commit

        return push

    def _daily_release(self) -> None:
        self.trigger(self.pipeline.release_job.path, {"release_wait": "60"}, [timer_cause()])

    def _push(self, spec: CommitSpec) -> str:
        """Land a commit on main; with CI it starts the pipeline, as a push does."""
        commit = self.repo.commit(
            branch=self.pipeline.branch,
            message=spec.message,
            author=spec.author,
            email=spec.email,
            date=self._at,
            changes={spec.path: f"{spec.key} {spec.message}\n".encode()},
        )
        if spec.ci:
            first = self.pipeline.jobs[0]
            self.trigger(first.path, {}, [push_cause(spec.author)], sha=commit.sha)
        return commit.sha

    # -- time ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The simulated time of what is being done (an event's time while it runs)."""
        return self._at

    @contextmanager
    def session(self) -> Iterator[World]:
        """Lock the world and process every event due by the clock's now."""
        with self.lock:
            self._run_until(self.clock.now())
            yield self

    def advance(self, seconds: float) -> float:
        """Move the clock forward and process what happens meanwhile; returns the new time."""
        with self.lock:
            now = self.clock.advance(seconds)
            self._run_until(now)
            return now

    def reset(self, scenario: str | None = None, seed: int | None = None) -> None:
        """Rebuild the world from its options, optionally with another scenario or seed."""
        options = replace(
            self.options,
            scenario=scenario if scenario is not None else self.options.scenario,
            seed=seed if seed is not None else self.options.seed,
        )
        load_scenario(options.scenario)  # fail before tearing anything down
        with self.lock:
            self._build(options)

    def _schedule(self, at: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (at, next(self._seq), action))

    def _run_until(self, until: float) -> None:
        while self._events and self._events[0][0] <= until:
            at, _, action = heapq.heappop(self._events)
            self._at = max(self._at, at)
            action()
        self._at = max(self._at, until)

    # -- Jenkins ------------------------------------------------------------------------------

    def job(self, path: str) -> Job | None:
        """The job at `path`, if the pipeline has it."""
        return self.jobs.get(path)

    def build_url(self, build: Build) -> str:
        """The absolute URL of `build` on the sandbox's public address."""
        return f"{self.options.public_url}/jenkins/{job_url_path(build.job.path)}{build.number}/"

    def trigger(
        self,
        path: str,
        parameters: dict[str, str],
        causes: list[dict[str, Any]],
        *,
        sha: str | None = None,
    ) -> QueueItem:
        """Put a build of `path` in the queue; it starts when its quiet period is over.

        As Jenkins's `Queue.schedule2` does, a request identical to an item still in the queue
        (same job, same parameters, same revision) is folded into that item: its causes are
        added and the existing item is returned (`folded` tells the caller)."""
        spec = self.jobs[path].spec
        values = {p.name: parameters.get(p.name, p.default) for p in spec.parameters}
        quiet = self.pipeline.quiet_period_seconds
        for item in self.queue.values():
            if (
                item.in_queue
                and item.job.path == path
                and (item.parameters, item.sha)
                == (
                    values,
                    sha,
                )
            ):
                item.causes.extend(c for c in causes if c not in item.causes)
                item.folds += 1
                return item
        item = QueueItem(
            next(self._queue_ids), spec, values, causes, sha, self._at, self._at + quiet
        )
        self.queue[item.id] = item
        self._schedule(item.leaves_at, lambda: self._ready(item))
        return item

    def disabled(self, path: str) -> bool:
        """True for a job the scenario disabled (Jenkins answers 409 to a trigger)."""
        return path in self.scenario.disabled_jobs

    def cancel(self, item_id: int) -> bool:
        """Cancel a queue item that has not started; False if it is unknown or gone."""
        item = self.queue.get(item_id)
        if item is None or not item.in_queue:
            return False
        item.cancelled = True
        item.left_at = self._at
        return True

    def queue_item(self, item_id: int) -> QueueItem | None:
        """A queue item, while Jenkins still remembers it (a few minutes after it left)."""
        item = self.queue.get(item_id)
        retention = self.pipeline.queue_item_retention_seconds
        if item is None or (item.left_at is not None and self._at - item.left_at > retention):
            return None
        return item

    def running(self, path: str) -> Build | None:
        """The build of `path` in progress, if any."""
        return next((b for b in reversed(self.jobs[path].builds) if b.building), None)

    def _ready(self, item: QueueItem) -> None:
        """The quiet period is over: blocked while the job runs one build at a time and one is
        in progress, else buildable until an executor takes it."""
        if not item.in_queue:
            return
        if not item.job.concurrent and self.running(item.job.path) is not None:
            item.state = "blocked"
            return
        item.state = "buildable"
        item.buildable_since = self._at
        self._schedule(self._at + self.pipeline.executor_pickup_seconds, lambda: self._start(item))

    def _unblock(self, path: str) -> None:
        """A build of `path` ended: the oldest item it blocked becomes buildable."""
        blocked = [i for i in self.queue.values() if i.in_queue and i.state == "blocked"]
        for item in blocked:
            if item.job.path == path:
                self._ready(item)
                return

    def stop(self, build: Build, user: str) -> None:
        """Abort a running build, as the stop button does; a finished build is left alone."""
        if not build.building:
            return
        build.cut_log(self._at)
        build.write(
            self._at, f"Aborted by {user}", "[Pipeline] End of Pipeline", "Finished: ABORTED"
        )
        if build.job.kind == "deploy":
            self.cms.deploys_running -= 1
        self._close(build, "ABORTED")

    def _rng(self, *parts: object) -> random.Random:
        # Seeded per build, not shared: a build's variation must not depend on request order.
        return random.Random(":".join(str(p) for p in (self.options.seed, *parts)))  # noqa: S311

    def _start(self, item: QueueItem) -> None:
        if not item.in_queue:
            return
        job = self.jobs[item.job.path]
        spec = job.spec
        number = job.next_number
        job.next_number += 1
        sha = item.sha or self.repo.branches[self.pipeline.branch]
        rng = self._rng(spec.path, number)
        duration = spec.estimate_minutes * 60 * rng.uniform(0.92, 1.08)
        build = Build(
            spec,
            number,
            item.id,
            item.parameters,
            item.causes,
            sha,
            self._at,
            self._at + duration,
            during_scenario=not self._replaying,
        )
        item.build = build
        item.left_at = self._at
        job.builds.append(build)
        self._write_header(build, rng)
        if spec.kind == "release":
            self._start_release(build)
            return
        if spec.kind == "tests" or spec.sets_pending:
            self._set_pending(build)
        if spec.kind == "deploy":
            self.cms.deploys_running += 1
            build.write(self._at, "Deploy shield raised: editors see the maintenance page")
        self._plan_work(build, rng, self._at, build.planned_end)
        self._schedule(build.planned_end, lambda: self._finish(build))

    def _write_header(self, build: Build, rng: random.Random) -> None:
        commit = self.repo.commits[build.sha]
        agent = rng.choice(AGENTS)
        build.write(
            self._at,
            *(cause["shortDescription"] for cause in build.causes),
            f"Obtained Jenkinsfile from git https://github.com/{self.repo.full_name}.git",
            "[Pipeline] Start of Pipeline",
            "[Pipeline] node",
            f"Running on {agent} in /var/lib/jenkins/workspace/{build.job.path}",
            "[Pipeline] {",
            "[Pipeline] stage",
            "[Pipeline] { (Declarative: Checkout SCM)",
            "[Pipeline] checkout",
            "The recommended git tool is: git",
            f" > git fetch --tags --force --progress -- https://github.com/{self.repo.full_name}.git"
            " +refs/heads/*:refs/remotes/origin/*",
            f"Checking out Revision {build.sha} (refs/remotes/origin/{self.pipeline.branch})",
            f" > git checkout -f {build.sha}",
            f'Commit message: "{commit.message.splitlines()[0]}"',
            "[Pipeline] }",
        )

    def _plan_work(self, build: Build, rng: random.Random, start: float, end: float) -> None:
        """Write the job's stages and steady work lines across [start, end)."""
        spec = build.job
        steps = max(1, int((end - start) // LINE_EVERY))
        per_stage = max(1, steps // len(spec.stages))
        at = start
        step = (end - start) / (per_stage * len(spec.stages) + 1)
        for stage in spec.stages:
            build.write(at, "[Pipeline] stage", f"[Pipeline] {{ ({stage})")
            for index in range(per_stage):
                at += step
                line = rng.choice(spec.work) if spec.work else f"[{stage}] working"
                build.write(at, line if index % 3 else f"[{stage}] {line}")
            build.write(at, "[Pipeline] }")

    def _set_pending(self, build: Build) -> None:
        for context in self.pipeline.required_contexts:
            self.repo.add_status(
                build.sha,
                state="pending",
                context=context,
                description="Waiting for the post-deploy tests",
                target_url=self.build_url(build),
                creator=CI_BOT,
                at=self._at,
            )

    def _finish(self, build: Build) -> None:
        if not build.building:
            return
        spec = build.job
        result = "SUCCESS"
        if spec.kind == "tests":
            result = self._report_tests(build)
        override = self.scenario.results.get(spec.path) if build.during_scenario else None
        result = override or result
        if spec.kind == "deploy":
            self.cms.deploys_running -= 1
            if result == "SUCCESS":
                self.cms.deployed_sha = build.sha
                self.cms.tag = build.parameters.get("release_tag") or None
                self.cms.deployed_at = self._at
                build.write(self._at, f"Deployed {build.parameters.get('release_tag')} to prod")
            build.write(self._at, "Deploy shield lowered")
        if result == "FAILURE":
            build.write(self._at, "ERROR: script returned exit code 2")
        if result == "UNSTABLE":
            build.write(self._at, "Some tests failed: marking the build as unstable")
        if spec.downstream and result == "SUCCESS":
            build.write(
                self._at,
                "[Pipeline] build",
                f"Scheduling project: {spec.downstream.replace('/', ' » ')}",
            )
        build.write(
            self._at, "[Pipeline] // node", "[Pipeline] End of Pipeline", f"Finished: {result}"
        )
        self._close(build, result)
        if spec.downstream and result == "SUCCESS":
            downstream = self.jobs[spec.downstream].spec
            tag = build.release_tag or build.parameters.get("release_tag", "")
            params = {"release_tag": tag} if downstream.parameters else {}
            sha = build.released_sha or build.sha
            self.trigger(downstream.path, params, [upstream_cause(build)], sha=sha)

    def _close(self, build: Build, result: str) -> None:
        build.result = result
        build.end = self._at
        if not build.job.concurrent:
            self._unblock(build.job.path)

    def _report_tests(self, build: Build) -> str:
        """Post each required context's result on the tested commit; the job's result follows."""
        wanted = self.scenario.fix_statuses if build.sha == self.fix_sha else {}
        failed = False
        for context in self.pipeline.required_contexts:
            state = wanted.get(context, "success")
            failed = failed or state in ("failure", "error")
            self.repo.add_status(
                build.sha,
                state=state,
                context=context,
                description="Tests passed" if state == "success" else f"Tests {state}",
                target_url=self.build_url(build),
                creator=CI_BOT,
                at=self._at,
            )
            build.write(self._at, f"Set GitHub status {context}: {state}")
        return "UNSTABLE" if failed else "SUCCESS"

    # -- the release job ----------------------------------------------------------------------

    def _start_release(self, build: Build) -> None:
        if build.during_scenario and not self._release_anchored:
            self._release_anchored = True
            for event in self.scenario.events:
                if event.after == "release":
                    self._schedule(self._at + event.minutes * 60, self._scenario_event(event))
        raw = build.parameters.get("release_wait", "")
        build.write(self._at, "[Pipeline] stage", "[Pipeline] { (Wait)")
        try:
            wait = float(raw)
        except ValueError:
            wait = -1.0
        if wait < 0 or math.isnan(wait):
            build.write(
                self._at,
                f"ERROR: release_wait must be a number of minutes, not {raw!r}",
                "[Pipeline] }",
                "[Pipeline] End of Pipeline",
                "Finished: FAILURE",
            )
            self._close(build, "FAILURE")
            return
        build.write(self._at, "[Pipeline] sleep", f"Sleeping for {raw} min")
        self._schedule(self._at + wait * 60, lambda: self._pick(build, wait))

    def _pick(self, build: Build, wait: float) -> None:
        """After the wait: take the newest commit of main whose combined status is success."""
        if not build.building:
            return
        build.write(
            self._at, "[Pipeline] }", "[Pipeline] stage", "[Pipeline] { (Pick release commit)"
        )
        head = self.repo.branches[self.pipeline.branch]
        candidates = self.repo.ancestors(head)[: self.pipeline.search_depth]
        sha = next((s for s in candidates if self.repo.combined_state(s) == "success"), None)
        if sha is None:
            build.write(
                self._at,
                f"No commit among the last {len(candidates)} of main has combined status success",
                "[Pipeline] }",
                "[Pipeline] End of Pipeline",
                "Finished: FAILURE",
            )
            self._close(build, "FAILURE")
            return
        tag = f"{self.pipeline.tag_prefix}{self.next_tag}"
        self.next_tag += 1
        self.repo.tags[tag] = sha
        self.releases.append((tag, sha))
        build.released_sha = sha
        build.release_tag = tag
        build.write(
            self._at,
            f"Commit status: success : {sha}",
            "[Pipeline] }",
            "[Pipeline] stage",
            "[Pipeline] { (Tag release)",
            f"+ git tag -a {tag} {sha} -m 'Release {tag}'",
            f"+ git push origin refs/tags/{tag}",
            f" * [new tag]         {tag} -> {tag}",
            f"Release tag: {tag}",
            "[Pipeline] }",
        )
        spec = build.job
        tail = max(60.0, (spec.estimate_minutes - wait) * 60) * self._rng(
            spec.path, build.number, "tail"
        ).uniform(0.92, 1.08)
        build.planned_end = self._at + tail
        self._schedule(build.planned_end, lambda: self._finish(build))

    # -- scenario events ----------------------------------------------------------------------

    def _scenario_event(self, event: Event) -> Callable[[], None]:
        def happen() -> None:
            if event.action == "merge":
                self._merge(event)
            elif event.action == "open":
                self._open(event)
            else:
                self._rerun(event)

        return happen

    def _open(self, event: Event) -> PullRequest:
        """An engineer opens a pull request with the next commit of history.toml's `later`;
        its CI has passed on the branch."""
        if not self._later:
            raise SandboxError("the scenario merges more commits than history.toml offers")
        spec = self._later.pop(0)
        branch = f"{event.user}/{spec.key}"
        self.repo.branches[branch] = self.repo.branches[self.pipeline.branch]
        head = self.repo.commit(
            branch=branch,
            message=spec.message,
            author=spec.author,
            email=spec.email,
            date=self._at,
            changes={spec.path: f"{spec.key} {spec.message}\n".encode()},
        )
        self._ci(head.sha, "success", "Tests passed")
        pull = PullRequest(
            number=len(self.repo.pulls) + 1,
            title=spec.message.splitlines()[0],
            body="",
            head=branch,
            base=self.pipeline.branch,
            user=event.user,
            created_at=self._at,
        )
        self.repo.pulls.append(pull)
        return pull

    def merge_pull(self, pull: PullRequest, user: str, *, admin: bool) -> tuple[int, str, str]:
        """Merge `pull` as `user` (squashed onto its base), as GitHub's merge button and
        `PUT .../pulls/{n}/merge` do, or refuse as GitHub does: (HTTP status, message, sha)."""
        refusal = self.repo.merge_refusal(pull, admin=admin)
        if refusal is not None:
            return refusal[0], refusal[1], ""
        head = self.repo.commits[self.repo.branches[pull.head]]
        commit = self.repo.commit(
            branch=pull.base,
            message=f"{pull.title} (#{pull.number})",
            author=head.author,
            email=head.email,
            date=self._at,
            changes=dict(head.changes),
        )
        pull.state = "closed"
        pull.merged_at = self._at
        pull.merge_commit_sha = commit.sha
        pull.merged_by = user
        return 200, "Pull Request successfully merged", commit.sha

    def _merge(self, event: Event) -> None:
        """An engineer merges their pull request (opened now if they had none open), through
        the branch's protection; a refused merge is recorded in `merge_attempts`."""
        pull = next(
            (p for p in self.repo.pulls if p.user == event.user and p.state == "open"), None
        ) or self._open(event)
        status, message, sha = self.merge_pull(pull, event.user, admin=False)
        self.merge_attempts.append(
            {
                "pull": pull.number,
                "by": event.user,
                "at": iso(self._at),
                "status": status,
                "message": message,
                "sha": sha or None,
            }
        )
        path = f"/repos/{self.repo.full_name}/pulls/{pull.number}/merge"
        self.ledger.record("github", "PUT", path, self.merge_attempts[-1], self._at)
        if status != 200:
            return
        self._ci(sha, "pending", "Tests are running")
        self._schedule(
            self._at + event.statuses_after_minutes * 60,
            lambda: self._ci(sha, "success", "Tests passed"),
        )

    def _ci(self, sha: str, state: str, description: str) -> None:
        """CI's statuses of every required context on `sha`."""
        for context in self.pipeline.required_contexts:
            self.repo.add_status(
                sha,
                state=state,
                context=context,
                description=description,
                target_url=None,
                creator=CI_BOT,
                at=self._at,
            )

    def _rerun(self, event: Event) -> None:
        assert event.job is not None
        sha = self.fix_sha if event.ref == "fix" else self.repo.resolve(event.ref)
        self.trigger(event.job, {}, [user_cause(event.user)], sha=sha)

    # -- Slack --------------------------------------------------------------------------------

    def _chatter(self, channel: Channel, rng: random.Random, after: float) -> None:
        """Someone writes in `channel` now and then, for as long as the world runs."""
        at = after + rng.expovariate(1 / (self.pipeline.slack.chatter_minutes * 60))

        def write() -> None:
            channel.messages.append(self.slack.chatter(rng, self._at))
            self._chatter(channel, rng, self._at)

        self._schedule(at, write)

    # -- the CMS ------------------------------------------------------------------------------

    def login_status(self) -> int:
        """What editor login answers now: 503 behind the shield, 500 while the bug is live."""
        if self.cms.shield_up:
            return 503
        deployed = self.cms.deployed_sha
        if deployed is None:
            return 200
        has_bug = self.repo.contains(deployed, self.bug_sha)
        cured = self.repo.contains(deployed, self.fix_sha) and self.scenario.fix_cures
        return 500 if has_bug and not cured else 200

    # -- the control API's view ---------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything a test or a rehearsal wants to check, as JSON-ready data."""
        main = self.repo.branches[self.pipeline.branch]
        previous = [r for r in self.releases if r[1] != self.cms.deployed_sha]
        return {
            "scenario": self.scenario.name,
            "summary": self.scenario.summary,
            "seed": self.options.seed,
            "time_scale": self.clock.time_scale,
            "manual_clock": self.clock.manual,
            "sim_time": iso(self._at),
            "sim_epoch": self._at,
            "sim_elapsed_seconds": self._at - self.t0,
            "repo": self.repo.full_name,
            "branch": self.pipeline.branch,
            "required_contexts": list(self.pipeline.required_contexts),
            "fix_sha": self.fix_sha,
            "bug_sha": self.bug_sha,
            "main_sha": main,
            "combined_status": {
                "fix": self.repo.combined_state(self.fix_sha),
                "main": self.repo.combined_state(main),
            },
            "jobs": [
                {
                    "path": job.spec.path,
                    "builds": [self._build_state(b) for b in reversed(job.builds)],
                }
                for job in self.jobs.values()
            ],
            "releases": [{"tag": tag, "sha": sha} for tag, sha in self.releases],
            "cms": {
                "deployed_sha": self.cms.deployed_sha,
                "tag": self.cms.tag,
                "shield_up": self.cms.shield_up,
                "login_status": self.login_status(),
                "previous_tags": [tag for tag, _ in previous],
            },
            "postmortem_repo": {
                "repo": self.postmortems.full_name,
                "base_branch": self.postmortems.default_branch,
                "branches": sorted(self.postmortems.branches),
                "pulls": [
                    {
                        "number": p.number,
                        "title": p.title,
                        "head": p.head,
                        "base": p.base,
                        "state": p.state,
                    }
                    for p in self.postmortems.pulls
                ],
            },
            "pulls": [
                {
                    "number": p.number,
                    "head": p.head,
                    "head_sha": self.repo.branches.get(p.head),
                    "base": p.base,
                    "user": p.user,
                    "state": p.state,
                    "merged": p.merged_at is not None,
                    "merge_commit_sha": p.merge_commit_sha,
                }
                for p in self.repo.pulls
            ],
            "merge_attempts": list(self.merge_attempts),
            "protection": {b: dict(r) for b, r in self.repo.protection.items()},
            "github": {
                "requests_counted": self.github_rate.counted,
                "requests_not_modified": self.github_rate.not_modified,
                # Not the reset: it is real time, and state is compared across runs.
                "rate_limit": {
                    "limit": self.github_rate.limit,
                    "remaining": self.github_rate.remaining,
                },
            },
            "slack": {
                c.name: {"id": c.id, "messages": len(c.messages)}
                for c in self.slack.channels.values()
            },
            "requests": {
                service: {"received": n, "not_modified": self.not_modified[service]}
                for service, n in sorted(self.requests.items())
            },
        }

    @staticmethod
    def _build_state(build: Build) -> dict[str, Any]:
        data: dict[str, Any] = {
            "number": build.number,
            "result": build.result,
            "building": build.building,
            "sha": build.sha,
            "parameters": build.parameters,
            "cause": build.causes[0]["shortDescription"] if build.causes else None,
            "started": iso(build.start),
            "ended": iso(build.end) if build.end is not None else None,
            "during_scenario": build.during_scenario,
        }
        if build.job.kind == "release":
            data["released_sha"] = build.released_sha
            data["release_tag"] = build.release_tag
        return data
