"""Exactly once on GitHub Actions, proven with SIGKILL: a worker killed between the dispatch of
the release workflow and the recording of its run leaves one workflow run, whether GitHub names
the run in its answer (run details) or not (204: the run is found by its correlation input)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oob.sandbox.faults import FaultPlan
from oob.sandbox.world import Options
from oob.store import RunState

from .test_crash import TIME_SCALE, Deployment, deployed, kill, killed_as_taken, posted_once


@pytest.fixture(params=["details", "no-content"])
def actions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """A deployment whose release is the sandbox's Actions workflow; the first dispatch's
    answer is lost after GitHub took it."""
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    options = Options(scenario="happy", time_scale=TIME_SCALE, actions_dispatch=request.param)
    faults = FaultPlan(lose_first=("/dispatches",))
    with deployed(tmp_path, url, options, faults, preset="gha") as made:
        yield made


def check_one_workflow_run(deployment: Deployment) -> None:
    """One dispatch and one run of the release workflow, none on Jenkins; one post per
    (message, channel); one pull request; the run's deployment recorded once."""
    ledger = deployment.sandbox.ledger()
    dispatches = [e for e in ledger if e["path"].endswith("/dispatches")]
    assert [e["summary"]["workflow"] for e in dispatches] == ["release.yml"]
    with deployment.sandbox.world.session() as world:
        assert [r.id for r in world.runs] == [dispatches[0]["summary"]["run"]]
    assert not [e for e in ledger if e["service"] == "jenkins" and "parameters" in e["summary"]]
    posted_once(ledger)
    ours = [e for e in ledger if e["path"].endswith("/deployments") and e["summary"]["by"] == "oob"]
    assert len(ours) == 1


def test_killed_after_the_dispatch_took_effect_but_before_its_run_was_recorded(
    actions: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = actions.start_worker()
    run = actions.start_run()
    killed_as_taken(actions, first, "/dispatches", monkeypatch)  # the answer lost too
    actions.approve(run)

    def dispatched_unrecorded() -> bool:
        lost = [e for e in actions.sandbox.ledger() if e["path"].endswith("/dispatches")]
        facts = actions.store.run(run.id).facts
        return bool(lost) and bool(facts.get("trigger_sent")) and "queue_id" not in facts

    actions.until(dispatched_unrecorded)
    dispatches = [e for e in actions.sandbox.ledger() if e["path"].endswith("/dispatches")]
    assert [e["response_lost"] for e in dispatches] == [True]
    kill(first)
    actions.start_worker()
    finished = actions.finished(run.id)
    assert finished.outcome is RunState.RESOLVED
    check_one_workflow_run(actions)
    assert actions.kinds(run.id).count("release.picked") == 1
