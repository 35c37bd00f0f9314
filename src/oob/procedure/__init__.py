"""The out-of-band runbook as ONE durable DBOS workflow.

- `workflow`: the workflow itself, calling one function per phase, then closing.
- `phases`: the runbook's phases (approval, preflight, notify, trigger, release wait, release
  check, deploy, shield, verify), each a function of the run's memory (`flow.Flow`).
- `closing`: every ending, clean: the outcome reached, the pipeline freed, the hold lifted,
  messages retried over an outage or recorded as undelivered.
- `effects`: what a phase may do to the world and to time; `Durable` makes each a DBOS step.
- `steps`: the steps themselves, I/O only, idempotent against the real services.
- `runtime`: the services bound once per process; a run's settings come from its plan.

People act on a run through the policy (`oob.policy`), decided in the store; the workflow is
woken by a message and reads the decisions taken from the store.
"""

from __future__ import annotations

from oob.events import KIND_ENDED, KIND_RELEASE_INTENT, StepFinished
from oob.procedure.runtime import Readiness, Runtime, Tuning, bind
from oob.states import CANCELLABLE, STEPS, Phase
from oob.store import Event

WORKFLOW_NAME = "oob.run"

__all__ = [
    "CANCELLABLE",
    "STEPS",
    "WORKFLOW_NAME",
    "Phase",
    "Readiness",
    "Runtime",
    "Tuning",
    "bind",
    "finished",
    "register",
]


def register() -> None:
    """Register the workflow and its steps with DBOS (before DBOS is launched)."""
    import oob.procedure.workflow  # noqa: F401


def finished(events: list[Event]) -> bool:
    """Whether the workflow wrote its last event: the run ended and, when the release job was
    triggered, the postmortem step (which follows the end) is done too."""
    if not events:
        return False
    last = events[-1]
    if any(e.kind == KIND_RELEASE_INTENT for e in events):
        step = StepFinished.of(last)
        return step is not None and step.step == "postmortem"
    return last.kind == KIND_ENDED
