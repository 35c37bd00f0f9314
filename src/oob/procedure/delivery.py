"""Delivering a run's messages: every channel of each audience, once, retried over an outage.

A message is retried durably while its service is down (`Tuning.outage_minutes`, in the run's
clock). One that still cannot be delivered, or that the service refuses for good (a permanent
error), is recorded as undelivered, with its text and key, and the command that sends it again
(`oob notify RUN MESSAGE`). A message the runbook cannot go on without (the approval request,
the notice that a deploy is coming, "hold merges") ends the run as failed instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from oob.errors import IntegrationError, ProcedureError
from oob.events import MessageUndelivered

if TYPE_CHECKING:
    from oob.procedure.flow import Flow

MIN_ATTEMPTS = 3


def deliver(
    flow: Flow,
    message: str,
    audiences: tuple[str, ...],
    *,
    about: str = "",
    required: bool = False,
    **values: Any,
) -> bool:
    """Post `message` to every channel of each audience, retrying over an outage; True when
    every channel got it, else each miss is recorded as undelivered (and, if the message is
    `required`, the run cannot go on)."""
    fx = flow.fx
    try:
        posts = fx.render(flow.run_id, message, list(audiences), flow.values(values))
    except Exception as exc:  # a bad template must not stop the run's ending
        told = "+".join(audiences)
        _undelivered(flow, message, told, "", exc, "", flow.key(message, told, about))
        posts, delivered = [], False
    else:
        delivered = True
    for channel, told, text in posts:
        key = flow.key(message, told, about)
        delivered &= _post_over_outage(flow, message, told, channel, text, key)
    if required and not delivered:
        raise ProcedureError(f"could not deliver {message.replace('_', ' ')}; see the timeline")
    return delivered


def withhold(flow: Flow, message: str, audiences: tuple[str, ...], why: str, **values: Any) -> None:
    """Record `message` as undelivered without posting it (it would not be true yet), with its
    text and key, so that `oob notify RUN MESSAGE` sends it, once, when it is."""
    try:
        posts = flow.fx.render(flow.run_id, message, list(audiences), flow.values(values))
    except Exception as exc:  # a bad template must not stop the run's ending
        told = "+".join(audiences)
        _undelivered(flow, message, told, "", exc, "", flow.key(message, told, ""))
        return
    for channel, told, text in posts:
        key = flow.key(message, told, "")
        _undelivered(flow, message, told, channel, Withheld(why), text, key)


class Withheld(Exception):
    """Why a message was held back rather than posted."""


def _post_over_outage(  # noqa: PLR0917 - what one post needs
    flow: Flow, message: str, audience: str, channel: str, text: str, key: str
) -> bool:
    try:
        over_outage(flow, lambda: flow.fx.post(flow.run_id, message, audience, channel, text, key))
    except Exception as exc:
        _undelivered(flow, message, audience, channel, exc, text, key)
        return False
    return True


def over_outage(flow: Flow, step: Callable[[], None]) -> None:
    """Run `step` (idempotent) until it succeeds, retrying a transient failure with durable
    pauses for `Tuning.outage_minutes` of the run's clock; then, or on a permanent failure,
    raise what it raised."""
    fx = flow.fx
    deadline = fx.now() + timedelta(minutes=flow.tuning.outage_minutes)  # the run's clock
    pause = flow.tuning.seconds(0.5)
    attempts = 0
    while True:
        attempts += 1
        try:
            step()
        except IntegrationError as exc:
            # The window is in the run's clock; a fast simulated clock still gets a few tries.
            if exc.transient and (fx.now() < deadline or attempts < MIN_ATTEMPTS):
                fx.sleep(pause)
                pause = min(pause * 2, flow.tuning.seconds(5))
                continue
            raise
        return


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
    missed = MessageUndelivered(
        message,
        first_line(exc),
        f"oob notify {flow.run_id} {message}",
        audience=audience,
        channel=channel,
        text=text,
        key=key,
    )
    summary = f"could not tell {audience}{where} ({message.replace('_', ' ')}): {first_line(exc)}"
    flow.record(missed, summary)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
