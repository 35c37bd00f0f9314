"""Every ending is clean, commands are decided by the policy, waiting is visible: the workflow
at the edges a real incident hits, on doubles of the services and a real DBOS."""

from __future__ import annotations

from importlib import resources

import pytest

from oob.commands import Refused, notify
from oob.errors import JenkinsError, UsageError
from oob.procedure import Readiness
from oob.readmodel import snapshot
from oob.store import Run, RunState
from tests.procedure.doubles import Chat
from tests.procedure.harness import Harness, approve

# Verification needs a person's confirmation (the harness turns it off unless spelled so).
CONFIRMING = (
    (resources.files("oob") / "presets" / "va-cms.toml")
    .read_text(encoding="utf-8")
    .replace("require_confirmation = true", "require_confirmation  = true")
)


@pytest.mark.parametrize("preset_text", [CONFIRMING])
def test_a_confirmation_before_verification_is_refused_and_never_counts(
    harness: Harness,
) -> None:
    run = harness.start()
    with pytest.raises(Refused, match="not in production yet"):
        harness.control.confirm_fix(run.id, "helpdesk", "looks fine")
    # The early confirmation is audited as refused, and is no decision that counts later:
    # nobody confirms during verification, so the fix is not verified.
    refused = [e for e in harness.store.events(run.id) if e.kind == "command.refused"]
    assert refused[-1].actor == "helpdesk"
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.FIX_NOT_VERIFIED
    assert "verify.confirmed" not in harness.kinds(run.id)


@pytest.mark.parametrize("readiness", [[JenkinsError("Jenkins at http://jenkins timed out")]])
def test_the_product_owner_is_asked_at_once_even_when_jenkins_hangs(harness: Harness) -> None:
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    assert "approval_request:product_owner" in harness.chat.purposes()
    harness.control.approve(run.id, "po")
    ended = harness.end(run.id)
    # Jenkins stays down: the run ends `failed`, with the cause in one line, not `cancelled`.
    assert ended.outcome is RunState.FAILED
    [error] = [e for e in harness.store.events(run.id) if e.kind == "run.error"]
    assert error.summary == "oob could not go on: Jenkins at http://jenkins timed out"
    assert harness.store.active_run("va-cms") is None


@pytest.mark.parametrize(
    "readiness", [[Readiness(ready=False, reasons=("tests running",)), JenkinsError("down")]]
)
def test_a_failing_step_is_tried_once_by_the_workflow(harness: Harness) -> None:
    # One retry layer: the adapters retry transient failures; DBOS never repeats the step.
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.FAILED
    waits = [e for e in harness.store.events(run.id) if e.kind == "preflight.waiting"]
    assert len(waits) == 1


@pytest.fixture
def chat() -> Chat:
    # Slack is down for "resume merging" for longer than the outage window.
    return Chat(down={"resume_merging": None})


def test_slack_down_for_the_whole_closing_the_run_ends_and_resume_merging_is_undelivered(
    harness: Harness,
) -> None:
    run = harness.start()
    approve(harness, run)
    ended = harness.end(run.id)
    assert ended.outcome is RunState.RESOLVED
    assert harness.store.active_run("va-cms") is None  # the pipeline is free
    view = snapshot(harness.store, run.id, harness.store.clock.now())
    [missed] = view.undelivered
    assert missed.command == f"oob notify {run.id} resume_merging"
    assert "hold.released" not in harness.kinds(run.id)
    assert "resume_merging:engineers" not in harness.chat.purposes()

    # Slack answers again: `oob notify` sends it, once.
    harness.chat.down.clear()
    told = notify(harness.store, harness.chat, run.id, "resume_merging", "operator")
    assert told == harness.config.audiences.engineers.channels
    assert harness.chat.purposes()["resume_merging:engineers"] == 1
    assert "hold.released" in harness.kinds(run.id)
    assert snapshot(harness.store, run.id, harness.store.clock.now()).undelivered == ()
    with pytest.raises(UsageError, match="no undelivered"):
        notify(harness.store, harness.chat, run.id, "resume_merging", "operator")
    assert harness.chat.purposes()["resume_merging:engineers"] == 1


# Ten simulated minutes at the harness's 3,600x; the outage window is thirty.
@pytest.mark.parametrize("chat", [Chat(down={"resume_merging": 600 / 3600})])
def test_slack_down_for_a_while_during_closing_the_hold_is_lifted_once_it_answers(
    harness: Harness,
) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.chat.purposes()["resume_merging:engineers"] == 1, "\n".join(
        e.summary for e in harness.store.events(run.id)[-6:]
    )
    assert "hold.released" in harness.kinds(run.id)
    assert "message.undelivered" not in harness.kinds(run.id)


def test_the_run_says_whom_it_waits_for_and_the_command(harness: Harness) -> None:
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    view = snapshot(harness.store, run.id, harness.store.clock.now()).to_json()
    waiting = view["waiting_for"]
    assert waiting["command"] == f"oob approve {run.id}"
    assert "po" in waiting["who"]
    assert waiting["text"].startswith("waiting for the product owner (po) to approve")
    harness.control.deny(run.id, "po", "not now")
    harness.end(run.id)
    assert snapshot(harness.store, run.id, harness.store.clock.now()).waiting is None


def test_the_dashboard_and_status_say_whom_the_run_waits_for(harness: Harness) -> None:
    from rich.console import Console

    from oob.live import render

    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    screen = Console(record=True, width=200, force_terminal=True)
    screen.print(render(snapshot(harness.store, run.id, harness.store.clock.now())))
    text = screen.export_text()
    assert f"waiting for the product owner (po) to approve: `oob approve {run.id}`" in text
    assert "plan " in text
    harness.control.cancel(run.id, "operator", "done looking")
    harness.end(run.id)


@pytest.mark.parametrize("chat", [Chat(broken={"resume_merging", "resolved"})])
def test_a_bug_while_closing_still_ends_the_run_and_frees_the_pipeline(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    ended = harness.end(run.id)
    assert ended.outcome is RunState.RESOLVED
    assert harness.store.active_run("va-cms") is None
    missed = snapshot(harness.store, run.id, harness.store.clock.now()).undelivered
    assert {m.command for m in missed} == {
        f"oob notify {run.id} resume_merging",
        f"oob notify {run.id} resolved",
    }
    assert harness.postmortems == [run.id]


@pytest.mark.parametrize("preset_text", [CONFIRMING])
def test_during_verification_the_run_says_it_waits_for_a_fix_confirmer(harness: Harness) -> None:
    from rich.console import Console

    from oob.live import render

    run = harness.start()
    approve(harness, run)

    def waiting_to_confirm(r: Run) -> bool:
        shot = snapshot(harness.store, r.id, harness.store.clock.now())
        return shot.waiting is not None and shot.waiting.command.startswith("oob confirm-fix")

    harness.wait_for(run.id, waiting_to_confirm)
    shot = snapshot(harness.store, run.id, harness.store.clock.now())
    waiting = shot.to_json()["waiting_for"]
    assert waiting["command"] == f"oob confirm-fix {run.id}"
    assert waiting["text"].startswith("waiting for a fix confirmer (helpdesk, operator) to confirm")
    assert waiting["until"]  # the verification times out, and says when
    screen = Console(record=True, width=200, force_terminal=True)
    screen.print(render(shot))
    text = screen.export_text()
    assert f"to confirm the fix: `oob confirm-fix {run.id}`" in text
    assert "ETA 0 min" not in text
    harness.control.confirm_fix(run.id, "helpdesk", "editors can log in")
    assert harness.end(run.id).outcome is RunState.RESOLVED
