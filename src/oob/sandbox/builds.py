"""Jenkins inside the sandbox's world: the queue, the executors, the builds and their logs.

A trigger queues an item; after the quiet period it becomes buildable (or blocked while the
job's one build runs), an executor starts it, and the build writes its console log across its
planned time and ends with a result, which may start a downstream job. The release job waits,
picks the newest commit of main whose combined status is success and tags it; the deploy job
raises the CMS's deploy shield while it runs and deploys the release it was given.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from oob.sandbox.jobs import Build, Job, QueueItem, job_url_path, upstream_cause
from oob.sandbox.options import Options
from oob.sandbox.production import Cms
from oob.sandbox.repo import Repo
from oob.sandbox.scenario import Pipeline, Scenario
from oob.sandbox.simulation import Simulation

if TYPE_CHECKING:
    from oob.sandbox.notifications import Notifications

CI_BOT = "va-cms-bot"
AGENTS = ("cms-ci-agent-1", "cms-ci-agent-2", "cms-ci-agent-3", "cms-ci-agent-4")
# A long job writes a line about this often (simulated seconds), so a follower sees progress.
LINE_EVERY = 30.0


class Builds(Simulation):
    """The world's Jenkins; the world (`oob.sandbox.world.World`) gives it the rest it reads."""

    options: Options
    pipeline: Pipeline
    scenario: Scenario
    repo: Repo
    cms: Cms
    fix_sha: str
    after_release: list[tuple[float, Callable[[], None]]]
    notifications: Notifications
    """What happens a given number of seconds after the scenario's first release build starts."""
    _replaying: bool

    def _open_jenkins(self, next_tag: int) -> None:
        """Nothing queued, nothing built yet (numbers go on from the pipeline's), nothing due after
        a release; `next_tag` is the number the next release tag takes."""
        self._queue_ids: Iterator[int] = itertools.count(48_213)
        self.queue: dict[int, QueueItem] = {}
        self.jobs = {spec.path: Job(spec, spec.next_build) for spec in self.pipeline.jobs}
        self.next_tag = next_tag
        self.releases: list[tuple[str, str]] = []
        self.after_release = []

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
        self.notifications.started(build)
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
        self.notifications.ended(build)
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

    def _release_begins(self) -> None:
        """The scenario's first release starts: what is due after it is scheduled."""
        for delay, action in self.after_release:
            self._schedule(self._at + delay, action)
        self.after_release = []

    def _start_release(self, build: Build) -> None:
        if build.during_scenario:
            self._release_begins()
        raw = build.parameters.get("release_wait", "")
        build.write(self._at, "[Pipeline] stage", "[Pipeline] { (Wait)")
        wait = wait_minutes(raw)
        if wait is None:
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

    def _release_candidate(self) -> tuple[str | None, int]:
        """The newest commit of main whose combined status is success, among those a release
        looks at; and how many it looked at."""
        head = self.repo.branches[self.pipeline.branch]
        candidates = self.repo.ancestors(head)[: self.pipeline.search_depth]
        sha = next((s for s in candidates if self.repo.combined_state(s) == "success"), None)
        return sha, len(candidates)

    def _tag_release(self, sha: str) -> str:
        """Tag `sha` with the next release tag; the tag."""
        tag = f"{self.pipeline.tag_prefix}{self.next_tag}"
        self.next_tag += 1
        self.repo.tags[tag] = sha
        self.releases.append((tag, sha))
        return tag

    def _pick(self, build: Build, wait: float) -> None:
        """After the wait: take the newest commit of main whose combined status is success."""
        if not build.building:
            return
        build.write(
            self._at, "[Pipeline] }", "[Pipeline] stage", "[Pipeline] { (Pick release commit)"
        )
        sha, looked = self._release_candidate()
        if sha is None:
            build.write(
                self._at,
                f"No commit among the last {looked} of main has combined status success",
                "[Pipeline] }",
                "[Pipeline] End of Pipeline",
                "Finished: FAILURE",
            )
            self._close(build, "FAILURE")
            return
        tag = self._tag_release(sha)
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


def wait_minutes(raw: str) -> float | None:
    """A release wait as the release job reads its parameter: minutes, or None if not a
    number of them."""
    try:
        wait = float(raw)
    except ValueError:
        return None
    return None if wait < 0 or math.isnan(wait) else wait
