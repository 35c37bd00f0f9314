"""Overriding a commit status: the runbook's `github-status-updater`, done safely.

Only people in `roles.status_overriders` may, only for the required contexts, only with a
reason, and while a run is active only in the states the policy allows it (decided in the run's
store transaction, with the run's own roles, like every command; a refusal is audited). The
posted status says it was overridden and by whom, and keeps the link to the run that failed; the
override goes to the audit log (the run's timeline, or outside any run), where the postmortem
finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oob.clock import Clock
from oob.config import Config
from oob.errors import UsageError
from oob.events import StatusOverridden
from oob.policy import Action
from oob.ports import CodeHost, StatusState
from oob.preflight import validate_sha
from oob.store import Source, Store

if TYPE_CHECKING:
    from oob.ports import Connections

_DESCRIPTION_LIMIT = 140  # GitHub refuses longer status descriptions


@dataclass(frozen=True)
class Override:
    sha: str
    context: str
    previous_state: str  # a StatusState value, or "missing"
    description: str
    actor: str
    reason: str
    run_id: str | None  # the active run it was recorded in; None: the audit log


def override_in(
    config: Config,
    services: Connections,
    store: Store,
    *,
    pipeline: str | None = None,
    run_id: str | None = None,
    **asked: Any,
) -> Override:
    """`override_status` in the pipeline it is for (run `run_id`'s, else `pipeline`, needed
    when `config` has several), through that pipeline's code host."""
    chosen = config.for_pipeline(store.run(run_id).pipeline) if run_id else config.pick(pipeline)
    code_host = services.code_host(chosen)
    return override_status(chosen, code_host, store, run_id=run_id, **asked)


def override_status(
    config: Config,
    code_host: CodeHost,
    store: Store,
    *,
    actor: str,
    sha: str,
    context: str,
    reason: str,
    clock: Clock,
    source: Source = Source.CLI,
    run_id: str | None = None,
    asserted: bool = False,
) -> Override:
    """Set `context` to success on `sha` for `actor`, with `reason`, and audit it: on run
    `run_id`'s timeline (by default the pipeline's active run), or outside runs when none is."""
    reason = _checked(config, context, reason)
    sha = validate_sha(sha)
    run_id = _authorize(config, store, actor, reason, source, run_id, asserted=asserted)
    commit = code_host.commit(sha)
    previous = code_host.combined_status(commit.sha).context(context)
    if previous is not None and previous.state is StatusState.SUCCESS:
        raise UsageError(
            f"{context} is already success on {commit.sha[:7]}", hint="there is nothing to override"
        )
    done = Override(
        sha=commit.sha,
        context=context,
        previous_state=previous.state.value if previous else "missing",
        description=_description(actor, reason),
        actor=actor,
        reason=reason,
        run_id=run_id,
    )
    code_host.create_status(
        commit.sha,
        StatusState.SUCCESS,
        context,
        done.description,
        previous.target_url if previous else None,
    )
    _audit(store, done, source, clock)
    return done


def _checked(config: Config, context: str, reason: str) -> str:
    """The reason with its white space folded, once it and the context are valid: a reason
    is given, and the context is one the branch requires."""
    reason = " ".join(reason.split())
    if not reason:
        raise UsageError(
            "--reason is empty", hint="say why the test failed spuriously, for the postmortem"
        )
    required = config.services.github.required_contexts
    if context not in required:
        raise UsageError(
            f"{context!r} is not a required context",
            hint=f"use one of: {', '.join(required)}",
        )
    return reason


def _description(actor: str, reason: str) -> str:
    """The posted status's description: who overrode it and why, within GitHub's limit."""
    description = f"Overridden by {actor}: {reason}"
    if len(description) > _DESCRIPTION_LIMIT:
        description = description[: _DESCRIPTION_LIMIT - 1] + "…"
    return description


def _audit(store: Store, done: Override, source: Source, clock: Clock) -> None:
    """Record the override on its run's timeline, or in the audit log outside runs."""
    summary = (
        f"{done.actor} overrode {done.context} on {done.sha[:7]} "
        f"({done.previous_state} → success): {done.reason}"
    )
    overridden = StatusOverridden(done.sha, done.context, done.previous_state, done.reason)
    store.record(done.run_id, overridden, summary, actor=done.actor, source=source, at=clock.now())


def _authorize(  # noqa: PLR0917 - who, why, how, on which run
    config: Config,
    store: Store,
    actor: str,
    reason: str,
    source: Source,
    run_id: str | None,
    *,
    asserted: bool,
) -> str | None:
    """The run the override is decided on (`run_id`, else the pipeline's active one), after
    the policy allowed it there; None when no run is active and the config's roles allow it.
    A refusal is audited and raised."""
    from oob.commands import refusal, refuse_outside_runs

    if run_id is None:
        active = store.active_run(config.pipeline.name)
        run_id = active.id if active else None
    if run_id is None:
        refuse_outside_runs(store, config, Action.OVERRIDE_STATUS, actor, source)
        return None
    decision = store.decide(
        run_id, Action.OVERRIDE_STATUS, actor, source, reason, asserted=asserted
    )
    if not decision.accepted:
        raise refusal(decision, run_id)
    return run_id
