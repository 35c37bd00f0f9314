"""The simulated world behind the sandbox's four services, moved through simulated time.

The world is a discrete-event simulation (`oob.sandbox.simulation`). Everything that happens by
itself (a build finishing, a release job picking its commit, a scenario's merge) is an event at
a simulated time; before any request is answered, `session()` processes every event up to the
clock's "now", in time order. State therefore depends only on the scenario, the seed, the
requests and when they came, never on how often anyone polled. History is replayed through the
same engine before the start, so the Jenkins builds (`oob.sandbox.builds`), the commit statuses,
the release tags and the deployed CMS all agree. `state()` is its JSON view
(`oob.sandbox.world_state`).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from importlib import resources
from typing import Any

from oob.sandbox.actions import Actions
from oob.sandbox.builds import CI_BOT, Builds
from oob.sandbox.clock import SimClock
from oob.sandbox.errors import SandboxError
from oob.sandbox.github_rate import GitHubRate
from oob.sandbox.jobs import push_cause, timer_cause, user_cause
from oob.sandbox.ledger import Ledger, iso
from oob.sandbox.notifications import Notifications
from oob.sandbox.options import Options
from oob.sandbox.production import Cms
from oob.sandbox.repo import PullRequest, Repo, protection_settings
from oob.sandbox.scenario import (
    CommitSpec,
    Event,
    load_history,
    load_pipeline,
    load_scenario,
)
from oob.sandbox.workspace import Channel, Workspace
from oob.sandbox.world_state import world_state

__all__ = ["Options", "World"]


HOLD_CONTEXT = "oob/merge-hold"


class World(Builds, Actions):
    """All state of the sandbox; use it inside `session()`, which locks it and brings it to now."""

    def __init__(self, options: Options | None = None, *, clock: SimClock | None = None) -> None:
        """`clock`: one shared with other worlds (a fleet's, `oob.sandbox.fleet`), whose start
        is this world's; by default the world has its own, starting at `options.start`."""
        self.options = options or Options()
        self._shared_clock = clock
        self.history = load_history()
        self.lock = threading.RLock()
        self.notifications = Notifications(self)
        self._build(self.options)

    # -- setting up ---------------------------------------------------------------------------

    def _build(self, options: Options) -> None:
        self.options = options
        self.scenario = load_scenario(options.scenario)
        self.pipeline = self.scenario.paced(load_pipeline())
        clock = self._shared_clock
        if clock is None:
            start = options.start if options.start is not None else float(math.floor(time.time()))
            clock = SimClock(start, options.time_scale, paused=options.paused)
        start = clock.start
        earliest = min(c.minutes for c in self.history.commits) * 60 + start
        self._begin(clock, earliest, options.seed)
        self.t0 = start
        self.ledger = Ledger()
        self.notifications.forget()
        self.github_rate = GitHubRate(options.github_rate_limit)
        # Every request each service received (answered or not), and those answered 304.
        self.requests: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.cms = Cms()
        self._later = list(self.history.later)
        self._replaying = True
        self.repo = Repo(self.pipeline.repository, self.pipeline.branch, 104_012_337)
        self.postmortems = Repo(
            self.pipeline.postmortems_repository, self.pipeline.postmortems_branch, 98_118_201
        )
        contexts = list(self.pipeline.required_contexts)
        if options.hold_required:
            contexts.append(HOLD_CONTEXT)
        self.repo.protection[self.pipeline.branch] = protection_settings(contexts)
        self._open_jenkins(self.history.first_tag + 1)
        self._open_actions(earliest)
        self.merge_attempts: list[dict[str, Any]] = []
        self.fix_sha = ""
        self.bug_sha = ""
        self._open_slack(earliest, start)
        self._seed_postmortems(earliest)
        self._seed_history()
        self._run_until(start)
        self._replaying = False
        for event in self.scenario.events:
            if event.after == "start":
                self._schedule(start + event.minutes * 60, self._scenario_event(event))
            elif event.after == "release":
                self.after_release.append((event.minutes * 60, self._scenario_event(event)))

    def _open_slack(self, earliest: float, start: float) -> None:
        """The workspace with its history since `earliest`, and its chatter from `start` on."""
        team = self.pipeline.slack
        self.slack = Workspace.create(team, self.scenario.slack, earliest)
        self.slack.seed_history(
            self._rng("slack-history"), earliest, start - 60, team.history_messages
        )
        if team.chatter_minutes > 0:
            for channel in self.slack.channels.values():
                if channel.member:
                    self._chatter(channel, self._rng("chatter", channel.name), start)

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

    # -- starting over ------------------------------------------------------------------------

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
        return world_state(self)
