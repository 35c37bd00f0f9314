"""The out-of-band runbook as ONE durable DBOS workflow.

`run_workflow(run_id)` walks the runbook: approval, pre-flight, notification and merge hold,
trigger of the release job, cancel window, the released commit checked against the fix, the
stages to production, the deploy shield, verification, resolution and the postmortem draft.
Every ending, good or bad, passes through `_Flow._close`, which tells the people who were told
the deploy was coming, releases the merge hold and leaves a complete timeline.

The rules of durable execution (DESIGN.md section 3) shape the code:

- The workflow body is deterministic: it reads the world only through steps (the functions
  decorated with `@DBOS.step`), whose results DBOS checkpoints and replays after a crash. The
  time, too, is read in a step (`_now`).
- Every step that changes the world is idempotent against the real service, because a step can
  run again after a crash *during* it: chat posts carry a key derived from the run, the message
  and the audience (the adapter finds an earlier post with that key); the release job is
  triggered only after the intent is recorded, and a repeated trigger first looks for the
  build the first attempt may have started; events are appended with keys.
- People act on a run by sending it commands (`COMMAND_TOPIC`): approve, deny, cancel,
  confirm. Every wait in the workflow is a `DBOS.recv` on that topic with a timeout, so a
  command interrupts any wait at once, and waiting costs no thread-blocking poll of our own.

The services, the store and the tuning are bound once per process with `bind(Runtime(...))`:
steps find them there, as DBOS itself is one instance per process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NoReturn, ParamSpec, TypeVar

from dbos import DBOS
from dbos._error import DBOSMaxStepRetriesExceeded

from oob.clock import Clock
from oob.config import Config, Stage
from oob.errors import IntegrationError, OobError, ProcedureError
from oob.eta import lead_time
from oob.events import (
    KIND_APPROVAL_REQUESTED,
    KIND_APPROVED,
    KIND_BUILD_FINISHED,
    KIND_BUILD_STARTED,
    KIND_CANCELLED,
    KIND_CHECK,
    KIND_COMMAND_REFUSED,
    KIND_DENIED,
    KIND_ENDED,
    KIND_ERROR,
    KIND_FIX_CONFIRMED,
    KIND_FIX_REJECTED,
    KIND_HOLD_RELEASED,
    KIND_HOLD_STARTED,
    KIND_MERGE_DETECTED,
    KIND_MESSAGE_POSTED,
    KIND_POSTMORTEM,
    KIND_PREFLIGHT_PASSED,
    KIND_PREFLIGHT_WAITING,
    KIND_RELEASE_INTENT,
    KIND_RELEASE_PICKED,
    KIND_SHIELD_DOWN,
    KIND_SHIELD_UP,
    KIND_STEP_FINISHED,
    KIND_STEP_STARTED,
)
from oob.messages import Messages
from oob.ports import Build, BuildServer, Chat, CodeHost, Probe
from oob.store import Event, RunState, Source, Store

P = ParamSpec("P")
R = TypeVar("R")

WORKFLOW_NAME = "oob.run"
COMMAND_TOPIC = "command"
ACTOR = "oob"


# The steps of a run as people see them, in order.
STEPS = (
    "approval",
    "preflight",
    "notify",
    "trigger",
    "release_wait",
    "release_check",
    "deploy",
    "shield",
    "verify",
    "resolve",
    "postmortem",
)


def finished(events: list[Event]) -> bool:
    """Whether the workflow wrote its last event: the run ended and, when the release job was
    triggered, the postmortem step (which follows the end) is done too."""
    if not events:
        return False
    last = events[-1]
    if any(e.kind == KIND_RELEASE_INTENT for e in events):
        return last.kind == KIND_STEP_FINISHED and last.details.get("step") == "postmortem"
    return last.kind == KIND_ENDED


CANCELLABLE = frozenset(
    {RunState.AWAITING_APPROVAL, RunState.PREFLIGHT, RunState.NOTIFYING, RunState.RELEASE_WAIT}
)


@dataclass(frozen=True)
class Readiness:
    """What pre-flight found: ready or not, why not, and the stage the fix is at."""

    ready: bool
    reasons: tuple[str, ...] = ()
    stage: str | None = None  # the pipeline stage the fix is at now; None when past the gate


@dataclass(frozen=True)
class Tuning:
    """How often the workflow looks at the world, and how fast simulated time runs.

    `time_scale` is for rehearsals against a sandbox whose clock runs faster than real time:
    every duration of the config (release wait, estimates, timeouts) is divided by it.
    """

    poll_seconds: float = 10.0
    time_scale: float = 1.0
    approval_poll_seconds: float = 3600.0
    merge_check_every: int = 3  # look for new commits on main every N polls
    trigger_settle_seconds: float = 20.0  # how long a repeated trigger looks for our build

    def seconds(self, minutes: float) -> float:
        """Real seconds for `minutes` of (possibly simulated) time."""
        return minutes * 60 / self.time_scale


@dataclass
class Runtime:
    """Everything the steps use, bound once per process."""

    config: Config
    build_server: BuildServer
    code_host: CodeHost
    chat: Chat
    probe: Probe
    store: Store
    clock: Clock
    readiness: Callable[[str], Readiness]
    postmortem: Callable[[str], tuple[str | None, str | None]]
    tuning: Tuning = field(default_factory=Tuning)
    messages: Messages = field(init=False)

    def __post_init__(self) -> None:
        self.messages = Messages(self.config)


_runtime: Runtime | None = None


def bind(runtime: Runtime | None) -> None:
    """Make `runtime` the one the steps of this process use (None unbinds)."""
    global _runtime  # noqa: PLW0603 - one per process, like the DBOS instance itself
    _runtime = runtime


def _rt() -> Runtime:
    if _runtime is None:
        raise ProcedureError("the procedure runs without services", hint="a bug: bind() first")
    return _runtime


def _transient(exc: BaseException) -> bool:
    # Adapters already retried transient failures; a step repeats once more for what got
    # through (a service restarting), never for a bug.
    return isinstance(exc, IntegrationError)


def _step(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return DBOS.step(
        name=name,
        retries_allowed=True,
        max_attempts=4,
        interval_seconds=1.0,
        backoff_rate=2.0,
        should_retry=_transient,
    )


# --- steps: the only code that touches the world ----------------------------------------------


@_step("oob.now")
def _now() -> datetime:
    return _rt().clock.now()


@_step("oob.record")
def _record(run_id: str, key: str, event: Mapping[str, Any]) -> None:
    """Append `event` (kind, summary, details, actor, source) to the timeline once."""
    _rt().store.append_event(run_id, key=key, **event)


@_step("oob.transition")
def _transition(run_id: str, state: RunState) -> None:
    _rt().store.transition(run_id, state)


@_step("oob.load")
def _load(run_id: str) -> dict[str, Any]:
    run = _rt().store.run(run_id)
    return {
        "pipeline": run.pipeline,
        "requester": run.requester,
        "fix_sha": run.fix_sha,
        "symptoms": run.symptoms,
        "affects": run.affects,
        "cause": run.cause,
        "fix_summary": run.fix_summary,
        "release_wait_minutes": run.release_wait_minutes,
        "approval_timeout_minutes": run.facts.get("approval_timeout_minutes"),
    }


@_step("oob.post")
def _post(
    run_id: str, message: str, audience: str, values: Mapping[str, Any], about: str = ""
) -> int:
    """Post `message` to every channel of `audience` once; returns how many channels.

    The idempotency key is the run, the message, the audience and, for a message sent once
    per thing (a merge), that thing: a retried post finds the first instead of repeating it.
    """
    rt = _rt()
    who = rt.messages.audience(audience)
    if who is None:
        return 0
    text = rt.messages.render(message, audience, values)
    for channel in who.channels:
        key = f"oob:{run_id}:{message}:{audience}" + (f":{about}" if about else "")
        posted = rt.chat.post(channel, text, key)
        rt.store.append_event(
            run_id,
            actor=ACTOR,
            source=Source.WORKER,
            kind=KIND_MESSAGE_POSTED,
            summary=f"told {audience} in {channel}: {message.replace('_', ' ')}",
            details={
                "audience": audience,
                "channel": channel,
                "purpose": message,
                "permalink": posted.permalink,
                "ts": posted.ts,
            },
            key=f"{key}:{channel}",
        )
    return len(who.channels)


@_step("oob.readiness")
def _readiness(fix_sha: str) -> Readiness:
    return _rt().readiness(fix_sha)


@_step("oob.main_head")
def _main_head() -> str:
    rt = _rt()
    return rt.code_host.commit(rt.config.services.github.branch).sha


@_step("oob.new_commits")
def _new_commits(baseline: str) -> list[dict[str, str]]:
    commits = _rt().code_host.commits_after(baseline)
    return [
        {"sha": c.sha, "author": c.author, "message": c.message, "url": c.url}
        for c in reversed(commits)  # oldest first, the order they landed in
    ]


@_step("oob.trigger")
def _trigger(run_id: str, job: str, parameters: dict[str, str], intent_at: datetime) -> int:
    """Trigger the release job once; returns the queue id (or -number of a build found).

    The intent was recorded before this step. If an earlier attempt of this very step got as
    far as sending the trigger (`trigger_sent` in the run's facts) its build may exist: look
    for a build of the job started after the intent, by us, with our parameters, for a while
    (the queue's quiet period) before triggering again.
    """
    rt = _rt()
    facts = rt.store.run(run_id).facts
    if "queue_id" in facts:
        return int(facts["queue_id"])
    if facts.get("trigger_sent"):
        deadline = rt.clock.now() + timedelta(seconds=rt.tuning.trigger_settle_seconds)
        while True:
            found = _our_build(job, parameters, intent_at)
            if found is not None:
                return -found.number
            if rt.clock.now() >= deadline:
                break
            _pause_step(rt)
    rt.store.record_facts(run_id, trigger_sent=True)
    queued = rt.build_server.trigger(job, parameters)
    rt.store.record_facts(run_id, queue_id=queued.queue_id)
    return queued.queue_id


def _pause_step(rt: Runtime) -> None:
    # Inside a step only (never in the workflow body): wait before looking again.
    import time

    time.sleep(min(rt.tuning.poll_seconds, 1.0))


def _our_build(job: str, parameters: dict[str, str], intent_at: datetime) -> Build | None:
    rt = _rt()
    user = rt.config.services.jenkins.user
    for build in rt.build_server.builds(job, limit=20):
        if build.started_at < intent_at - timedelta(seconds=5):
            continue
        ours = all(build.parameters.get(k) == v for k, v in parameters.items())
        if ours and (not build.causes or user in build.causes):
            return build
    return None


@_step("oob.queued")
def _queued(job: str, queue_id: int) -> tuple[int | None, bool]:
    item = _rt().build_server.queued(job, queue_id)
    return item.build_number, item.cancelled


@_step("oob.build")
def _build(job: str, number: int) -> Build:
    return _rt().build_server.build(job, number)


@_step("oob.log")
def _log(job: str, number: int, start: int) -> tuple[str, int, bool]:
    chunk = _rt().build_server.log(job, number, start)
    return chunk.text, chunk.next_start, chunk.more


@_step("oob.stop")
def _stop(job: str, number: int) -> None:
    _rt().build_server.stop(job, number)


@_step("oob.downstream")
def _downstream(job: str, after: datetime, upstream_job: str, upstream_number: int) -> Build | None:
    """The build of `job` the upstream build started: named in its causes, else the first
    build started after `after`."""
    builds = [b for b in _rt().build_server.builds(job, limit=20) if b.started_at >= after]
    marker = re.compile(rf"{re.escape(upstream_job)}\D+{upstream_number}\b")
    for build in builds:
        if any(marker.search(cause) for cause in build.causes):
            return build
    return min(builds, key=lambda b: b.started_at) if builds else None


@_step("oob.compare")
def _compare(fix_sha: str, released_sha: str) -> tuple[bool, str]:
    comparison = _rt().code_host.compare(fix_sha, released_sha)
    return comparison.head_contains_base, comparison.html_url


@_step("oob.shield")
def _shield_up() -> bool:
    return _rt().probe.shield_up()


@_step("oob.probe")
def _probe(name: str) -> tuple[bool, str]:
    result = _rt().probe.run(name)
    return result.ok, result.detail


@_step("oob.postmortem")
def _postmortem(run_id: str) -> None:
    rt = _rt()
    path, url = rt.postmortem(run_id)
    rt.store.append_event(
        run_id,
        actor=ACTOR,
        source=Source.WORKER,
        kind=KIND_POSTMORTEM,
        summary=f"postmortem draft written to {path}" + (f", pull request {url}" if url else ""),
        details={"path": path, "url": url},
        key=f"{run_id}#postmortem",
    )


# --- the workflow -----------------------------------------------------------------------------


class _End(Exception):
    """The run ends now with `outcome`."""

    def __init__(self, outcome: RunState, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@DBOS.workflow(name=WORKFLOW_NAME)
def run_workflow(run_id: str) -> str:
    """Execute run `run_id` from approval to its outcome; returns the outcome's value."""
    return _Flow(run_id).execute().value


class _Flow:
    """The workflow's memory: everything here comes from step results, so replays agree."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.req = _load(run_id)
        self.config = _rt().config
        self.tuning = _rt().tuning
        self.seq = 0
        self.state = RunState.AWAITING_APPROVAL
        self.step: str | None = None
        self.announced: list[str] = []  # audiences told the deploy is coming
        self.holding = False
        self.baseline: str | None = None
        self.reported: set[str] = set()
        self.polls = 0
        self.release: Build | None = None
        self.deployed = False
        self.triggered = False
        self.confirmed = False
        self.eta_minutes = 0.0
        self.cancelled_by: tuple[str, str] | None = None

    # --- plumbing ---

    def record(
        self,
        kind: str,
        summary: str,
        details: Mapping[str, Any] | None = None,
        *,
        actor: str = ACTOR,
        source: str = Source.WORKER.value,
    ) -> None:
        self.seq += 1
        event = {
            "kind": kind,
            "summary": summary,
            "details": dict(details or {}),
            "actor": actor,
            "source": source,
        }
        _record(self.run_id, f"{self.run_id}#{self.seq}", event)

    def move(self, state: RunState) -> None:
        _transition(self.run_id, state)
        self.state = state

    def begin(self, step: str) -> None:
        self.end_step("done")
        self.step = step
        self.record(KIND_STEP_STARTED, f"{step.replace('_', ' ')} started", {"step": step})

    def end_step(self, status: str) -> None:
        if self.step is not None:
            self.record(
                KIND_STEP_FINISHED,
                f"{self.step.replace('_', ' ')} {status}",
                {"step": self.step, "status": status},
            )
            self.step = None

    def post(self, message: str, audiences: tuple[str, ...], **values: Any) -> None:
        for audience in audiences:
            _post(self.run_id, message, audience, self.values(values))

    def values(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        from oob.eta import format_minutes

        return {
            "run_id": self.run_id,
            "pipeline": self.req["pipeline"],
            "requester": self.req["requester"],
            "symptoms": self.req["symptoms"],
            "affects": self.req["affects"],
            "cause": self.req["cause"],
            "fix_summary": self.req["fix_summary"],
            "fix_sha": self.req["fix_sha"],
            "fix_short": self.req["fix_sha"][:7],
            "eta": format_minutes(self.eta_minutes),
            **extra,
        }

    def wait(self, seconds: float) -> dict[str, Any] | None:
        """Wait up to `seconds` for a command; handle cancel, confirm and reject; return the
        others."""
        command: dict[str, Any] | None = DBOS.recv(COMMAND_TOPIC, timeout_seconds=seconds)
        if command is None:
            return None
        kind = str(command.get("kind"))
        actor, source = str(command.get("actor", "?")), str(command.get("source", "cli"))
        reason = str(command.get("reason", ""))

        def by_person(event_kind: str, summary: str, details: dict[str, Any]) -> None:
            self.record(event_kind, summary, details, actor=actor, source=source)

        def refuse(why: str) -> None:
            details = {"command": kind, "reason": reason}
            command_name = "reject-fix" if kind == "reject" else kind  # as people typed it
            by_person(KIND_COMMAND_REFUSED, f"{command_name} by {actor} refused: {why}", details)

        if kind == "cancel":
            if self.state not in CANCELLABLE:
                refuse("the release job already picked its commit")
                return None
            self.cancelled_by = (actor, reason)
            by_person(KIND_CANCELLED, f"cancelled by {actor}: {reason}", {"reason": reason})
            raise _End(RunState.CANCELLED, f"cancelled by {actor}: {reason}")
        if kind == "reject":
            if self.state is not RunState.VERIFYING:
                refuse("the fix is not in production yet")
                return None
            summary = f"{actor} found the fix does not work: {reason}"
            by_person(KIND_FIX_REJECTED, summary, {"reason": reason})
            detail = f"{actor} found it does not work ({reason})"
            self.post("fix_not_verified", ("operators", "helpdesk"), detail=detail)
            raise _End(RunState.FIX_NOT_VERIFIED, detail)
        if kind == "confirm":
            if not self.confirmed:
                note = str(command.get("note", ""))
                by_person(KIND_FIX_CONFIRMED, f"fix confirmed by {actor}", {"note": note})
            self.confirmed = True
            return None
        return command

    def poll(self) -> None:
        """One pause between two looks at the world, watching main while merges are held."""
        self.wait(self.tuning.poll_seconds)
        self.polls += 1
        if self.holding and self.baseline and self.polls % self.tuning.merge_check_every == 0:
            self.watch_merges()

    # --- the procedure ---

    def execute(self) -> RunState:
        try:
            self.approve()
            self.preflight()
            self.notify()
            self.trigger()
            self.check_release()
            self.deploy()
            self.verify()
            outcome, reason = RunState.RESOLVED, "the fix is verified in production"
        except _End as end:
            outcome, reason = end.outcome, end.reason
        except (OobError, DBOSMaxStepRetriesExceeded) as exc:
            # A service kept failing: end the run cleanly rather than hold the pipeline.
            self.record(KIND_ERROR, f"the procedure could not go on: {exc}", {"error": str(exc)})
            outcome = RunState.DEPLOY_FAILED if self.triggered else RunState.CANCELLED
            reason = str(exc)
        self.close(outcome, reason)
        return outcome

    def approve(self) -> None:
        self.begin("approval")
        readiness = _readiness(self.req["fix_sha"])
        stage = readiness.stage or self.config.pipeline.release_trigger
        self.eta_minutes = _eta_from(self.config, stage, self.req["release_wait_minutes"])
        self.post("approval_request", ("product_owner",))
        self.record(
            KIND_APPROVAL_REQUESTED,
            f"approval requested from the product owner (ETA {self.values({})['eta']})",
            {"eta_minutes": self.eta_minutes, "stage": stage},
        )
        timeout = self.req.get("approval_timeout_minutes")
        deadline = _now() + timedelta(seconds=self.tuning.seconds(timeout)) if timeout else None
        while True:
            left = self.tuning.approval_poll_seconds
            if deadline is not None:
                left = min(left, (deadline - _now()).total_seconds())
                if left <= 0:
                    self.record(
                        KIND_DENIED,
                        f"no decision within {timeout:g} min",
                        {"reason": "approval timed out"},
                    )
                    raise _End(RunState.DENIED, f"no decision within {timeout:g} min")
            command = self.wait(left)
            if command is None:
                continue
            actor, source = str(command.get("actor")), str(command.get("source", "cli"))
            if command.get("kind") == "approve":
                note = str(command.get("note", ""))
                self.record(
                    KIND_APPROVED,
                    f"approved by {actor}",
                    {"note": note},
                    actor=actor,
                    source=source,
                )
                return
            if command.get("kind") == "deny":
                reason = str(command.get("reason", ""))
                self.record(
                    KIND_DENIED,
                    f"denied by {actor}: {reason}",
                    {"reason": reason},
                    actor=actor,
                    source=source,
                )
                raise _End(RunState.DENIED, f"denied by {actor}: {reason}")

    def preflight(self) -> None:
        self.move(RunState.PREFLIGHT)
        self.begin("preflight")
        said: tuple[str, ...] = ()
        while True:
            readiness = _readiness(self.req["fix_sha"])
            if readiness.ready:
                self.record(KIND_PREFLIGHT_PASSED, "pre-flight passed: the fix is ready to release")
                return
            if readiness.reasons != said:
                said = readiness.reasons
                self.record(
                    KIND_PREFLIGHT_WAITING,
                    "waiting: " + "; ".join(said),
                    {"reasons": list(said)},
                )
            self.poll()

    def notify(self) -> None:
        self.move(RunState.NOTIFYING)
        self.begin("notify")
        for audience in ("sitewide", "helpdesk", "editors"):
            self.announced.append(audience)
            self.post("deploy_coming", (audience,))
        self.holding = True
        self.post("hold_merges", ("engineers",))
        self.baseline = _main_head()
        self.record(
            KIND_HOLD_STARTED, "engineers asked to hold merges", {"baseline": self.baseline}
        )

    def watch_merges(self) -> None:
        assert self.baseline is not None
        for commit in _new_commits(self.baseline):
            if commit["sha"] in self.reported:
                continue
            self.reported.add(commit["sha"])
            title = commit["message"].splitlines()[0] if commit["message"] else ""
            self.record(
                KIND_MERGE_DETECTED,
                f"{commit['sha'][:7]} by {commit['author']} landed on main during the hold",
                commit,
            )
            for audience in ("operators", "engineers"):
                _post(
                    self.run_id,
                    "merge_detected",
                    audience,
                    self.values(
                        {
                            "branch": self.config.services.github.branch,
                            "sha_short": commit["sha"][:7],
                            "author": commit["author"],
                            "title": title,
                        }
                    ),
                    commit["sha"],
                )

    def trigger(self) -> None:
        self.begin("trigger")
        pipeline = self.config.pipeline
        job = _job(pipeline.trigger)
        wait = self.req["release_wait_minutes"]
        parameters = {pipeline.release_wait_parameter: f"{wait:g}"}
        intent_at = _now()
        self.record(
            KIND_RELEASE_INTENT,
            f"triggering {job} with {pipeline.release_wait_parameter}={wait:g}",
            {"job": job, "parameters": parameters},
        )
        self.triggered = True
        ticket = _trigger(self.run_id, job, parameters, intent_at)
        number = -ticket if ticket < 0 else self.wait_for_start(job, ticket)
        self.release = _build(job, number)
        self.record_build_started(self.release)
        self.move(RunState.RELEASE_WAIT)

    def wait_for_start(self, job: str, queue_id: int) -> int:
        """The build number of queue item `queue_id`, once it starts.

        A cancel while the build is queued waits for it to start and stops it then: the build
        server's port stops builds, and a queued release build starts within its quiet period.
        """
        cancel: _End | None = None
        while True:
            number, cancelled = _queued(job, queue_id)
            if number is not None and cancel is not None:
                _stop(job, number)
                raise cancel
            if number is not None:
                return number
            if cancelled:
                raise _End(RunState.CANCELLED, f"the queued {job} build was cancelled in Jenkins")
            if cancel is not None:
                DBOS.sleep(self.tuning.poll_seconds)
                continue
            try:
                self.poll()
            except _End as end:
                if end.outcome is not RunState.CANCELLED:
                    raise
                cancel = end

    def check_release(self) -> None:
        assert self.release is not None
        self.begin("release_wait")
        release = self.release
        pattern = re.compile(self.config.pipeline.release_log_pattern)
        start = 0
        while True:
            text, start, more = _log(release.job, release.number, start)
            match = next((m for line in text.splitlines() if (m := pattern.search(line))), None)
            if match:
                break
            if not more:
                build = _build(release.job, release.number)
                self.record_build_finished(build)
                raise _End(
                    RunState.DEPLOY_FAILED,
                    f"{release.job} #{release.number} ended {build.result} before naming a commit",
                )
            try:
                self.poll()
            except _End as end:
                if end.outcome is RunState.CANCELLED:
                    _stop(release.job, release.number)
                    self.record_build_finished(_build(release.job, release.number))
                raise
        self.move(RunState.RELEASING)
        self.begin("release_check")
        sha, state = match.group("sha"), match.group("state")
        contains, compare_url = _compare(self.req["fix_sha"], sha)
        ok = contains and state == "success"
        self.record(
            KIND_RELEASE_PICKED,
            f"the release job picked {sha[:7]} ({state}); "
            + (
                "it contains the fix"
                if ok
                else "it does NOT contain the fix"
                if not contains
                else "it is not passing"
            ),
            {
                "sha": sha,
                "state": state,
                "contains_fix": contains,
                "compare_url": compare_url,
                "line": match.group(0),
            },
        )
        if not ok:
            self.post(
                "release_mismatch",
                ("operators", "engineers"),
                released_short=sha[:7],
                released_state=state,
            )
            raise _End(RunState.RELEASE_MISMATCH, f"released {sha[:7]} does not carry the fix")
        self.move(RunState.DEPLOYING)

    def deploy(self) -> None:
        assert self.release is not None
        self.begin("deploy")
        previous = self.follow(self.release)
        stages = self.config.pipeline.to_production
        for index, stage in enumerate(stages):
            job = _job(stage)
            deadline = _now() + timedelta(
                seconds=self.tuning.seconds(2 * stage.estimate_minutes + 10)
            )
            while (
                build := _downstream(job, previous.started_at, previous.job, previous.number)
            ) is None:
                if _now() >= deadline:
                    self.fail(f"{job} did not start after {previous.job} #{previous.number}")
                self.poll()
            self.record_build_started(build)
            previous = self.follow(build, production=index == len(stages) - 1)
        self.deployed = True
        self.move(RunState.VERIFYING)
        self.begin("shield")
        while _shield_up():
            self.poll()
        self.record(KIND_SHIELD_DOWN, "the deploy shield is lowered: the CMS serves editors again")
        self.post("deploy_complete", ("helpdesk",))

    def follow(self, build: Build, *, production: bool = False) -> Build:
        """Poll `build` until it ends; a failure ends the run as deploy_failed."""
        shield_seen = False
        while build.building:
            self.poll()
            if production and not shield_seen and _shield_up():
                shield_seen = True
                self.record(KIND_SHIELD_UP, "the deploy shield is up: editors see maintenance")
            build = _build(build.job, build.number)
        self.record_build_finished(build)
        if not build.succeeded:
            self.fail(f"{build.job} #{build.number} ended {build.result} ({build.url})")
        return build

    def fail(self, detail: str) -> NoReturn:
        self.post("deploy_failed", ("operators", "engineers"), detail=detail)
        raise _End(RunState.DEPLOY_FAILED, detail)

    def verify(self) -> None:
        self.begin("verify")
        verify = self.config.verify
        deadline = _now() + timedelta(seconds=self.tuning.seconds(verify.timeout_minutes))
        passed: set[str] = set()
        last: dict[str, tuple[bool, str]] = {}
        while True:
            for check in verify.checks:
                if check.name in passed:
                    continue
                ok, detail = _probe(check.name)
                if last.get(check.name) != (ok, detail):
                    last[check.name] = (ok, detail)
                    self.record(
                        KIND_CHECK,
                        f"check {check.name!r}: {'ok' if ok else 'failed'}: {detail}",
                        {"name": check.name, "ok": ok, "detail": detail},
                    )
                if ok:
                    passed.add(check.name)
            checks_ok = len(passed) == len(verify.checks)
            if checks_ok and (self.confirmed or not verify.require_confirmation):
                return
            if _now() >= deadline:
                failing = [f"{n}: {d}" for n, (ok, d) in last.items() if not ok]
                detail = "; ".join(failing) or "nobody confirmed the fix with `oob confirm-fix`"
                self.post("fix_not_verified", ("operators", "helpdesk"), detail=detail)
                raise _End(RunState.FIX_NOT_VERIFIED, detail)
            self.poll()

    def close(self, outcome: RunState, reason: str) -> None:
        """Every ending: tell those who were told, release the hold, write the postmortem."""
        self.end_step("done" if outcome is RunState.RESOLVED else outcome.value)
        self.move(RunState.CLOSING)
        outcome_text = outcome.value.replace("_", " ")
        if outcome is RunState.RESOLVED:
            self.begin("resolve")
            self.post("resolved", ("helpdesk",))
        elif self.announced:
            self.post(
                "called_off", tuple(self.announced), outcome_text=reason, deployed=self.deployed
            )
        elif self.cancelled_by is not None:
            actor, why = self.cancelled_by
            self.post("request_withdrawn", ("product_owner",), actor=actor, reason=why)
        if self.holding:
            self.post(
                "resume_merging", ("engineers",), outcome=outcome.value, outcome_text=outcome_text
            )
            self.record(KIND_HOLD_RELEASED, "engineers may resume merging")
            self.holding = False
        self.end_step("done")
        self.record(
            KIND_ENDED,
            f"run ended: {outcome_text} ({reason})",
            {"outcome": outcome.value, "reason": reason},
        )
        self.move(outcome)
        # The draft is written once the outcome is stored, since it tells the outcome. Runs
        # that never touched production (denied, cancelled before the trigger) need none.
        if self.triggered:
            self.begin("postmortem")
            _postmortem(self.run_id)
            self.end_step("done")

    # --- builds in the timeline ---

    def record_build_started(self, build: Build) -> None:
        self.record(
            KIND_BUILD_STARTED,
            f"{build.job} #{build.number} started",
            {
                "job": build.job,
                "number": build.number,
                "url": build.url,
                "started_at": build.started_at.isoformat(),
                # The stages after the release job receive its tag as a parameter.
                "parameters": dict(build.parameters),
            },
        )

    def record_build_finished(self, build: Build) -> None:
        self.record(
            KIND_BUILD_FINISHED,
            f"{build.job} #{build.number} ended {build.result}",
            {
                "job": build.job,
                "number": build.number,
                "url": build.url,
                "result": build.result,
                "started_at": build.started_at.isoformat(),
                "duration_seconds": build.duration_seconds,
            },
        )


def _job(stage: Stage) -> str:
    assert stage.job is not None  # the config guarantees it for jenkins stages
    return stage.job


def _eta_from(config: Config, stage: str, release_wait_minutes: float) -> float:
    """Minutes to restore service from `stage`, the release job counted as its wait."""
    trigger = config.pipeline.trigger.name
    return lead_time(config.pipeline, stage, {trigger: release_wait_minutes}).total_minutes
