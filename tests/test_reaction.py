"""A rehearsal's reaction latency: each change the run waited on, matched to the event that
answers it (`oob.reaction`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from oob.events import KIND_BUILD_FINISHED, KIND_BUILD_STARTED
from oob.reaction import latency
from oob.states import Source
from oob.store import Event

T0 = 1_800_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def stamp(seconds: float) -> str:
    return at(seconds).isoformat()


def event(n: int, seconds: float, kind: str, **details: Any) -> Event:
    source = Source.SIMULATED if kind.startswith(("approval.", "verify.")) else Source.WORKER
    return Event(n, "r1", at(seconds), "oob", source, kind, kind, details)


def build(job: str, number: int, seconds: float) -> dict[str, Any]:
    return {"job": job, "number": number, "url": "", "started_at": stamp(seconds)}


def test_each_change_is_answered_by_its_own_event_in_the_run_clock() -> None:
    state = {
        "jobs": [
            {
                "path": "deploys/prod",
                "builds": [
                    {"number": 7, "started": stamp(10), "ended": stamp(70), "parameters": {}},
                    {"number": 6, "started": stamp(-500), "ended": stamp(-400), "parameters": {}},
                ],
            }
        ]
    }
    events = [
        event(1, 0, "approval.requested"),
        event(2, 5, "approval.approved"),
        event(3, 5.2, "step.started"),
        event(4, 12, KIND_BUILD_STARTED, **build("deploys/prod", 7, 10)),
        # Dated back to the build's start, written when the run saw the shield up.
        event(5, 10, "shield.up", **{"from": "deploys/prod #7"}),
        event(6, 70.5, KIND_BUILD_FINISHED, **build("deploys/prod", 7, 10)),
        event(7, 71, "shield.down"),
        event(8, 72, "verify.check", name="editor login", ok=True),
        event(9, 80, "verify.confirmed"),
        event(10, 80.1, "step.finished"),
    ]
    figures = latency(state, events, gate="testing/gate", time_scale=10)
    got = {s["change"]: s["ms"] for s in figures["samples"]}
    # Latencies are real: the run's seconds divided by the time scale.
    assert got == pytest.approx(
        {
            "approval.approved": 20.0,
            "deploys/prod #7 started": 200.0,
            "the deploy shield is up": 200.0,  # its event is dated back: seen with the build's
            "deploys/prod #7 ended": 50.0,
            "the deploy shield is down": 100.0,
            "editor login answers": 200.0,
            "verify.confirmed": 10.0,
        }
    )
    assert figures["max"] == pytest.approx(200.0)
    # A build the run did not follow is no change it waited on.
    assert not any("#6" in change for change in got)


def test_a_build_already_running_when_the_run_began_counts_only_its_end() -> None:
    """The run follows the fix's staging build from its first look: the build's start came
    before the run did, so it is no change the run waited on; its end is."""
    state = {
        "jobs": [
            {
                "path": "testing/cms",
                "builds": [
                    {"number": 3, "started": stamp(-30), "ended": stamp(40), "parameters": {}}
                ],
            }
        ]
    }
    events = [
        event(1, 0, "run.requested"),
        event(2, 2, KIND_BUILD_STARTED, **build("testing/cms", 3, -30)),
        event(3, 41, KIND_BUILD_FINISHED, **build("testing/cms", 3, -30)),
    ]
    got = {s["change"]: s["ms"] for s in latency(state, events, "gate", 1)["samples"]}
    assert got == pytest.approx({"testing/cms #3 ended": 1000.0})
