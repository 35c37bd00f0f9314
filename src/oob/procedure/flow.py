"""A run's memory while its workflow executes, and the plumbing every phase uses.

Everything here comes from the run's plan and from step results, so a replay after a crash
rebuilds the same memory: the workflow reads no config global, no clock and no randomness.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oob.events import (
    KIND_BUILD_FINISHED,
    KIND_BUILD_STARTED,
    BuildRecord,
    DeploymentRecorded,
    HoldExtended,
    MergeDetected,
    StepFinished,
    StepStarted,
)
from oob.policy import Action, Taken, Topic
from oob.procedure.runtime import Tuning
from oob.states import CANCELLABLE, Phase, RunState, Source

# How often the run's deployment is asked for a state while the code host fails in passing.
DEPLOYMENT_ATTEMPTS = 3
# A decision taken wakes the run (a message to its workflow), which then reads the decisions; a
# pause that no message ends reads them anyway once in this many (a lost wake-up is noticed within
# as many pauses), not at every pause: each read is a DBOS step, and a run pauses hundreds of times.
DECISIONS_EVERY = 6

if TYPE_CHECKING:
    from oob.config import Config
    from oob.payload import Payload
    from oob.ports import Build
    from oob.procedure.effects import Effects

ACTOR = "oob"


class End(Exception):
    """The run ends now with `outcome`; the exception's message is the reason."""

    def __init__(self, outcome: RunState, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome

    @property
    def reason(self) -> str:
        return str(self)


@dataclass
class Flow:
    """The workflow's memory of one run."""

    run_id: str
    request: dict[str, Any]
    plan: Config
    tuning: Tuning
    fx: Effects
    seq: int = 0
    state: RunState = RunState.AWAITING_APPROVAL
    phase: Phase | None = None
    announced: list[str] = field(default_factory=list)  # audiences told the deploy is coming
    holding: bool = False
    baseline: str | None = None
    reported: set[str] = field(default_factory=set)
    settled: set[str] = field(default_factory=set)  # messages whose buttons are gone
    polls: int = 0
    release: Build | None = None
    deployed: bool = False
    triggered: bool = False
    confirmed: bool = False
    cancelled: bool = False
    production_ended: datetime | None = None  # when the production job ended, by its record
    eta_minutes: float = 0.0
    slot: str | None = None  # the release slot held (or asked for) on the build server
    taken: dict[Topic, Taken] | None = None  # the decisions last read (None: read them)
    unread: int = 0  # pauses since they were read

    # --- the timeline ---

    def record(
        self,
        payload: Payload,
        summary: str,
        *,
        actor: str = ACTOR,
        source: str = Source.WORKER.value,
        at: datetime | None = None,
    ) -> None:
        """Append an event once; `at`: when it happened, if earlier than now (a job's record)."""
        self.append(payload.KIND, summary, payload.details(), actor=actor, source=source, at=at)

    def record_build(self, build: BuildRecord, summary: str) -> None:
        """A build started (no result yet) or ended, at the time it did."""
        kind = KIND_BUILD_STARTED if build.result is None else KIND_BUILD_FINISHED
        self.append(kind, summary, build.details())

    def append(
        self,
        kind: str,
        summary: str,
        details: Mapping[str, Any],
        *,
        actor: str = ACTOR,
        source: str = Source.WORKER.value,
        at: datetime | None = None,
    ) -> None:
        self.seq += 1
        event: dict[str, Any] = {
            "kind": kind,
            "summary": summary,
            "details": dict(details),
            "actor": actor,
            "source": source,
        }
        if at is not None:
            event["at"] = at
        self.fx.record(self.run_id, f"{self.run_id}#{self.seq}", event)

    def move(self, state: RunState) -> None:
        """Move the run on; a cancel accepted in the meantime ends it instead."""
        if not self.fx.transition(self.run_id, state):
            self.check_decisions()
        self.state = state

    def settle(self, message: str, otherwise: str) -> None:
        """Replace the buttons under `message`, once: its question is decided or moot."""
        if message not in self.settled:
            self.settled.add(message)
            self.fx.settle(self.run_id, message, otherwise)

    def begin(
        self,
        phase: Phase,
        *,
        deadline: datetime | None = None,
        needs_confirmation: bool | None = None,
    ) -> None:
        """Start `phase`; `deadline`: until when it waits for people."""
        self.end_phase("done")
        self.phase = phase
        started = StepStarted(phase.value, deadline, needs_confirmation)
        self.record(started, f"{phase.value.replace('_', ' ')} started")

    def end_phase(self, status: str) -> None:
        if self.phase is not None:
            self.record(
                StepFinished(step=self.phase.value, status=status),
                f"{self.phase.value.replace('_', ' ')} {status}",
            )
            self.phase = None

    def record_deployment(self, state: str, description: str) -> None:
        """Give the run's deployment (where the plan records one, once the release is
        triggered) `state`, trying a passing failure again a few times. A code host that
        refuses or stays down (or anything else) is told in the timeline and stops nothing."""
        environment = self.plan.pipeline.deployment_environment
        if environment is None or not self.triggered:
            return
        link = self.run_url or (self.release.url if self.release else "")
        for attempt in range(1, DEPLOYMENT_ATTEMPTS + 1):
            try:
                made = self.fx.deployment(self.run_id, state, link, description)
            except Exception as exc:  # an auxiliary record: nothing it meets may end the run
                if attempt < DEPLOYMENT_ATTEMPTS and getattr(exc, "transient", False):
                    self.fx.sleep(self.tuning.poll_seconds)
                    continue
                error = (str(exc).splitlines() or [type(exc).__name__])[0]
                self.record(
                    DeploymentRecorded(environment, state, error=error),
                    f"the deployment to {environment} is not recorded on GitHub: {error}",
                )
                return
            self.record(
                DeploymentRecorded(environment, state, made),
                f"deployment {made} to {environment}: {state.replace('_', ' ')}",
            )
            return

    # --- messages ---

    @property
    def run_url(self) -> str:
        """The run's page on the dashboard ("" when the config does not say where that is)."""
        web = self.plan.web
        if web is None or web.public_url is None:
            return ""
        return f"{web.public_url.rstrip('/')}/runs/{self.run_id}"

    def values(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        from oob.eta import format_minutes

        req = self.request
        return {
            "run_id": self.run_id,
            "pipeline": req["pipeline"],
            "requester": req["requester"],
            "symptoms": req["symptoms"],
            "affects": req["affects"],
            "cause": req["cause"],
            "fix_summary": req["fix_summary"],
            "fix_sha": req["fix_sha"],
            "fix_short": req["fix_sha"][:7],
            "eta": format_minutes(self.eta_minutes),
            "run_url": self.run_url,
            **extra,
        }

    def post(
        self,
        message: str,
        audiences: tuple[str, ...],
        about: str = "",
        *,
        required: bool = False,
        **values: Any,
    ) -> None:
        """Post `message` to every channel of each audience, once each (`delivery`)."""
        from oob.procedure.delivery import deliver

        deliver(self, message, audiences, about=about, required=required, **values)

    def key(self, message: str, audience: str, about: str = "") -> str:
        """The idempotency key of a message: the run, the message, the audience, and for a
        message sent once per thing (a merge), that thing."""
        from oob.messages import MessageKey

        return str(MessageKey(self.run_id, message, audience, about))

    # --- people and the passing of time ---

    def real_seconds_until(self, deadline: datetime) -> float:
        """Real seconds to wait for `deadline` of the run's clock (faster in a rehearsal)."""
        return (deadline - self.fx.now()).total_seconds() / self.tuning.time_scale

    def wait(self, seconds: float) -> dict[Topic, Taken]:
        """Wait up to `seconds` for a command, then act on the decisions taken: a cancel or a
        rejected fix ends the run; the rest are returned to the phase that waits for them.
        They are read again only when a command woke the run (or every `DECISIONS_EVERY`)."""
        woken = self.fx.wait(seconds)
        self.unread += 1
        if woken or self.taken is None or self.unread >= DECISIONS_EVERY:
            return self.check_decisions()
        return self.taken

    def decide(self, action: Action, text: str) -> bool:
        """Decide as oob, through the policy like a person (a timeout's deny, a fix rejected
        when verification runs out); False when a decision was taken first. The next wait
        reads it."""
        self.taken = None
        return self.fx.decide(self.run_id, action.value, text)

    def check_decisions(self) -> dict[Topic, Taken]:
        taken = self.taken = self.fx.decisions(self.run_id)
        self.unread = 0
        cancel = taken.get(Topic.CANCEL)
        if cancel is not None and not self.cancelled:
            self.cancelled = True
            raise End(RunState.CANCELLED, f"cancelled by {cancel.actor}: {cancel.text}")
        verdict = taken.get(Topic.VERIFICATION)
        if verdict is not None and verdict.action is Action.CONFIRM_FIX:
            self.confirmed = True
        elif verdict is not None and verdict.action is Action.REJECT_FIX:
            detail = (
                verdict.text
                if verdict.actor == ACTOR
                else f"{verdict.actor} found it does not work ({verdict.text})"
            )
            self.post("fix_not_verified", ("operators", "helpdesk"), detail=detail)
            raise End(RunState.FIX_NOT_VERIFIED, detail)
        return taken

    def poll(self, seconds: float | None = None) -> None:
        """One pause between two looks at the world (`seconds`, else the tuning's), watching
        main while merges are held."""
        self.wait(self.tuning.poll_seconds if seconds is None else seconds)
        self.polls += 1
        if self.holding and self.baseline and self.polls % self.tuning.merge_check_every == 0:
            self.watch_merges()

    def watch_merges(self) -> None:
        assert self.baseline is not None
        if self.plan.pipeline.merge_hold == "status":
            self.extend_hold()
        for commit in self.fx.new_commits(self.baseline):
            if commit["sha"] in self.reported:
                continue
            self.reported.add(commit["sha"])
            title = commit["message"].splitlines()[0] if commit["message"] else ""
            self.record(
                MergeDetected(**commit),
                f"{commit['sha'][:7]} by {commit['author']} landed on main during the hold",
            )
            self.post(
                "merge_detected",
                ("operators", "engineers"),
                commit["sha"],
                branch=self.plan.services.github.branch,
                sha_short=commit["sha"][:7],
                author=commit["author"],
                title=title,
            )

    def extend_hold(self) -> None:
        """Hold the pull requests opened or pushed since the hold was set."""
        held = self.fx.hold(self.run_id)
        if held:
            numbers = ", ".join(f"#{p['number']} ({p['sha'][:7]})" for p in held)
            self.record(
                HoldExtended(held=tuple(held)),
                f"merges held: {numbers} now carry a pending oob/merge-hold",
            )

    @property
    def cancellable(self) -> bool:
        return self.state in CANCELLABLE
