"""A run's life: its states, the transitions between them, the runbook's phases, and where its
events come from.

Light enough to import anywhere (the policy, the store, the views).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class RunState(StrEnum):
    """Where a run is. The last seven are terminal, and are also the run's outcome."""

    AWAITING_APPROVAL = "awaiting_approval"
    PREFLIGHT = "preflight"
    QUEUED = "queued"  # ready, waiting for a release slot on its build server (`max_releases`)
    NOTIFYING = "notifying"
    RELEASE_WAIT = "release_wait"  # the release job is triggered and waiting: `oob cancel` works
    RELEASING = "releasing"  # the release job picked a commit; checking it contains the fix
    DEPLOYING = "deploying"  # following the stages to production
    VERIFYING = "verifying"
    CLOSING = "closing"  # the outcome is known; telling people, releasing the hold, postmortem
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    DENIED = "denied"
    RELEASE_MISMATCH = "release_mismatch"
    DEPLOY_FAILED = "deploy_failed"
    FIX_NOT_VERIFIED = "fix_not_verified"
    FAILED = "failed"  # oob could not go on (a service stayed down, a bug); the cause says which

    @property
    def terminal(self) -> bool:
        return self in OUTCOMES


OUTCOMES: frozenset[RunState] = frozenset(
    {
        RunState.RESOLVED,
        RunState.CANCELLED,
        RunState.DENIED,
        RunState.RELEASE_MISMATCH,
        RunState.DEPLOY_FAILED,
        RunState.FIX_NOT_VERIFIED,
        RunState.FAILED,
    }
)

# Every active state may go to CLOSING (a denial, a cancel, a failure); CLOSING goes only to an
# outcome. Nothing leaves an outcome.
TRANSITIONS: Mapping[RunState, frozenset[RunState]] = {
    RunState.AWAITING_APPROVAL: frozenset({RunState.PREFLIGHT, RunState.CLOSING}),
    RunState.PREFLIGHT: frozenset({RunState.QUEUED, RunState.NOTIFYING, RunState.CLOSING}),
    RunState.QUEUED: frozenset({RunState.NOTIFYING, RunState.CLOSING}),
    RunState.NOTIFYING: frozenset({RunState.RELEASE_WAIT, RunState.CLOSING}),
    RunState.RELEASE_WAIT: frozenset({RunState.RELEASING, RunState.CLOSING}),
    RunState.RELEASING: frozenset({RunState.DEPLOYING, RunState.CLOSING}),
    RunState.DEPLOYING: frozenset({RunState.VERIFYING, RunState.CLOSING}),
    RunState.VERIFYING: frozenset({RunState.CLOSING}),
    RunState.CLOSING: OUTCOMES,
    **{outcome: frozenset() for outcome in OUTCOMES},
}


class Source(StrEnum):
    """Where an event came from."""

    CLI = "cli"
    WEB = "web"
    WORKER = "worker"
    SIMULATED = "simulated"
    SLACK = "slack"


# Until the release job picks its commit, a run can be cancelled (the job is stopped).
CANCELLABLE: frozenset[RunState] = frozenset(
    {
        RunState.AWAITING_APPROVAL,
        RunState.PREFLIGHT,
        RunState.QUEUED,
        RunState.NOTIFYING,
        RunState.RELEASE_WAIT,
    }
)


class Phase(StrEnum):
    """The runbook's phases, in order, as people see them."""

    APPROVAL = "approval"
    PREFLIGHT = "preflight"
    QUEUE = "queue"
    NOTIFY = "notify"
    TRIGGER = "trigger"
    RELEASE_WAIT = "release_wait"
    RELEASE_CHECK = "release_check"
    DEPLOY = "deploy"
    SHIELD = "shield"
    VERIFY = "verify"
    RESOLVE = "resolve"
    POSTMORTEM = "postmortem"


# The steps `oob status` shows, in order: the phases (here, so that a view of a run loads none
# of the workflow's modules).
STEPS = tuple(p.value for p in Phase)
# Steps only some runs take: the wait for a release slot, where the plan limits releases.
OPTIONAL_STEPS = frozenset({Phase.QUEUE.value})
