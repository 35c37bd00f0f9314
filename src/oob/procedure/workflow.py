"""The out-of-band runbook as ONE durable DBOS workflow, short enough to read in one screen."""

from __future__ import annotations

from dbos import DBOS

from oob.events import RunError
from oob.plan import thaw
from oob.procedure import WORKFLOW_NAME, phases
from oob.procedure.closing import close
from oob.procedure.effects import Durable
from oob.procedure.flow import End, Flow
from oob.procedure.runtime import rt
from oob.states import RunState


@DBOS.workflow(name=WORKFLOW_NAME)
def run_workflow(run_id: str) -> str:
    """Execute run `run_id` from approval to its outcome; returns the outcome's value."""
    loaded = Durable.load(run_id)
    flow = Flow(run_id, loaded["request"], thaw(loaded["plan"]), rt().tuning, Durable())
    return execute(flow).value


def execute(flow: Flow) -> RunState:
    """Walk the runbook; whatever ends it, close cleanly."""
    try:
        phases.approval(flow)
        phases.preflight(flow)
        phases.queue(flow)
        phases.notify(flow)
        phases.trigger(flow)
        sha, state, line = phases.release_wait(flow)
        phases.release_check(flow, sha, state, line)
        phases.deploy(flow)
        phases.free_slot(flow)
        phases.shield(flow)
        phases.verify(flow)
        outcome, reason = RunState.RESOLVED, "the fix is verified in production"
    except End as end:
        outcome, reason = end.outcome, end.reason
    except Exception as exc:
        reason = _cause(exc)
        flow.record(RunError(reason), f"oob could not go on: {reason}")
        outcome = RunState.FAILED
    close(flow, outcome, reason)
    return outcome


def _cause(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
