"""Runs of every outcome, written through the real store (SQLite in tmp_path) as the procedure
writes them: a scripted clock, the run's state transitions, and its timeline events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from oob import events
from oob.config import Config, parse
from oob.store import RunRequest, RunState, Source, Store
from tests.support import preset_plan

FIX = "f1e2d3c4b5a69788" + "0" * 24
MERGED = "abcdef0123456789" + "1" * 24
OTHER = "0badc0de00000000" + "2" * 24
T0 = datetime(2026, 6, 23, 14, 0, tzinfo=UTC)


class ScriptedClock:
    """The time the scenario says it is; the store reads it for created/updated/ended times."""

    def __init__(self) -> None:
        self.t = T0

    def now(self) -> datetime:
        return self.t


@dataclass
class Scripted:
    """Writes one run's timeline the way the procedure does, minute by minute."""

    store: Store
    clock: ScriptedClock
    run_id: str

    def at(self, minutes: float) -> datetime:
        self.clock.t = T0 + timedelta(minutes=minutes)
        return self.clock.t

    def event(
        self,
        minutes: float,
        kind: str,
        summary: str,
        actor: str = "oob",
        source: Source = Source.WORKER,
        **details: Any,
    ) -> None:
        self.at(minutes)
        self.store.append_event(
            self.run_id, actor=actor, source=source, kind=kind, summary=summary, details=details
        )

    def state(self, minutes: float, state: RunState) -> None:
        self.at(minutes)
        self.store.transition(self.run_id, state)

    def build(
        self,
        start: float,
        end: float | None,
        job: str,
        number: int,
        result: str = "SUCCESS",
        **parameters: str,
    ) -> None:
        url = f"https://jenkins.example/job/{job.replace('/', '/job/')}/{number}/"
        started = (T0 + timedelta(minutes=start)).isoformat()
        self.event(
            start,
            events.KIND_BUILD_STARTED,
            f"{job} #{number} started",
            job=job,
            number=number,
            url=url,
            started_at=started,
            parameters=parameters,
        )
        if end is not None:
            self.event(
                end,
                events.KIND_BUILD_FINISHED,
                f"{job} #{number} ended {result}",
                job=job,
                number=number,
                url=url,
                result=result,
                started_at=started,
                duration_seconds=(end - start) * 60,
            )


@pytest.fixture
def config(preset_text: str, tmp_path: Path) -> Config:
    return parse(preset_text, tmp_path / "oob.toml")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}", clock=ScriptedClock())
    yield s
    s.close()


def start_run(store: Store, symptoms: str = "Editors cannot log in with PIV") -> Scripted:
    clock = store.clock
    assert isinstance(clock, ScriptedClock)
    clock.t = T0
    run = store.create_run(
        RunRequest(
            pipeline="va-cms",
            requester="cms-oncall",
            fix_sha=FIX,
            symptoms=symptoms,
            cause="a bad module update of simplesamlphp",
            fix_summary="revert the simplesamlphp update",
            affects="all CMS editors",
            release_wait_minutes=15,
        ),
        preset_plan(),
        run_id="20260623-140000-beef",
    )
    s = Scripted(store, clock, run.id)
    s.event(
        0,
        "run.requested",
        "cms-oncall asked for an out-of-band deploy",
        actor="cms-oncall",
        source=Source.CLI,
    )
    s.event(
        0.5,
        events.KIND_APPROVAL_REQUESTED,
        "Approval requested from the product owner",
        eta_minutes=30,
    )
    s.event(
        0.5,
        events.KIND_MESSAGE_POSTED,
        "approval_request to product_owner",
        audience="product_owner",
        channel="#cms-product",
        purpose="approval_request",
        permalink="https://slack.example/archives/C1/p1",
    )
    return s


def approve_and_release(
    s: Scripted, *, released: str = FIX, contains_fix: bool = True, merge: bool = False
) -> None:
    """Approval at 5 min; pre-flight, notify, hold; release job 10-27 min picks `released`."""
    s.event(
        5,
        events.KIND_APPROVED,
        "Approved by cms-product-owner",
        actor="cms-product-owner",
        source=Source.CLI,
        note="go ahead",
    )
    s.state(5, RunState.PREFLIGHT)
    s.state(6, RunState.NOTIFYING)
    s.event(
        7,
        events.KIND_MESSAGE_POSTED,
        "deploy_coming to editors",
        audience="editors",
        channel="#cms-editors",
        purpose="deploy_coming",
    )
    s.event(7, events.KIND_HOLD_STARTED, "Engineers asked to hold merges")
    s.event(
        7,
        events.KIND_MESSAGE_POSTED,
        "hold_merges to engineers",
        audience="engineers",
        channel="#sitewide-program",
        purpose="hold_merges",
        permalink="https://slack.example/archives/C2/p2",
    )
    s.state(10, RunState.RELEASE_WAIT)
    s.build(10, 27, "deploys/cms-auto-deploy", 321)
    if merge:
        s.event(
            14,
            events.KIND_MERGE_DETECTED,
            f"{MERGED[:7]} merged to main during the hold",
            sha=MERGED,
            author="someone",
            message="Bump a dependency\n\nlong body",
        )
    s.state(26, RunState.RELEASING)
    s.event(
        26,
        events.KIND_RELEASE_PICKED,
        f"Release job picked {released[:7]}",
        sha=released,
        state="success",
        contains_fix=contains_fix,
    )


def deploy(s: Scripted, prod_result: str = "SUCCESS") -> None:
    """The stages to production, 27-45 min, with the shield 37-45 min."""
    s.state(27, RunState.DEPLOYING)
    # The release job hands its tag on to the stages after it, as the VA.gov pipeline does.
    s.build(27, 34, "cms/cms-full-pipeline", 88, release_tag="cms/v0.0.1234")
    s.build(34, 35, "releases/cms", 77, release_tag="cms/v0.0.1234")
    s.event(37, events.KIND_SHIELD_UP, "The CMS shows the deploy shield")
    s.build(35, 45, "deploys/cms-vagov-prod", 66, result=prod_result)
    if prod_result == "SUCCESS":
        s.event(45, events.KIND_SHIELD_DOWN, "The CMS serves editors again")


def end(
    s: Scripted, minutes: float, outcome: RunState, *, hold: bool = True, final: bool = True
) -> None:
    """Close the run as the procedure does: release the hold, record how it ends, then (with
    `final`) move it to its outcome. Without `final` the run stays `closing`, as it is when
    the procedure's postmortem step writes the draft."""
    s.state(minutes, RunState.CLOSING)
    if hold:
        s.event(minutes, events.KIND_HOLD_RELEASED, "Engineers may resume merging")
    s.event(
        minutes + 1,
        events.KIND_ENDED,
        f"run ended: {outcome.value}",
        outcome=outcome.value,
        reason=f"the {outcome.value} reason",
    )
    if final:
        s.state(minutes + 1, outcome)


def resolved_run(store: Store, *, overridden: bool = False, merge: bool = False) -> str:
    s = start_run(store)
    if overridden:
        s.event(
            3,
            events.KIND_STATUS_OVERRIDDEN,
            "va/tests/cypress forced to success",
            actor="cms-oncall",
            source=Source.CLI,
            sha=FIX,
            context="va/tests/cypress",
            previous_state="failure",
            reason="flaky test, passed on rerun locally",
        )
    approve_and_release(s, released=MERGED if merge else FIX, merge=merge)
    deploy(s)
    s.state(46, RunState.VERIFYING)
    s.event(
        47,
        events.KIND_CHECK,
        "editor login page: HTTP 200",
        name="editor login page",
        ok=True,
        detail="HTTP 200 in 84 ms",
    )
    s.event(
        50,
        events.KIND_FIX_CONFIRMED,
        "Fix confirmed by cms-helpdesk-lead",
        actor="cms-helpdesk-lead",
        source=Source.CLI,
        note="PIV login works",
    )
    end(s, 51, RunState.RESOLVED)
    return s.run_id


def cancelled_run(store: Store) -> str:
    s = start_run(store)
    s.event(5, events.KIND_APPROVED, "Approved", actor="cms-product-owner", source=Source.CLI)
    s.state(5, RunState.PREFLIGHT)
    s.state(6, RunState.NOTIFYING)
    s.event(7, events.KIND_HOLD_STARTED, "Engineers asked to hold merges")
    s.state(10, RunState.RELEASE_WAIT)
    s.build(10, 18, "deploys/cms-auto-deploy", 321, result="ABORTED")
    s.event(
        18,
        events.KIND_CANCELLED,
        "Cancelled by cms-oncall",
        actor="cms-oncall",
        source=Source.CLI,
        reason="a second bug was found",
    )
    end(s, 19, RunState.CANCELLED)
    return s.run_id


def denied_run(store: Store) -> str:
    s = start_run(store)
    s.event(
        4,
        events.KIND_DENIED,
        "Denied by cms-product-owner",
        actor="cms-product-owner",
        source=Source.WEB,
        reason="wait for the daily deploy",
    )
    end(s, 4, RunState.DENIED, hold=False)
    return s.run_id


def release_mismatch_run(store: Store) -> str:
    s = start_run(store)
    approve_and_release(s, released=OTHER, contains_fix=False)
    end(s, 28, RunState.RELEASE_MISMATCH)
    return s.run_id


def deploy_failed_run(store: Store) -> str:
    s = start_run(store)
    approve_and_release(s)
    deploy(s, prod_result="FAILURE")
    end(s, 46, RunState.DEPLOY_FAILED)
    return s.run_id


def fix_not_verified_run(store: Store) -> str:
    s = start_run(store)
    approve_and_release(s)
    deploy(s)
    s.state(46, RunState.VERIFYING)
    s.event(
        47,
        events.KIND_CHECK,
        "editor login page: HTTP 500",
        name="editor login page",
        ok=False,
        detail="HTTP 500, expected 200",
    )
    end(s, 77, RunState.FIX_NOT_VERIFIED)
    return s.run_id
