"""Capacity: a controller that runs at most N releases at once makes the next run wait in its
DBOS queue, visibly, until a slot is given back; every ending gives it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import Config, parse
from oob.events import Queued, SlotFreed, SlotTaken
from oob.procedure.capacity import release_controller
from oob.sandbox.configfile import render_config
from oob.store import Run, RunState
from tests.procedure.doubles import RELEASE
from tests.procedure.harness import Harness, approve


@pytest.fixture(params=["sqlite", "postgresql"])
def harness_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both stores: the queue is DBOS's, on the run store's database."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'oob.sqlite'}"


def _limited(config: Config, pipeline: str, limit: int) -> Config:
    """`config` as pipeline `pipeline`, its controller taking at most `limit` releases."""
    jenkins = config.services.jenkins.model_copy(update={"max_releases": limit})
    return config.model_copy(
        update={
            "pipeline_": config.pipeline.model_copy(update={"name": pipeline}),
            "services_": config.services.model_copy(update={"jenkins": jenkins}),
        }
    )


def _hold_release(harness: Harness, held: bool) -> None:
    """Keep the release jobs in their wait (their logs name no commit) or let them pick."""
    harness.builds.script.log_reads_before_pick = 10**9 if held else 3


def _start(harness: Harness, config: Config) -> Run:
    run = harness.start(config)
    approve(harness, run)
    return run


def _one_holds_one_queued(harness: Harness) -> tuple[Run, Run]:
    """Two pipelines on one controller that runs one release at a time: the first run holds
    the slot in its release wait, the second waits in the queue."""
    _hold_release(harness, held=True)
    first = _start(harness, _limited(harness.config, "va-cms", 1))
    harness.wait_for(first.id, lambda r: r.state is RunState.RELEASE_WAIT)
    second = _start(harness, _limited(harness.config, "va-forms", 1))
    harness.wait_for(second.id, lambda r: "capacity.queued" in harness.kinds(r.id))
    assert harness.store.run(second.id).state is RunState.QUEUED
    return first, second


def _payloads(harness: Harness, run_id: str, kind: type) -> list:
    return [p for p in map(kind.of, harness.store.events(run_id)) if p is not None]


def test_a_second_release_waits_in_the_queue_until_the_slot_is_given_back(
    harness: Harness,
) -> None:
    first, second = _one_holds_one_queued(harness)
    queued = _payloads(harness, second.id, Queued)
    assert [(q.ahead, q.limit) for q in queued] == [(0, 1)]
    assert (queued[0].eta_minutes or 0) > 0
    assert harness.builds.triggered[RELEASE] == 1  # the second has not triggered: no slot

    # A cancel of the holder ends it and gives the slot back; the queued run takes it.
    harness.control.cancel(first.id, "operator", "a better fix is coming")
    _hold_release(harness, held=False)  # after the cancel: the first must not pick before it
    assert harness.end(first.id).outcome is RunState.CANCELLED
    assert harness.end(second.id).outcome is RunState.RESOLVED
    assert harness.builds.triggered[RELEASE] == 2
    freed = next(e for e in harness.store.events(first.id) if SlotFreed.of(e))
    taken = next(e for e in harness.store.events(second.id) if SlotTaken.of(e))
    assert freed.at <= taken.at
    assert len(_payloads(harness, second.id, SlotFreed)) == 1  # after production, once


def test_a_queued_run_can_be_cancelled_and_leaves_the_queue(harness: Harness) -> None:
    first, second = _one_holds_one_queued(harness)
    harness.control.cancel(second.id, "operator", "not needed any more")
    assert harness.end(second.id).outcome is RunState.CANCELLED
    assert _payloads(harness, second.id, SlotFreed)  # its place in the queue is given back
    told = [key for key in harness.chat.posted if second.id in key]
    assert not [key for key in told if "deploy_coming" in key]  # nobody was told a deploy
    harness.control.cancel(first.id, "operator", "done")
    assert harness.end(first.id).outcome is RunState.CANCELLED


def test_without_a_limit_no_run_queues(harness: Harness) -> None:
    run = _start(harness, harness.config)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert not [k for k in harness.kinds(run.id) if k.startswith("capacity.")]


@pytest.mark.parametrize("preset", ["va-cms", "gha"])
def test_only_a_release_run_on_jenkins_takes_a_slot_of_jenkins(preset: str) -> None:
    # Jenkins runs at most one release at once; the gha pipeline only tests its fix there and
    # releases with GitHub Actions: its run waited in Jenkins' release queue all the same.
    text = render_config("http://127.0.0.1:8765", "sandbox-token", preset=preset)
    limited = text.replace("[services.jenkins]\n", "[services.jenkins]\nmax_releases = 1\n", 1)
    plan = parse(limited, Path("oob.toml"))
    expected = ("http://127.0.0.1:8765/jenkins/", 1) if preset == "va-cms" else None
    assert release_controller(plan) == expected
