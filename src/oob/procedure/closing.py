"""Every ending of a run, clean: whatever ended it, the run reaches its outcome, the pipeline
is freed, the hold is lifted, and everyone told the deploy was coming is told how it ended.

A closing message is retried durably over an outage (`Tuning.outage_minutes`, in the run's
clock); one that still cannot be delivered, or that the service refuses for good, is recorded
as undelivered with the command that sends it again (`oob notify RUN MESSAGE`). Nothing in
closing can keep the run from reaching its outcome: a failure, even a bug, is recorded and
closing goes on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from oob.errors import IntegrationError
from oob.events import KIND_ENDED, KIND_HOLD_RELEASED, KIND_MESSAGE_UNDELIVERED
from oob.procedure.flow import Flow, Phase
from oob.states import RunState


def close(flow: Flow, outcome: RunState, reason: str) -> None:
    """Tell those who were told, release the hold, reach the outcome, write the postmortem."""
    flow.end_phase("done" if outcome is RunState.RESOLVED else outcome.value)
    flow.move(RunState.CLOSING)
    outcome_text = outcome.value.replace("_", " ")
    if outcome is RunState.RESOLVED:
        flow.begin(Phase.RESOLVE)
        deliver(flow, "resolved", ("helpdesk",))
    elif flow.announced:
        deliver(
            flow, "called_off", tuple(flow.announced), outcome_text=reason, deployed=flow.deployed
        )
    elif flow.cancelled:
        taken = flow.fx.decisions(flow.run_id).get("cancel", {})
        deliver(
            flow,
            "request_withdrawn",
            ("product_owner",),
            actor=taken.get("actor", "?"),
            reason=taken.get("text", ""),
        )
    if flow.holding:
        if deliver(
            flow, "resume_merging", ("engineers",), outcome=outcome.value, outcome_text=outcome_text
        ):
            flow.record(KIND_HOLD_RELEASED, "engineers may resume merging")
        flow.holding = False
    flow.end_phase("done")
    flow.record(
        KIND_ENDED,
        f"run ended: {outcome_text} ({reason})",
        {"outcome": outcome.value, "reason": reason},
    )
    flow.move(outcome)
    # The draft is written once the outcome is stored, since it tells the outcome. Runs
    # that never touched production (denied, cancelled before the trigger) need none.
    if flow.triggered:
        flow.begin(Phase.POSTMORTEM)
        try:
            flow.fx.postmortem(flow.run_id)
            flow.end_phase("done")
        except Exception as exc:
            flow.record(
                KIND_MESSAGE_UNDELIVERED,
                f"the postmortem draft could not be written: {_line(exc)}",
                {
                    "message": "postmortem",
                    "error": _line(exc),
                    "command": f"oob postmortem {flow.run_id} --open-pr",
                },
            )
            flow.end_phase("failed")


def deliver(flow: Flow, message: str, audiences: tuple[str, ...], **values: Any) -> bool:
    """Post a closing message to every channel of each audience, retrying over an outage;
    True when every channel got it, else each miss is recorded as undelivered."""
    fx = flow.fx
    delivered = True
    for audience in audiences:
        key = flow.key(message, audience)
        try:
            rendered = fx.render(flow.run_id, message, audience, flow.values(values))
        except Exception as exc:
            _undelivered(flow, message, audience, "", exc, "", key)
            delivered = False
            continue
        if not rendered:
            continue
        text, *channels = rendered
        for channel in channels:
            delivered &= _post_over_outage(flow, message, audience, channel, text, key)
    return delivered


def _post_over_outage(  # noqa: PLR0917 - what one post needs
    flow: Flow, message: str, audience: str, channel: str, text: str, key: str
) -> bool:
    fx = flow.fx
    deadline = fx.now() + timedelta(seconds=flow.tuning.seconds(flow.tuning.outage_minutes))
    pause = flow.tuning.seconds(0.5)
    while True:
        try:
            fx.post(flow.run_id, message, audience, channel, text, key)
        except Exception as exc:
            transient = isinstance(exc, IntegrationError) and getattr(exc, "transient", True)
            if transient and fx.now() < deadline:
                fx.sleep(pause)
                pause = min(pause * 2, flow.tuning.seconds(5))
                continue
            _undelivered(flow, message, audience, channel, exc, text, key)
            return False
        return True


def _undelivered(  # noqa: PLR0917 - what a miss records
    flow: Flow,
    message: str,
    audience: str,
    channel: str,
    exc: BaseException,
    text: str,
    key: str,
) -> None:
    # The text and key are kept, so that `oob notify` sends the very message, once.
    where = f" in {channel}" if channel else ""
    flow.record(
        KIND_MESSAGE_UNDELIVERED,
        f"could not tell {audience}{where} ({message.replace('_', ' ')}): {_line(exc)}",
        {
            "message": message,
            "audience": audience,
            "channel": channel,
            "error": _line(exc),
            "command": f"oob notify {flow.run_id} {message}",
            "text": text,
            "key": key,
        },
    )


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
