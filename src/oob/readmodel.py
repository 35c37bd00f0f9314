"""What people see of a run: one fold of its events into the state the views show.

`fold` (and `snapshot`, the fold over the store) is what `oob status`, the live view, the
dashboard, the rehearsal's summary and the postmortem read: the phases with their times, the
builds, the stages with estimate and actual, the ETA, whom the run waits for (with the command
that unblocks it), what it could not deliver, and the latest events. A run is read against its
own plan (its `oob.plan.Outline`), not the caller's config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oob.eta import lead_time, remaining_minutes
from oob.store import Event, Run, Store

if TYPE_CHECKING:
    from oob.events import BuildRecord
    from oob.plan import Outline


@dataclass(frozen=True)
class StepView:
    name: str
    started_at: datetime | None
    ended_at: datetime | None
    status: str  # pending | running | done | skipped | <outcome>


@dataclass(frozen=True)
class StageView:
    name: str
    estimate_minutes: float
    actual_minutes: float | None
    status: str  # pending | running | SUCCESS | FAILURE | ...
    url: str | None


@dataclass(frozen=True)
class Waiting:
    """Whom a run waits for, the command that unblocks it, and when the wait times out."""

    who: str
    what: str
    command: str
    until: datetime | None = None

    def __str__(self) -> str:
        until = f"; times out at {self.until:%H:%M} UTC" if self.until else ""
        return f"waiting for {self.who} to {self.what}: `{self.command}`{until}"


@dataclass(frozen=True)
class Undelivered:
    """A message the run could not deliver, and the command that sends it again; or
    (`hold`) a merge hold it could not lift, and the command that lifts it."""

    summary: str
    command: str
    hold: bool = False

    def __str__(self) -> str:
        if self.hold:
            return f"merging is still held: {self.summary}; lift the hold with `{self.command}`"
        return f"undelivered: {self.summary}; send it with `{self.command}`"


@dataclass(frozen=True)
class Snapshot:
    run: Run
    steps: tuple[StepView, ...]
    stages: tuple[StageView, ...]
    current_step: str | None
    eta_minutes: float | None
    events: tuple[Event, ...]
    plan: str = ""  # the fingerprint of the plan the run follows
    waiting: Waiting | None = None
    undelivered: tuple[Undelivered, ...] = ()
    builds: tuple[BuildRecord, ...] = ()  # every build the run started or followed, by start

    def to_json(self) -> dict[str, Any]:
        """The object `oob status --json` prints."""
        return {
            **run_json(self.run),
            "plan": self.plan,
            "current_step": self.current_step,
            "eta_minutes": None if self.eta_minutes is None else round(self.eta_minutes, 1),
            "waiting_for": None
            if self.waiting is None
            else {
                "who": self.waiting.who,
                "what": self.waiting.what,
                "command": self.waiting.command,
                "until": self.waiting.until.isoformat() if self.waiting.until else None,
                "text": str(self.waiting),
            },
            "undelivered": [{"summary": u.summary, "command": u.command} for u in self.undelivered],
            "hold_not_lifted": any(u.hold for u in self.undelivered),
            "steps": [
                {
                    "name": s.name,
                    "started_at": s.started_at.isoformat() if s.started_at else None,
                    "ended_at": s.ended_at.isoformat() if s.ended_at else None,
                    "status": s.status,
                }
                for s in self.steps
            ],
            "stages": [
                {
                    "name": s.name,
                    "estimate_minutes": s.estimate_minutes,
                    "actual_minutes": None
                    if s.actual_minutes is None
                    else round(s.actual_minutes, 1),
                    "status": s.status,
                    "url": s.url,
                }
                for s in self.stages
            ],
            "events": [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "source": e.source.value,
                    "kind": e.kind,
                    "summary": e.summary,
                }
                for e in self.events
            ],
        }


def run_json(run: Run) -> dict[str, Any]:
    """A run's identity and state as JSON (`oob runs --json`, the head of `status --json`)."""
    return {
        "run_id": run.id,
        "pipeline": run.pipeline,
        "state": run.state.value,
        "outcome": run.outcome.value if run.outcome else None,
        "requester": run.requester,
        "fix_sha": run.fix_sha,
        "created_at": run.created_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
    }


def snapshot(
    store: Store,
    run_id: str,
    now: datetime,
    *,
    latest: int = 8,
) -> Snapshot:
    """The state of run `run_id` at `now` of the run's clock, read against its own plan."""
    from oob.plan import Outline, digest

    run = store.run(run_id)  # an unknown run is said as such, before its plan is looked for
    frozen = store.plan(run_id)
    shot = fold(run, store.events(run_id), Outline.read(frozen), now, latest=latest)
    return replace(shot, plan=digest(frozen))


def fold(
    run: Run, events: Sequence[Event], plan: Outline, now: datetime, *, latest: int = 8
) -> Snapshot:
    """The one fold of a run's events (in the store's order) into its state at `now`, read
    against its plan: `oob status`, the live view, the dashboard, the rehearsal and the
    postmortem all read a run through it."""
    from oob.events import builds

    events = list(events)
    followed = tuple(builds(events))
    steps, current = _steps(run, events)
    stages = _stages(plan, run, followed, now)
    return Snapshot(
        run=run,
        steps=steps,
        stages=tuple(stages),
        current_step=current,
        eta_minutes=_eta(plan, run, stages),
        events=tuple(events[-latest:]),
        waiting=waiting_for(plan, run, events) if run.active else None,
        undelivered=_undelivered(events),
        builds=followed,
    )


def _steps(run: Run, events: list[Event]) -> tuple[tuple[StepView, ...], str | None]:
    """The runbook's steps with their times and status, and the one running now."""
    from oob.events import StepFinished, StepStarted
    from oob.states import OPTIONAL_STEPS, STEPS

    started: dict[str, datetime] = {}
    finished: dict[str, tuple[datetime, str]] = {}
    for event in events:
        if (begun := StepStarted.of(event)) is not None:
            started[begun.step] = event.at
        elif (ended := StepFinished.of(event)) is not None:
            finished[ended.step] = (event.at, ended.status)
    current = next((s for s in started if s not in finished), None)
    steps = []
    for name in STEPS:
        if name in OPTIONAL_STEPS and name not in started:
            continue
        end = finished.get(name)
        if end:
            status = end[1]
        elif name == current:
            status = "running"
        else:
            status = "skipped" if not run.active and name not in started else "pending"
        steps.append(StepView(name, started.get(name), end[0] if end else None, status))
    return tuple(steps), current


def _stages(
    plan: Outline, run: Run, followed: Sequence[BuildRecord], now: datetime
) -> list[StageView]:
    """The stages from the release trigger on, each with its estimate and its job's latest
    build (how long it took, or has run until `now`)."""
    by_job = {b.job: b for b in followed}
    stages = []
    pipeline = plan.pipeline
    for stage in pipeline.stages[pipeline.stages.index(pipeline.trigger) :]:
        build = by_job.get(stage.job or "")
        estimate = (
            run.release_wait_minutes if stage.name == pipeline.trigger.name else None
        ) or stage.estimate_minutes
        actual = None
        status = "pending"
        url = None
        if build:
            url = build.url
            status = build.result or "running"
            if build.duration_seconds:
                actual = build.duration_seconds / 60
            elif build.result is None:
                actual = (now - build.started_at).total_seconds() / 60
        stages.append(StageView(stage.name, estimate, actual, status, url))
    return stages


def waiting_for(plan: Outline, run: Run, events: list[Event]) -> Waiting | None:
    """Whom the run waits for now, if a person: the approvers, or the fix confirmers."""
    from oob.events import KIND_FIX_CONFIRMED, KIND_STEP_STARTED, StepStarted
    from oob.policy import Action, holders
    from oob.states import RunState

    phase = StepStarted.of(next((e for e in reversed(events) if e.kind == KIND_STEP_STARTED), None))
    until = phase.deadline if phase is not None else None
    if run.state is RunState.AWAITING_APPROVAL:
        who = ", ".join(sorted(holders(plan.roles, Action.APPROVE) - {run.requester}))
        return Waiting(f"the product owner ({who})", "approve", f"oob approve {run.id}", until)
    confirmed = any(e.kind == KIND_FIX_CONFIRMED for e in events)
    if (
        run.state is RunState.VERIFYING
        and phase is not None
        and phase.step == "verify"
        and plan.require_confirmation
        and not confirmed
    ):
        who = ", ".join(sorted(holders(plan.roles, Action.CONFIRM_FIX)))
        return Waiting(
            f"a fix confirmer ({who})", "confirm the fix", f"oob confirm-fix {run.id}", until
        )
    return None


def _undelivered(events: list[Event]) -> tuple[Undelivered, ...]:
    from oob.events import undelivered

    missed = tuple(Undelivered(e.summary, m.command) for e, m in undelivered(events))
    return missed + _hold_not_lifted(events)


def _hold_not_lifted(events: list[Event]) -> tuple[Undelivered, ...]:
    """A merge hold that could not be lifted, until one lifts it (`oob hold release`)."""
    from oob.events import KIND_HOLD_LIFTED, KIND_HOLD_NOT_LIFTED, HoldNotLifted

    last = next(
        (e for e in reversed(events) if e.kind in (KIND_HOLD_LIFTED, KIND_HOLD_NOT_LIFTED)), None
    )
    not_lifted = HoldNotLifted.of(last)
    if last is None or not_lifted is None:
        return ()
    return (Undelivered(last.summary, not_lifted.command, hold=True),)


def _eta(plan: Outline, run: Run, stages: list[StageView]) -> float | None:
    """Minutes until service is restored: None once the run ended."""
    if not run.active:
        return None
    trigger = plan.pipeline.trigger.name
    estimates = {trigger: run.release_wait_minutes}
    running = next((s for s in stages if s.status == "running"), None)
    if running is not None:
        return remaining_minutes(plan.pipeline, running.name, running.actual_minutes or 0)
    if all(s.status == "SUCCESS" for s in stages):
        return 0.0
    done = [s for s in stages if s.status == "SUCCESS"]
    start = stages[len(done)].name if done else trigger
    return lead_time(plan.pipeline, start, estimates).total_minutes
