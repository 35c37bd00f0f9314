"""Every ending of a run, clean: whatever ended it, the run reaches its outcome, the pipeline
is freed, the hold is lifted, and everyone told the deploy was coming is told how it ended.

Closing messages are delivered like every message (`delivery`): retried over an outage, else
recorded as undelivered with the command that sends them again. Nothing in closing can keep the
run from reaching its outcome: a failure, even a bug, is recorded and closing goes on.
"""

from __future__ import annotations

from typing import Any

from oob.events import Ended, HoldLifted, HoldNotLifted, HoldReleased, MessageUndelivered
from oob.messages import BUTTONS
from oob.policy import Topic
from oob.procedure.delivery import deliver, first_line, over_outage, withhold
from oob.procedure.flow import Flow
from oob.procedure.phases import free_slot
from oob.states import Phase, RunState


def close(flow: Flow, outcome: RunState, reason: str) -> None:
    """Tell those who were told, release the hold, reach the outcome, write the postmortem."""
    flow.end_phase("done" if outcome is RunState.RESOLVED else outcome.value)
    flow.move(RunState.CLOSING)
    free_slot(flow)
    outcome_text = outcome.value.replace("_", " ")
    if outcome is RunState.RESOLVED:
        flow.begin(Phase.RESOLVE)
        deliver(flow, "resolved", ("helpdesk",))
    elif flow.announced:
        deliver(
            flow, "called_off", tuple(flow.announced), outcome_text=reason, deployed=flow.deployed
        )
    elif flow.cancelled:
        taken = flow.fx.decisions(flow.run_id).get(Topic.CANCEL)
        deliver(
            flow,
            "request_withdrawn",
            ("product_owner",),
            actor=taken.actor if taken else "?",
            reason=taken.text if taken else "",
        )
    if flow.holding:
        resume: dict[str, Any] = {"outcome": outcome.value, "outcome_text": outcome_text}
        if lift_hold(flow):
            if deliver(flow, "resume_merging", ("engineers",), **resume):
                flow.record(HoldReleased(), "engineers may resume merging")
        else:  # merging is still refused: say so, and keep "resume merging" for when it is not
            deliver(flow, "hold_not_lifted", ("operators", "engineers"))
            why = "the merge hold is not lifted yet"
            withhold(flow, "resume_merging", ("engineers",), why, **resume)
        flow.holding = False
    flow.end_phase("done")
    flow.record_deployment(deployment_state(flow, outcome), f"oob: {outcome_text}")
    # Whatever is still asked under a message is moot now: no button is left to tap.
    for message in BUTTONS:
        flow.settle(message, f"No longer open: the run ended {outcome_text}.")
    flow.record(Ended(outcome.value, reason), f"run ended: {outcome_text} ({reason})")
    flow.move(outcome)
    # The draft is written once the outcome is stored, since it tells the outcome. Runs
    # that never touched production (denied, cancelled before the trigger) need none.
    if flow.triggered:
        flow.begin(Phase.POSTMORTEM)
        try:
            over_outage(flow, lambda: flow.fx.postmortem(flow.run_id))
            flow.end_phase("done")
        except Exception as exc:
            command = f"oob postmortem {flow.run_id} --open-pr"
            flow.record(
                MessageUndelivered("postmortem", first_line(exc), command),
                f"the postmortem draft could not be written: {first_line(exc)}",
            )
            flow.end_phase("failed")


def deployment_state(flow: Flow, outcome: RunState) -> str:
    """The run's deployment's last state: `success` once production was reached, `inactive`
    when the release was called off before it deployed anything (cancelled in its wait, or the
    commit it picked refused), else `failure`."""
    if flow.deployed:
        return "success"
    if outcome in (RunState.CANCELLED, RunState.RELEASE_MISMATCH):
        return "inactive"
    return "failure"


def lift_hold(flow: Flow) -> bool:
    """Lift an enforced merge hold (`oob.procedure.hold`), before engineers are told they may
    merge again; False when it could not be lifted, recorded with the command that lifts it."""
    mode = flow.plan.pipeline.merge_hold
    if mode == "ask":
        return True
    lifted: list[list[str]] = []
    try:  # retried over an outage, like a message: a hold is never silently left on
        over_outage(flow, lambda: lifted.append(flow.fx.lift_hold(flow.run_id)))
    except Exception as exc:
        flow.record(
            HoldNotLifted(mode, f"oob hold release {flow.run_id}", first_line(exc)),
            f"the merge hold could not be lifted: {first_line(exc)}",
        )
        return False
    changed = lifted[-1]
    flow.record(
        HoldLifted(mode, tuple(changed)),
        "merge hold lifted: " + ("; ".join(changed) if changed else "nothing was held"),
    )
    return True
