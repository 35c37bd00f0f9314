"""The runbook's phases, one function each, in the order the workflow calls them.

Each phase reads the run's plan and memory (`Flow`), acts through its effects, and either
returns (the run goes on) or raises `End` (the run ends with an outcome).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NoReturn

from oob.config import Stage, StageKind
from oob.eta import format_minutes, lead_time
from oob.events import (
    ApprovalRequested,
    CheckResult,
    HoldStarted,
    PreflightPassed,
    PreflightWaiting,
    Queued,
    ReleaseIntent,
    ReleasePicked,
    ShieldDown,
    ShieldUp,
    SlotFreed,
    SlotTaken,
)
from oob.policy import Action, Topic
from oob.ports import Build
from oob.procedure.builds import record_finished, record_started
from oob.procedure.capacity import release_controller, server_name
from oob.procedure.flow import End, Flow
from oob.procedure.hold import CONTEXT as HOLD_CONTEXT
from oob.procedure.pacing import Due, build_end, pause, start_after
from oob.states import Phase, RunState

SHIELD_DOWN = "the deploy shield is lowered: the CMS serves editors again"


def approval(flow: Flow) -> None:
    """Ask the product owner, at once (nothing of the world is needed), and wait for a
    decision; the approval timeout is decided through the policy like a person's deny."""
    fx, plan = flow.fx, flow.plan
    flow.eta_minutes = eta_from(flow, plan.pipeline.gate.name)
    timeout = flow.request.get("approval_timeout_minutes")
    started = fx.now()
    deadline = started + timedelta(minutes=timeout) if timeout else None
    flow.begin(Phase.APPROVAL, deadline=deadline)
    flow.post("approval_request", ("product_owner",), required=True)
    flow.record(
        ApprovalRequested(flow.eta_minutes, plan.pipeline.gate.name),
        f"approval requested from the product owner (ETA {format_minutes(flow.eta_minutes)})",
    )
    while True:
        left = flow.tuning.approval_poll_seconds
        if deadline is not None:
            left = min(left, flow.real_seconds_until(deadline))
            if left <= 0:
                flow.decide(Action.DENY, f"no decision within {timeout:g} min")
                left = 0
        taken = flow.wait(left).get(Topic.APPROVAL)
        if taken is None:
            continue
        flow.settle("approval_request", "")
        if taken.action is Action.APPROVE:
            return
        by = "" if taken.actor == "oob" else f"denied by {taken.actor}: "
        raise End(RunState.DENIED, by + taken.text)


def preflight(flow: Flow) -> None:
    """Wait until the fix is ready to release. While builds carry it to the test gate, the run
    follows them (each start and end in the timeline): a running build alone until it ends,
    paced by its estimate, then the next stage's build it triggers, found by its cause once
    the quiet period is over; the whole pre-flight is asked again only when that chain stops."""
    flow.move(RunState.PREFLIGHT)
    flow.begin(Phase.PREFLIGHT)
    said: tuple[str, ...] = ()
    seen: set[tuple[str, int]] = set()  # the builds followed: each once
    while True:
        readiness = flow.fx.readiness(flow.run_id, flow.request["fix_sha"])
        carrying = readiness.build
        if carrying is not None and (carrying.job, carrying.number) in seen:
            carrying = None  # followed already to its end; the server is behind
        if carrying is not None:
            seen.add((carrying.job, carrying.number))
            record_started(flow, carrying)
        if readiness.ready:
            stage = readiness.stage or flow.plan.pipeline.release_trigger
            flow.eta_minutes = eta_from(flow, stage)
            flow.record(
                PreflightPassed(flow.eta_minutes), "pre-flight passed: the fix is ready to release"
            )
            return
        if readiness.reasons != said:
            said = readiness.reasons
            flow.record(PreflightWaiting(said), "waiting: " + "; ".join(said))
        if carrying is not None:
            _follow_to_gate(flow, carrying, seen)
            continue
        pace = flow.tuning.pace
        look(flow, Due(readiness.expected, pace.widest) if readiness.expected else None)


def _follow_to_gate(flow: Flow, build: Build, seen: set[tuple[str, int]]) -> None:
    """Follow `build` to its end, then each build of the next stage it triggers, up to the
    test gate (or until the chain stops: a failure, a stage that does not start)."""
    pipeline = flow.plan.pipeline
    queued: float | None = None  # how long the last stage took to start after its upstream
    while True:
        build = _until_ended(flow, build)
        index = pipeline.index(build.job) if pipeline.find(build.job) else None
        if not build.succeeded or index is None or index >= pipeline.index(pipeline.test_gate):
            return
        after = pipeline.stages[index + 1]
        if not after.job:
            return
        ended = build.started_at + timedelta(seconds=build.duration_seconds)
        # Not started two minutes after the upstream ended: no chain to follow (another trigger,
        # a queue); the whole pre-flight looks again.
        deadline = ended + timedelta(minutes=2)
        while (
            following := flow.fx.downstream(after.job, build.started_at, build.job, build.number)
        ) is None:
            if flow.fx.now() >= deadline:
                return
            look(flow, start_after(ended, flow.tuning.pace, queued))
        queued = max(0.0, (following.started_at - ended).total_seconds())
        seen.add((following.job, following.number))
        record_started(flow, following)
        build = following


def _until_ended(flow: Flow, build: Build) -> Build:
    """Look at `build` alone until it ends; record its end."""
    ends = build_end(build.started_at, build.estimated_seconds, flow.tuning.pace)
    while build.building:
        look(flow, ends)
        build = flow.fx.build(build.job, build.number)
    record_finished(flow, build)
    return build


def queue(flow: Flow) -> None:
    """Take a release slot on the build server when the plan limits how many releases it runs
    at once (`oob.procedure.capacity`); wait for one, saying where the run is in the queue,
    before anyone is told a deploy is coming. A cancel is honoured while it waits."""
    controller = release_controller(flow.plan)
    if controller is None:
        return
    url, limit = controller
    server = server_name(url)
    flow.slot = flow.fx.take_slot(flow.run_id, url, limit, flow.tuning.poll_seconds)
    said: int | None = None
    while (ahead := flow.fx.slot_position(flow.slot, url)) is not None:
        if said is None:
            flow.move(RunState.QUEUED)
            flow.begin(Phase.QUEUE)
        if ahead != said:
            said = ahead
            release = eta_from(flow, flow.plan.pipeline.release_trigger)
            flow.eta_minutes = release * (ahead // limit + 2)
            flow.record(
                Queued(server, limit, ahead, flow.eta_minutes),
                f"queued: {ahead} ahead on {server} (at most {limit} releases at once; "
                f"ETA {format_minutes(flow.eta_minutes)})",
            )
        flow.wait(flow.tuning.poll_seconds)  # the slot wakes the run as soon as it starts
    flow.record(SlotTaken(server), f"release slot taken on {server}")


def free_slot(flow: Flow) -> None:
    """Give the release slot back (the release reached production, or the run ended)."""
    if flow.slot is None:
        return
    slot, flow.slot = flow.slot, None
    flow.fx.free_slot(slot)
    server = server_name(flow.plan.services.jenkins.url)
    flow.record(SlotFreed(server), f"release slot freed on {server}")


def notify(flow: Flow) -> None:
    flow.move(RunState.NOTIFYING)
    flow.begin(Phase.NOTIFY)
    for audience in ("sitewide", "helpdesk", "editors"):
        flow.announced.append(audience)
        flow.post("deploy_coming", (audience,), required=True)
    flow.holding = True
    mode = flow.plan.pipeline.merge_hold
    held = flow.fx.hold(flow.run_id) if mode != "ask" else []
    flow.post("hold_merges", ("engineers",), required=True)
    flow.baseline = flow.fx.main_head(flow.run_id)
    if mode == "ask":
        flow.record(HoldStarted(flow.baseline), "engineers asked to hold merges")
        return
    how = (
        f"{len(held)} open pull request(s) carry a pending {HOLD_CONTEXT}"
        if mode == "status"
        else f"{flow.plan.services.github.branch} is locked"
    )
    flow.record(
        HoldStarted(flow.baseline, mode, tuple(held)),
        f"merges held ({mode}): {how}; engineers asked to hold merges",
    )


def trigger(flow: Flow) -> None:
    flow.begin(Phase.TRIGGER)
    pipeline = flow.plan.pipeline
    job = _job(pipeline.trigger)
    wait = flow.request["release_wait_minutes"]
    parameters = {pipeline.release_wait_parameter: f"{wait:g}"}
    if pipeline.trigger.kind is StageKind.GITHUB_ACTIONS:
        # The run's id in an input the workflow shows: how oob knows its run among others.
        parameters[pipeline.correlation_input] = flow.run_id
    intent_at = flow.fx.now()
    flow.record(
        ReleaseIntent(job, parameters),
        f"triggering {job} with {pipeline.release_wait_parameter}={wait:g}",
    )
    flow.triggered = True
    ticket = flow.fx.trigger(flow.run_id, job, parameters, intent_at)
    number = -ticket if ticket < 0 else _wait_for_start(flow, job, ticket, intent_at)
    flow.release = flow.fx.build(job, number)
    record_started(flow, flow.release)
    waits = f"{job} #{number} waits {format_minutes(wait)}"
    flow.record_deployment("queued", f"{waits}, then releases {flow.plan.services.github.branch}")
    flow.move(RunState.RELEASE_WAIT)
    flow.post(
        "release_started",
        ("operators",),
        job=job,
        number=number,
        release_wait=format_minutes(wait),
    )


def _wait_for_start(flow: Flow, job: str, queue_id: int, asked_at: datetime) -> int:
    """The build number of queue item `queue_id`, once it starts.

    A cancel while the build is queued waits for it to start and stops it then: the build
    server's port stops builds, and a queued release build starts within its quiet period.
    """
    cancel: End | None = None
    while True:
        number, cancelled = flow.fx.queued(job, queue_id)
        if number is not None and cancel is not None:
            flow.fx.stop(job, number)
            raise cancel
        if number is not None:
            return number
        if cancelled:
            raise End(RunState.CANCELLED, f"the queued {job} build was cancelled in Jenkins")
        if cancel is not None:
            flow.fx.sleep(flow.tuning.poll_seconds)
            continue
        try:
            look(flow, start_after(asked_at, flow.tuning.pace))
        except End as end:
            if end.outcome is not RunState.CANCELLED:
                raise
            cancel = end


def release_wait(flow: Flow) -> tuple[str, str, str]:
    """Read the release job's log until it names the commit it releases: (sha, state, line)."""
    assert flow.release is not None
    flow.begin(Phase.RELEASE_WAIT)
    release = flow.release
    pattern = re.compile(flow.plan.pipeline.release_log_pattern)
    start = 0
    # The job names its commit once its wait is over.
    picks = Due(release.started_at + timedelta(minutes=flow.request["release_wait_minutes"]))
    while True:
        # The step reads the log as it streams and returns only the line the pattern matches.
        line, start, more = flow.fx.scan_log(release.job, release.number, start, pattern.pattern)
        match = pattern.search(line) if line is not None else None
        if match:
            # What landed on main since the hold began may be what the job released: look once
            # more, whenever the last look was (a run taken over may find the release named at
            # its first look).
            if flow.holding and flow.baseline:
                flow.watch_merges()
            return match.group("sha"), match.group("state"), match.group(0)
        if not more:
            build = flow.fx.build(release.job, release.number)
            record_finished(flow, build)
            raise End(
                RunState.DEPLOY_FAILED,
                f"{release.job} #{release.number} ended {build.result} before naming a commit",
            )
        try:
            look(flow, picks)
        except End as end:
            if end.outcome is RunState.CANCELLED:
                flow.fx.stop(release.job, release.number)
                record_finished(flow, flow.fx.build(release.job, release.number))
            raise


def release_check(flow: Flow, sha: str, state: str, line: str) -> None:
    """The released commit must contain the fix and be passing."""
    try:
        flow.move(RunState.RELEASING)
    except End:
        assert flow.release is not None
        flow.fx.stop(flow.release.job, flow.release.number)
        record_finished(flow, flow.fx.build(flow.release.job, flow.release.number))
        raise
    # The release picked its commit: a cancel would be refused now, so its button goes.
    flow.settle("release_started", f"Too late to cancel: the release picked {sha[:7]}.")
    flow.begin(Phase.RELEASE_CHECK)
    contains, compare_url = flow.fx.compare(flow.request["fix_sha"], sha)
    ok = contains and state == "success"
    verdict = (
        "it contains the fix"
        if ok
        else "it does NOT contain the fix"
        if not contains
        else "it is not passing"
    )
    flow.record(
        ReleasePicked(sha, state, contains, compare_url, line),
        f"the release job picked {sha[:7]} ({state}); {verdict}",
    )
    if not ok:
        flow.post(
            "release_mismatch",
            ("operators", "engineers"),
            released_short=sha[:7],
            released_state=state,
        )
        raise End(RunState.RELEASE_MISMATCH, f"released {sha[:7]} does not carry the fix")
    flow.record_deployment("in_progress", f"Deploying {sha[:7]}, which carries the fix")
    flow.move(RunState.DEPLOYING)


def deploy(flow: Flow) -> None:
    """Follow the stages after the release job to production."""
    assert flow.release is not None
    fx = flow.fx
    flow.begin(Phase.DEPLOY)
    previous = follow(flow, flow.release)
    stages = flow.plan.pipeline.to_production
    queued: float | None = None  # how long Jenkins took to start the last stage
    for index, stage in enumerate(stages):
        job = _job(stage)
        deadline = fx.now() + timedelta(minutes=2 * stage.estimate_minutes + 10)
        ended = previous.started_at + timedelta(seconds=previous.duration_seconds)
        while (
            build := fx.downstream(job, previous.started_at, previous.job, previous.number)
        ) is None:
            if fx.now() >= deadline:
                fail(flow, f"{job} did not start after {previous.job} #{previous.number}")
            look(flow, start_after(ended, flow.tuning.pace, queued))
        queued = max(0.0, (build.started_at - ended).total_seconds())
        record_started(flow, build)
        previous = follow(flow, build, production=index == len(stages) - 1)
    flow.deployed = True
    flow.move(RunState.VERIFYING)


def shield(flow: Flow) -> None:
    """Wait for the deploy shield to come down, then tell helpdesk."""
    flow.begin(Phase.SHIELD)
    if not flow.fx.shield_up() and flow.production_ended is not None:
        # Down already: lowered by the production job, which ended at this time by its record.
        flow.record(ShieldDown(), SHIELD_DOWN, at=flow.production_ended)
    else:
        # It comes down as the production job ends.
        lowered = Due(flow.production_ended) if flow.production_ended else None
        while flow.fx.shield_up():
            look(flow, lowered)
        flow.record(ShieldDown(), SHIELD_DOWN)
    flow.post("deploy_complete", ("helpdesk",))


def follow(flow: Flow, build: Build, *, production: bool = False) -> Build:
    """Poll `build` until it ends; a failure ends the run as deploy_failed.

    The shield is up while the production job runs: its window is the job's own record (its
    start; the shield phase finds its end), never a poll's late sight of it, so the editor
    downtime is right at every time scale."""
    shield_seen = False
    ends = build_end(build.started_at, build.estimated_seconds, flow.tuning.pace)
    while build.building:
        look(flow, ends)
        if production and not shield_seen and flow.fx.shield_up():
            shield_seen = True
            _shield_up(flow, build)
        build = flow.fx.build(build.job, build.number)
    if production and not shield_seen:  # it came and went between two looks
        _shield_up(flow, build)
    if production:
        flow.production_ended = build.started_at + timedelta(seconds=build.duration_seconds)
    record_finished(flow, build)
    if not build.succeeded:
        fail(flow, f"{build.job} #{build.number} ended {build.result} ({build.url})")
    return build


def _shield_up(flow: Flow, build: Build) -> None:
    flow.record(
        ShieldUp(f"{build.job} #{build.number}"),
        "the deploy shield is up: editors see maintenance",
        at=build.started_at,
    )


def fail(flow: Flow, detail: str) -> NoReturn:
    flow.post("deploy_failed", ("operators", "engineers"), detail=detail)
    raise End(RunState.DEPLOY_FAILED, detail)


def verify(flow: Flow) -> None:
    """Probes, and a person's confirmation where the plan requires one, until the timeout;
    the timeout is decided through the policy like a person's rejection."""
    fx, checks = flow.fx, flow.plan.verify
    deadline = fx.now() + timedelta(minutes=checks.timeout_minutes)
    flow.begin(
        Phase.VERIFY,
        deadline=deadline,
        needs_confirmation=checks.require_confirmation,
    )
    passed: set[str] = set()
    last: dict[str, tuple[bool, str]] = {}
    while True:
        for check in checks.checks:
            if check.name in passed:
                continue
            ok, detail = fx.probe(check.name)
            if last.get(check.name) != (ok, detail):
                last[check.name] = (ok, detail)
                flow.record(
                    CheckResult(check.name, ok, detail),
                    f"check {check.name!r}: {'ok' if ok else 'failed'}: {detail}",
                )
            if ok:
                passed.add(check.name)
        flow.check_decisions()
        if len(passed) == len(checks.checks) and (
            flow.confirmed or not checks.require_confirmation
        ):
            return
        if fx.now() >= deadline:
            failing = [f"{n}: {d}" for n, (ok, d) in last.items() if not ok]
            detail = "; ".join(failing) or "nobody confirmed the fix with `oob confirm-fix`"
            if flow.decide(Action.REJECT_FIX, detail):
                flow.check_decisions()  # posts fix_not_verified and ends the run
            if failing:  # a person confirmed first, but the probes still fail
                flow.post("fix_not_verified", ("operators", "helpdesk"), detail=detail)
                raise End(RunState.FIX_NOT_VERIFIED, detail)
        flow.poll()


def look(flow: Flow, due: Due | None) -> None:
    """Pause as the pace sets for a change `due` (`oob.procedure.pacing`), then look.

    While merges are held, main is watched at the looks: no pause is longer than the tuning's
    `poll_seconds`. Before (pre-flight), a change known to be far off is waited for in pauses
    of up to `pace.patient`."""
    tuning = flow.tuning
    longest = tuning.poll_seconds * tuning.time_scale
    if due is not None and not flow.holding:
        longest = max(longest, tuning.pace.patient)
    seconds = pause(flow.fx.now(), due, tuning.pace, longest=longest)
    flow.poll(max(tuning.pace.shortest, seconds / tuning.time_scale))


def _job(stage: Stage) -> str:
    assert stage.job is not None  # the config guarantees it for jenkins stages
    return stage.job


def eta_from(flow: Flow, stage: str) -> float:
    """Minutes to restore service from `stage`, the release job counted as its wait."""
    pipeline = flow.plan.pipeline
    waits = {pipeline.trigger.name: flow.request["release_wait_minutes"]}
    return lead_time(pipeline, stage, waits).total_minutes
