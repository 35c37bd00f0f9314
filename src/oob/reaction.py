"""A rehearsal's reaction latency: each change the run waited on, when the sandbox made it, and
when oob acted on it.

The changes come from the sandbox's state (each build the run followed starting and ending,
the release job naming its commit, the production deploy raising and lowering the shield and
editors' login answering again, the test gate ending while pre-flight waits) and from the
run's timeline (the decisions people took, the operator's override). oob acted when it
recorded the event that answers each: the build's own `build.started` or `build.finished`,
`release.picked`, `shield.*`, a passed check, `preflight.*`, or for a decision, the first
event the workflow wrote after it. Times are in the sandbox's clock, the run's; latencies are
in real milliseconds (divided by the time scale).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from oob.events import (
    KIND_APPROVED,
    KIND_BUILD_FINISHED,
    KIND_BUILD_STARTED,
    KIND_FIX_CONFIRMED,
    KIND_PREFLIGHT_PASSED,
    KIND_PREFLIGHT_WAITING,
    KIND_RELEASE_PICKED,
    KIND_SHIELD_DOWN,
    KIND_SHIELD_UP,
    BuildRecord,
    CheckResult,
    ShieldUp,
    StatusOverridden,
    builds,
)
from oob.states import Source

if TYPE_CHECKING:
    from oob.store import Event

# People's decisions the run waits for; the workflow's next event answers each.
DECIDED = (KIND_APPROVED, KIND_FIX_CONFIRMED)


@dataclass(frozen=True)
class Change:
    """Something the run waited for: what, when (epoch seconds of the sandbox's clock), and
    which of the run's events is oob acting on it."""

    what: str
    at: float
    answers: Callable[[Event], bool]


def latency(
    state: dict[str, Any], events: list[Event], gate: str, time_scale: float
) -> dict[str, Any]:
    """The figures and samples `oob rehearse --json` prints under `reaction_latency_ms`."""
    seen = list(_seen(events))
    samples = []
    for change in [*_build_changes(state, events, gate), *_overrides(events)]:
        acted = next((t for e, t in seen if t >= change.at and change.answers(e)), None)
        if acted is not None:
            samples.append(sample(change.what, change.at, acted, time_scale))
    decided = [(e.kind, e.at.timestamp()) for e in events if e.kind in DECIDED]
    workflow = [t for e, t in seen if e.source == Source.WORKER]
    samples += reaction_latencies(decided, workflow, time_scale)
    samples.sort(key=lambda s: s["changed_at"])
    return {**percentiles([s["ms"] for s in samples]), "samples": samples}


def _seen(events: list[Event]) -> Iterator[tuple[Event, float]]:
    """Each event with when it was written: its time, or for one dated back to when it
    happened (a job's record), the time of the last event written before it."""
    last = 0.0
    for event in events:
        last = max(last, event.at.timestamp())
        yield event, last


def _build_changes(state: dict[str, Any], events: list[Event], gate: str) -> Iterator[Change]:
    """Each followed build's start and end, the release job's line, the shield raised and
    lowered by the production deploy, and the test gate's ends while pre-flight waits."""
    followed = {(b.job, b.number) for b in builds(events)}
    shielded = next((s.build for s in map(ShieldUp.of, events) if s is not None), "")
    begun = events[0].at.timestamp() if events else 0.0
    for job in state["jobs"]:
        for build in job["builds"]:
            name = f"{job['path']} #{build['number']}"
            if (job["path"], build["number"]) in followed:
                changes = _followed(name, job["path"], build, shielded == name)
                # A build already running when the run began was no change it waited for.
                yield from (c for c in changes if c.at >= begun)
            elif job["path"].lower() == gate.lower() and build["ended"]:
                ended = epoch(build["ended"])
                if ended >= begun:
                    yield Change(f"{name} ended", ended, _kind_of(*PREFLIGHT))


PREFLIGHT = (KIND_PREFLIGHT_PASSED, KIND_PREFLIGHT_WAITING)


def _followed(name: str, job: str, build: dict[str, Any], shield: bool) -> Iterator[Change]:
    number = build["number"]
    started = epoch(build["started"])
    yield Change(f"{name} started", started, _build_event(KIND_BUILD_STARTED, job, number))
    if shield:
        yield Change("the deploy shield is up", started, _kind_of(KIND_SHIELD_UP))
    if build.get("released_sha"):
        # The job names its commit when its wait is over.
        picked = started + float(build["parameters"]["release_wait"]) * 60
        yield Change(f"{name} named its commit", picked, _kind_of(KIND_RELEASE_PICKED))
    if build["ended"]:
        ended = epoch(build["ended"])
        yield Change(f"{name} ended", ended, _build_event(KIND_BUILD_FINISHED, job, number))
        if shield:
            yield Change("the deploy shield is down", ended, _kind_of(KIND_SHIELD_DOWN))
            # Editors log in again (a check passing), if the release cured the bug.
            yield Change("editor login answers", ended, _check_passed)


def _overrides(events: list[Event]) -> Iterator[Change]:
    """The operator's overrides of a failing test, answered by pre-flight."""
    for event in events:
        if (overridden := StatusOverridden.of(event)) is not None:
            what = f"{overridden.context} overridden"
            yield Change(what, event.at.timestamp(), _kind_of(*PREFLIGHT))


def build_end_reactions(events: list[Event]) -> list[float]:
    """Seconds (the run's clock) from each followed build's end, as the build server dates it,
    to the run recording it: how fast a real run reacted, without the sandbox's ledger."""
    found = []
    for event in events:
        if event.kind != KIND_BUILD_FINISHED:
            continue
        build = BuildRecord.read(event.details, event.at)
        if build is not None and build.ended_at is not None:
            found.append(max(0.0, (event.at - build.ended_at).total_seconds()))
    return found


def reaction_latencies(
    changes: list[tuple[str, float]], actions: list[float], time_scale: float = 1.0
) -> list[dict[str, Any]]:
    """Each change (what, epoch seconds) with the run's next action: its samples.

    A change followed by another before the run acts is not one it reacted to: after an
    approval the run may still wait for the post-deploy tests, and it is their end that it
    reacts to. Counting the approval too would count the tests' duration as latency.
    """
    ordered = sorted(changes, key=lambda c: c[1])
    samples = []
    for i, (what, change) in enumerate(ordered):
        acted = min((t for t in actions if t >= change), default=None)
        if acted is None:
            continue
        following = ordered[i + 1][1] if i + 1 < len(ordered) else None
        if following is None or following >= acted:
            samples.append(sample(what, change, acted, time_scale))
    return samples


def _check_passed(event: Event) -> bool:
    check = CheckResult.of(event)
    return check is not None and check.ok


def _kind_of(*kinds: str) -> Callable[[Event], bool]:
    return lambda event: event.kind in kinds


def _build_event(kind: str, job: str, number: int) -> Callable[[Event], bool]:
    def ours(e: Event) -> bool:
        build = BuildRecord.read(e.details, e.at) if e.kind == kind else None
        return build is not None and (build.job, build.number) == (job, number)

    return ours


def sample(what: str, changed: float, acted: float, time_scale: float) -> dict[str, Any]:
    return {
        "change": what,
        "changed_at": iso(changed),
        "acted_at": iso(acted),
        "ms": round((acted - changed) / time_scale * 1000, 1),
    }


def critical_path(state: dict[str, Any], events: list[Event]) -> float:
    """The simulated seconds the builds the run followed took while it ran, until each ended
    or the run did: the floor no orchestration can beat."""
    followed = {(b.job, b.number) for b in builds(events)}
    begun = events[0].at.timestamp() if events else 0.0
    total = 0.0
    for job in state["jobs"]:
        for build in job["builds"]:
            if (job["path"], build["number"]) in followed:
                ended = epoch(build["ended"]) if build["ended"] else float(state["sim_epoch"])
                # A build already running when the run began counts from then.
                total += max(0.0, ended - max(epoch(build["started"]), begun))
    return total


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95 and max of `values` (None without any)."""
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(p95, 1),
        "max": round(ordered[-1], 1),
    }


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
