"""The enforced merge hold at every ending of a run, on doubles of the services and a real
DBOS: lifted once whatever ended the run, and loud when GitHub would not let it be lifted."""

from __future__ import annotations

from importlib import resources

import pytest

from oob.commands import lift_hold, notify
from oob.ports import StatusState
from oob.readmodel import snapshot
from oob.store import RunState
from tests.procedure.doubles import Script
from tests.procedure.harness import Harness, approve

HOLD = "oob/merge-hold"


STATUS_HOLD = (
    (resources.files("oob") / "presets" / "va-cms.toml")
    .read_text(encoding="utf-8")
    .replace("release_wait = 15\n", 'release_wait = 15\nmerge_hold = "status"\n')
)


@pytest.mark.parametrize("preset_text", [STATUS_HOLD])
def test_github_down_when_the_hold_is_lifted_is_loud_and_resume_merging_waits(
    harness: Harness,
) -> None:
    """A hold that could not be lifted is told to operators and engineers, and engineers are
    not told to resume merging while GitHub still refuses their merges (seen: closing told them
    they may merge although `oob/merge-hold` was still pending)."""
    pull = "a" * 40
    harness.code.open_pull = pull
    run = harness.start()
    approve(harness, run)
    harness.wait_for(run.id, lambda r: pull in harness.code.statuses)
    harness.code.statuses_down = True
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.store.active_run("va-cms") is None
    assert "hold.not_lifted" in harness.kinds(run.id)
    told = harness.chat.purposes()
    assert any(p.startswith("hold_not_lifted:") for p in told), told
    assert not any(p.startswith("resume_merging") for p in told)
    view = snapshot(harness.store, run.id, harness.store.clock.now())
    assert sorted(u.command for u in view.undelivered) == [
        f"oob hold release {run.id}",
        f"oob notify {run.id} resume_merging",
    ]

    # GitHub answers again: the operator lifts the hold, then tells engineers, once each.
    harness.code.statuses_down = False
    assert lift_hold(harness.store, harness.code, run.id, "operator") == [
        f"pull request #7 ({pull[:7]}): oob/merge-hold set to success"
    ]
    assert harness.code.statuses[pull] == [
        ("oob/merge-hold", StatusState.PENDING),
        ("oob/merge-hold", StatusState.SUCCESS),
    ]
    notify(harness.store, harness.chat, run.id, "resume_merging", "operator")
    assert harness.chat.purposes()["resume_merging:engineers"] == 1
    assert snapshot(harness.store, run.id, harness.store.clock.now()).undelivered == ()


@pytest.mark.parametrize("preset_text", [STATUS_HOLD])
@pytest.mark.parametrize(
    ("script", "broken_compare", "outcome"),
    [
        (Script(), False, RunState.RESOLVED),
        (Script(failing_job="deploys/cms-vagov-prod"), False, RunState.DEPLOY_FAILED),
        (Script(), True, RunState.FAILED),
        (Script(fix_cures=False), False, RunState.FIX_NOT_VERIFIED),
    ],
)
def test_every_ending_lifts_a_status_hold_once(
    harness: Harness, broken_compare: bool, outcome: RunState
) -> None:
    pull = "a" * 40
    harness.code.open_pull = pull
    harness.code.broken_compare = broken_compare
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is outcome
    assert harness.code.statuses[pull] == [
        ("oob/merge-hold", StatusState.PENDING),
        ("oob/merge-hold", StatusState.SUCCESS),
    ]
    assert "hold.lifted" in harness.kinds(run.id)
    assert harness.chat.purposes()["resume_merging:engineers"] == 1
