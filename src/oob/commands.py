"""What people do to runs: start one (after `checked_request`), and decide on it (approve,
deny, cancel, confirm-fix, reject-fix), abandon it, send again what it could not deliver, lift
its merge hold by hand.

Every decision goes through the policy (`oob.policy`) inside one transaction of the store
(`Store.decide`), with the roles of the run's own pipeline: the caller gets the real answer
(accepted, or `Refused` saying why), and every refusal is in the run's audit log. An accepted
decision then wakes the run's workflow, which reads it from the store. The CLI, the dashboard
and the simulated people of a rehearsal all call this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from oob.errors import EXIT_USAGE, OobError, PermissionDenied, ProcedureError
from oob.policy import RULES, Action, role_refusal
from oob.states import RunState, Source
from oob.store import Decision, Event, Run, RunRequest, Store

if TYPE_CHECKING:
    from oob.config import Config
    from oob.events import MessageUndelivered
    from oob.ports import Chat, CodeHost


class Refused(ProcedureError):
    """The policy refused a command: the run's state, or a decision taken first (exit 2)."""

    exit_code = EXIT_USAGE


def refusal(decision: Decision, run_id: str) -> OobError:
    """The error that tells a person why the policy refused their command."""
    hint = f"see where run {run_id} is with `oob status {run_id}`"
    if decision.by_role:
        return PermissionDenied(f"refused: {decision.reason}", hint=hint)
    return Refused(f"refused: {decision.reason}", hint=hint)


def refuse_outside_runs(
    store: Store, config: Config, action: Action, actor: str, source: Source
) -> None:
    """`PermissionDenied`, recorded in the audit log outside runs, when `actor`'s roles in the
    config do not allow `action` where there is no run to decide it on (a deploy; an override
    while no run is active)."""
    from oob.events import CommandRefused

    why = role_refusal(config.roles, action, actor)
    if why is None:
        return
    refused = CommandRefused(action.value, why)
    summary = f"{action.value} by {actor} refused: {why}"
    store.record(None, refused, summary, actor=actor, source=source)
    role = RULES[action].roles[0].value
    raise PermissionDenied(why, hint=f"the config's [roles] {role} names who may")


def checked_request(  # noqa: PLR0917 - who asks, for what, where
    store: Callable[[], Store],
    config: Config,
    actor: str,
    fix: str,
    texts: Mapping[str, str],
    release_wait_minutes: float | None,
    source: Source,
) -> RunRequest:
    """The run `actor` asks for, once everything that can be checked before it exists is:
    their role (a refusal recorded), the texts (`texts` by their `oob deploy` option, e.g.
    `--symptoms`), a free pipeline, and the fix commit, resolved (and so found) by the code
    host (every service's token is needed for that). `oob deploy` and the dashboard's
    `POST /api/runs` both ask this. `store` opens the run store: only once the texts are
    good, or to record a refusal, so that a mistyped deploy leaves nothing behind."""
    from oob.adapters import connect
    from oob.limits import check_text
    from oob.preflight import resolve_fix

    if role_refusal(config.roles, Action.DEPLOY, actor):  # recorded, then raised
        refuse_outside_runs(store(), config, Action.DEPLOY, actor, source)
    required = ("--symptoms", "--cause", "--fix-summary")
    checked = {
        option.removeprefix("--").replace("-", "_"): check_text(
            option, text, required=option in required
        )
        for option, text in texts.items()
    }
    _refuse_busy_pipeline(store(), config.pipeline.name)
    with connect(config) as services:
        fix_sha = resolve_fix(services.code_host, fix)
    wait = config.pipeline.release_wait if release_wait_minutes is None else release_wait_minutes
    return RunRequest(
        pipeline=config.pipeline.name,
        requester=actor,
        fix_sha=fix_sha,
        release_wait_minutes=wait,
        **checked,
    )


def _refuse_busy_pipeline(store: Store, pipeline: str) -> None:
    """Refuse a deploy while another run holds the pipeline, naming it and its requester."""
    from oob.store import RunBusy

    holder = store.active_run(pipeline)
    if holder is not None:
        raise RunBusy(
            f"run {holder.id} of {pipeline} is active, started by "
            f"{holder.requester} at {holder.created_at:%Y-%m-%d %H:%M} UTC ({holder.state.value})",
            hint=f"follow it with `oob watch {holder.id}`",
        )


class Control:
    """Starts runs and takes people's decisions on them."""

    def __init__(self, store: Store, url: str) -> None:
        self.store = store
        self.url = url

    def start(
        self,
        config: Config,
        request: RunRequest,
        *,
        source: Source = Source.CLI,
        approval_timeout_minutes: float | None = None,
    ) -> Run:
        """Record a new run following `config` (its plan, frozen now) and queue it; refused
        when the requester is no deployer or the pipeline has an active run."""
        from oob import durable
        from oob.events import Requested
        from oob.plan import freeze

        config = config.for_pipeline(request.pipeline)  # the run follows its pipeline's
        refuse_outside_runs(self.store, config, Action.DEPLOY, request.requester, source)
        run = self.store.create_run(request, freeze(config))
        if approval_timeout_minutes:
            self.store.record_facts(run.id, approval_timeout_minutes=approval_timeout_minutes)
        asked = Requested(
            fix_sha=request.fix_sha,
            symptoms=request.symptoms,
            cause=request.cause,
            fix_summary=request.fix_summary,
            release_wait_minutes=request.release_wait_minutes,
            affects=request.affects,
        )
        summary = f"{request.requester} requested an out-of-band deploy of {request.fix_sha[:7]}"
        self.store.record(
            run.id,
            asked,
            summary,
            actor=request.requester,
            source=source,
            key=f"{run.id}#requested",
        )
        try:
            durable.enqueue(self.url, run.id)
        except Exception as exc:
            self.fail(run.id, f"could not be queued: {exc}")
            raise ProcedureError(
                f"run {run.id} could not be queued: {exc}",
                hint="is the database reachable? `oob worker` creates DBOS's tables",
            ) from None
        return run

    def fail(self, run_id: str, cause: str) -> Run:
        """End a run no worker will execute as `failed`, freeing its pipeline."""
        from oob.events import Ended

        ended = Ended(RunState.FAILED.value, cause)
        self.store.record(
            run_id, ended, f"run ended: failed ({cause})", actor="oob", source=Source.CLI
        )
        self.store.transition(run_id, RunState.CLOSING)
        return self.store.transition(run_id, RunState.FAILED)

    def decide(
        self,
        run_id: str,
        action: Action,
        actor: str,
        text: str = "",
        *,
        source: Source = Source.CLI,
        asserted: bool = False,
    ) -> Run:
        """Take `action` on a run: accepted (the workflow is woken), or `Refused`."""
        from oob import durable

        decision = self.store.decide(run_id, action, actor, source, text, asserted=asserted)
        if not decision.accepted:
            raise refusal(decision, run_id)
        assert decision.event is not None
        # If the wake is lost, the decision stands: the run rereads decisions at every look.
        with contextlib.suppress(Exception):
            durable.wake(self.url, run_id, f"{run_id}:{decision.event.id}")
        return self.store.run(run_id)

    def approve(self, run_id: str, actor: str, note: str = "", source: Source = Source.CLI) -> Run:
        return self.decide(run_id, Action.APPROVE, actor, note, source=source)

    def deny(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        return self.decide(run_id, Action.DENY, actor, reason, source=source)

    def cancel(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        return self.decide(run_id, Action.CANCEL, actor, reason, source=source)

    def confirm_fix(
        self, run_id: str, actor: str, note: str = "", source: Source = Source.CLI
    ) -> Run:
        return self.decide(run_id, Action.CONFIRM_FIX, actor, note, source=source)

    def reject_fix(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        return self.decide(run_id, Action.REJECT_FIX, actor, reason, source=source)

    def abandon(
        self,
        run_id: str,
        actor: str,
        reason: str,
        *,
        force: bool = False,
        source: Source = Source.CLI,
    ) -> Run:
        """End a run whose workflow cannot finish (it failed on a bug, its state is lost),
        freeing the pipeline: the last resort when `cancel` no longer can.

        The workflow is cancelled in DBOS and the run ends `cancelled`, recorded with who and
        why. Unlike `cancel`, oob tells nobody and does not stop a Jenkins build: whoever
        abandons a run does that by hand, and the event says so. Its enforced merge hold is
        lifted by the caller, with its own credentials (`lift_hold`). A run whose workflow is
        still executing is abandoned only with `force`.
        """
        from oob import durable
        from oob.events import Abandoned

        decision = self.store.decide(run_id, Action.ABANDON, actor, source, reason)
        if not decision.accepted:
            raise refusal(decision, run_id)
        run = self.store.run(run_id)
        status = durable.workflow_status(self.url, run_id)
        if status in ("PENDING", "ENQUEUED", "DELAYED") and not force:
            raise ProcedureError(
                f"run {run_id} is still executing ({run.state.value})",
                hint=f"`oob cancel {run_id}` ends it cleanly while it can; "
                "--force stops it wherever it is",
            )
        if status != "MISSING":
            durable.cancel_workflow(self.url, run_id)
        summary = (
            f"{actor} abandoned the run ({reason}); oob told nobody and stopped no build: "
            "do that by hand"
        )
        abandoned = Abandoned(reason, run.state.value, status)
        self.store.record(run_id, abandoned, summary, actor=actor, source=source)
        if run.state is not RunState.CLOSING:
            self.store.transition(run_id, RunState.CLOSING)
        return self.store.transition(run_id, RunState.CANCELLED)


def lift_hold(
    store: Store, code_host: CodeHost, run_id: str, actor: str, *, source: Source = Source.CLI
) -> list[str]:
    """Lift the enforced merge hold of an ended run (after `abandon`, or when its closing
    could not); returns what lifting changed, one line each. Recorded either way: lifted, or
    not lifted with the command that tries again (loud in `oob status` and the dashboard).
    Idempotent: what was lifted already is left as it is."""
    from oob.errors import IntegrationError
    from oob.events import HoldLifted, HoldNotLifted
    from oob.plan import thaw
    from oob.procedure.hold import Hold

    plan = thaw(store.plan(run_id))
    mode = plan.pipeline.merge_hold
    command = f"oob hold release {run_id}"
    try:
        changed = Hold(store, code_host, plan, run_id).lift()
    except IntegrationError as exc:
        error = str(exc).splitlines()[0]
        summary = f"the merge hold could not be lifted: {error}"
        not_lifted = HoldNotLifted(mode, command, error)
        store.record(run_id, not_lifted, summary, actor=actor, source=source)
        raise IntegrationError(
            f"run {run_id}: the merge hold could not be lifted: {error}",
            hint=f"try again with `{command}`",
            transient=exc.transient,
        ) from None
    summary = f"{actor} lifted the merge hold: " + (
        "; ".join(changed) if changed else "nothing was still held"
    )
    store.record(run_id, HoldLifted(mode, tuple(changed)), summary, actor=actor, source=source)
    return changed


def notify(
    store: Store, chat: Chat, run_id: str, message: str, actor: str, *, source: Source = Source.CLI
) -> list[str]:
    """Send again what run `run_id` could not deliver of `message`; returns the channels told.

    Each message goes with the key the workflow used, so a channel that got it after all is not
    told twice; what was sent is recorded, and "resume merging" records the hold as lifted.
    """
    from oob.errors import UsageError
    from oob.events import HoldReleased, Resent

    decision = store.decide(run_id, Action.NOTIFY, actor, source, message)
    if not decision.accepted:
        raise refusal(decision, run_id)
    pending = _undelivered(store.events(run_id), run_id, message)
    told = []
    for d in pending:
        if not d.text:
            raise UsageError(
                f"{message!r} for {d.audience} could not be rendered: {d.error}",
                hint="fix the message template, then tell them by hand",
            )
        posted = chat.post(d.channel, d.text, d.key)
        resent = Resent(d.key, d.channel, d.message, d.audience, posted.permalink)
        summary = f"{actor} sent {message.replace('_', ' ')} to {d.audience} in {d.channel} again"
        key = f"{d.key}:{d.channel}:resent"
        store.record(run_id, resent, summary, actor=actor, source=source, key=key)
        told.append(d.channel)
    if message == "resume_merging":
        key = f"{run_id}#hold-released-by-notify"
        summary = "engineers may resume merging"
        store.record(run_id, HoldReleased(), summary, actor=actor, source=source, key=key)
    return told


def _undelivered(events: list[Event], run_id: str, message: str) -> list[MessageUndelivered]:
    """The undelivered `message`s of a run that no channel got since (`UsageError` if none)."""
    from oob.errors import UsageError
    from oob.events import undelivered

    missed = [m for _, m in undelivered(events)]
    pending = [m for m in missed if m.message == message]
    if not pending:
        left = sorted({m.message for m in missed} - {message})
        raise UsageError(
            f"run {run_id} has no undelivered {message!r} message",
            hint=f"undelivered: {', '.join(left)}" if left else "nothing is left to send",
        )
    return pending
