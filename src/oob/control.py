"""What people do to runs, and what they see of them: the logic behind the run commands.

- `launch_dbos`/`shutdown_dbos`: DBOS configured the oob way, in a process that executes runs
  (a worker, or a rehearsal): one database URL shared with the run store, the application
  version pinned to oob's, one executor id per process, quiet logs, no Conductor.
- `Control`: starts runs and sends them people's commands (approve, deny, cancel, confirm),
  after checking the actor's role and the run's state. It talks to DBOS as a client, so any
  process can use it, whichever process executes the run.
- `snapshot`: the state of a run as the views and `oob status --json` show it: the steps with
  their times, the stages with estimate and actual, the ETA and the latest events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oob import __version__
from oob.errors import PermissionDenied, ProcedureError
from oob.eta import lead_time, remaining_minutes
from oob.store import Event, Run, RunRequest, RunState, Source, Store

if TYPE_CHECKING:
    from dbos import DBOSClient

    from oob.config import Config

APP_NAME = "oob"
QUEUE = "oob-runs"


def launch_dbos(
    url: str,
    executor_id: str,
    *,
    polling_seconds: float = 0.2,
    log_level: str = "WARNING",
) -> None:
    """Configure and launch DBOS in this process (which then executes runs).

    The procedure's workflow must be registered, and the runtime bound, before this call:
    DBOS recovers and dequeues runs as soon as it is launched.
    """
    from dbos import DBOS, DBOSConfig

    import oob.procedure  # noqa: F401 - registers the workflow and its steps

    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": url,
        # Pinned: DBOS otherwise hashes the code, and a new hash stops recovery of pending runs.
        "application_version": __version__,
        "executor_id": executor_id,
        "log_level": log_level,
        "console_log_level": log_level,
        # SQLite has no LISTEN/NOTIFY: DBOS polls for messages, by default every second.
        "notification_listener_polling_interval_sec": polling_seconds,
        "scheduler_polling_interval_sec": 60.0,
    }
    DBOS(config=config)
    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=polling_seconds)


def shutdown_dbos() -> None:
    """Stop DBOS in this process; runs it was executing continue in another worker."""
    from dbos import DBOS

    DBOS.destroy(destroy_registry=False)


def client(url: str) -> DBOSClient:
    """A DBOS client on the database at `url`, for processes that do not execute runs."""
    from dbos import DBOSClient

    return DBOSClient(system_database_url=url, application_name=APP_NAME)


@dataclass(frozen=True)
class Command:
    """A person's action on a run, as the workflow receives it."""

    kind: str  # approve | deny | cancel | confirm | reject
    actor: str
    source: Source
    note: str = ""

    def message(self) -> dict[str, str]:
        text_key = "reason" if self.kind in ("deny", "cancel", "reject") else "note"
        return {
            "kind": self.kind,
            "actor": self.actor,
            "source": self.source.value,
            text_key: self.note,
        }


class Control:
    """Starts runs and relays people's commands to them, checking roles and states."""

    def __init__(self, config: Config, store: Store, url: str) -> None:
        self.config = config
        self.store = store
        self.url = url

    def start(
        self,
        request: RunRequest,
        *,
        source: Source = Source.CLI,
        approval_timeout_minutes: float | None = None,
    ) -> Run:
        """Record a new run (refused if the pipeline has an active one) and queue it."""
        from dbos import EnqueueOptions

        from oob.events import KIND_REQUESTED
        from oob.procedure import WORKFLOW_NAME

        self._require(request.requester, self.config.roles.deployers, "start a deploy")
        run = self.store.create_run(request)
        if approval_timeout_minutes:
            self.store.record_facts(run.id, approval_timeout_minutes=approval_timeout_minutes)
        self.store.append_event(
            run.id,
            actor=request.requester,
            source=source,
            kind=KIND_REQUESTED,
            summary=f"{request.requester} requested an out-of-band deploy of {request.fix_sha[:7]}",
            details={
                "fix_sha": request.fix_sha,
                "symptoms": request.symptoms,
                "affects": request.affects,
                "cause": request.cause,
                "fix_summary": request.fix_summary,
                "release_wait_minutes": request.release_wait_minutes,
            },
            key=f"{run.id}#requested",
        )
        options: EnqueueOptions = {
            "queue_name": QUEUE,
            "workflow_name": WORKFLOW_NAME,
            "workflow_id": run.id,
            "app_version": __version__,
        }
        try:
            dbos = client(self.url)
            try:
                dbos.enqueue(options, run.id)
            finally:
                dbos.destroy()
        except Exception as exc:
            # A run nobody will execute must not hold the pipeline.
            self.store.transition(run.id, RunState.CLOSING)
            self.store.transition(run.id, RunState.CANCELLED)
            raise ProcedureError(
                f"run {run.id} could not be queued: {exc}",
                hint="is the database reachable? `oob worker` creates DBOS's tables",
            ) from None
        return run

    def approve(self, run_id: str, actor: str, note: str = "", source: Source = Source.CLI) -> Run:
        """Approve a run waiting for approval (not one's own, unless the config allows it)."""
        run = self._decision(run_id, actor, "approve")
        self._send(run, Command("approve", actor, source, note))
        return run

    def deny(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        """Deny a run waiting for approval."""
        run = self._decision(run_id, actor, "deny")
        self._send(run, Command("deny", actor, source, reason))
        return run

    def cancel(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        """Cancel a run until the release job picks its commit (later it is too risky)."""
        from oob.procedure import CANCELLABLE

        run = self.store.run(run_id)
        allowed = {*self.config.roles.deployers, *self.config.roles.approvers, run.requester}
        self._require(actor, allowed, "cancel a deploy")
        if run.state not in CANCELLABLE:
            raise ProcedureError(
                f"run {run_id} is {run.state.value}; it can no longer be cancelled",
                hint="the release job has picked its commit; let it finish, then deploy again",
            )
        self._send(run, Command("cancel", actor, source, reason))
        return run

    def confirm_fix(
        self, run_id: str, actor: str, note: str = "", source: Source = Source.CLI
    ) -> Run:
        """Confirm that the fix works in production (by hand, or with helpdesk's help)."""
        run = self.store.run(run_id)
        confirmers = self.config.roles.fix_confirmers or self.config.roles.deployers
        self._require(actor, confirmers, "confirm a fix")
        if not run.active:
            raise ProcedureError(f"run {run_id} has ended ({run.state.value})")
        self._send(run, Command("confirm", actor, source, note))
        return run

    def reject_fix(self, run_id: str, actor: str, reason: str, source: Source = Source.CLI) -> Run:
        """Say that the fix does not work in production: the run ends `fix_not_verified` now,
        with operators and helpdesk told, rather than when verification times out."""
        run = self.store.run(run_id)
        confirmers = self.config.roles.fix_confirmers or self.config.roles.deployers
        self._require(actor, confirmers, "judge a fix")
        if run.state is not RunState.VERIFYING:
            raise ProcedureError(
                f"run {run_id} is {run.state.value}; a fix is judged once it is in production",
                hint=f"follow it with `oob watch {run_id}`",
            )
        self._send(run, Command("reject", actor, source, reason))
        return run

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
        why. Unlike `cancel`, oob tells nobody and does not lift the merge hold or stop a
        Jenkins build: whoever abandons a run does that by hand, and the event says so. A run
        whose workflow is still executing is abandoned only with `force`.
        """
        from dbos._error import DBOSNonExistentWorkflowError

        from oob.events import KIND_ABANDONED

        run = self.store.run(run_id)
        self._require(actor, self.config.roles.deployers, "abandon a run")
        if not run.active:
            raise ProcedureError(f"run {run_id} has ended ({run.state.value})")
        dbos = client(self.url)
        try:
            try:
                status = str(dbos.retrieve_workflow(run_id).get_status().status)
            except DBOSNonExistentWorkflowError:
                status = "MISSING"
            if status in ("PENDING", "ENQUEUED", "DELAYED") and not force:
                raise ProcedureError(
                    f"run {run_id} is still executing ({run.state.value})",
                    hint=f"`oob cancel {run_id}` ends it cleanly while it can; "
                    "--force stops it wherever it is",
                )
            if status != "MISSING":
                dbos.cancel_workflow(run_id)
        finally:
            dbos.destroy()
        self.store.append_event(
            run_id,
            actor=actor,
            source=source,
            kind=KIND_ABANDONED,
            summary=f"{actor} abandoned the run ({reason}); oob told nobody, did not lift the "
            "merge hold and stopped no build: do that by hand",
            details={"reason": reason, "state": run.state.value, "workflow_status": status},
        )
        if run.state is not RunState.CLOSING:
            self.store.transition(run_id, RunState.CLOSING)
        return self.store.transition(run_id, RunState.CANCELLED)

    def _decision(self, run_id: str, actor: str, verb: str) -> Run:
        run = self.store.run(run_id)
        self._require(actor, self.config.roles.approvers, f"{verb} a deploy")
        if actor == run.requester and not self.config.roles.allow_self_approval:
            raise PermissionDenied(
                f"{actor} requested run {run_id} and cannot {verb} it",
                hint="ask another approver (roles.approvers)",
            )
        if run.state is not RunState.AWAITING_APPROVAL:
            raise ProcedureError(f"run {run_id} is not waiting for approval ({run.state.value})")
        return run

    def _require(self, actor: str, allowed: Any, action: str) -> None:
        if actor not in allowed:
            raise PermissionDenied(
                f"{actor} may not {action}",
                hint="the config's [roles] names who may; check OOB_USER or --as",
            )

    def _send(self, run: Run, command: Command) -> None:
        dbos = client(self.url)
        try:
            dbos.send(run.id, command.message(), "command", idempotency_key=str(uuid.uuid4()))
        finally:
            dbos.destroy()


# --- what people see --------------------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    name: str
    started_at: datetime | None
    ended_at: datetime | None
    status: str  # pending | running | done | skipped | <outcome>


@dataclass(frozen=True)
class StageView:
    name: str
    estimate_minutes: float
    actual_minutes: float | None
    status: str  # pending | running | SUCCESS | FAILURE | ...
    url: str | None


@dataclass(frozen=True)
class Snapshot:
    run: Run
    steps: tuple[StepView, ...]
    stages: tuple[StageView, ...]
    current_step: str | None
    eta_minutes: float | None
    events: tuple[Event, ...]

    def to_json(self) -> dict[str, Any]:
        """The object `oob status --json` prints."""
        return {
            **run_json(self.run),
            "current_step": self.current_step,
            "eta_minutes": None if self.eta_minutes is None else round(self.eta_minutes, 1),
            "steps": [
                {
                    "name": s.name,
                    "started_at": s.started_at.isoformat() if s.started_at else None,
                    "ended_at": s.ended_at.isoformat() if s.ended_at else None,
                    "status": s.status,
                }
                for s in self.steps
            ],
            "stages": [
                {
                    "name": s.name,
                    "estimate_minutes": s.estimate_minutes,
                    "actual_minutes": None
                    if s.actual_minutes is None
                    else round(s.actual_minutes, 1),
                    "status": s.status,
                    "url": s.url,
                }
                for s in self.stages
            ],
            "events": [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "source": e.source.value,
                    "kind": e.kind,
                    "summary": e.summary,
                }
                for e in self.events
            ],
        }


def run_json(run: Run) -> dict[str, Any]:
    """A run's identity and state as JSON (`oob runs --json`, the head of `status --json`)."""
    return {
        "run_id": run.id,
        "pipeline": run.pipeline,
        "state": run.state.value,
        "outcome": run.outcome.value if run.outcome else None,
        "requester": run.requester,
        "fix_sha": run.fix_sha,
        "created_at": run.created_at.isoformat(),
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
    }


def snapshot(
    store: Store,
    config: Config,
    run_id: str,
    now: datetime,
    *,
    time_scale: float = 1.0,
    latest: int = 8,
) -> Snapshot:
    """The state of run `run_id` at `now` (`time_scale`: simulated minutes per real minute)."""
    from oob.events import (
        KIND_BUILD_FINISHED,
        KIND_BUILD_STARTED,
        KIND_STEP_FINISHED,
        KIND_STEP_STARTED,
    )
    from oob.procedure import STEPS

    run = store.run(run_id)
    events = store.events(run_id)
    started: dict[str, datetime] = {}
    finished: dict[str, tuple[datetime, str]] = {}
    builds: dict[str, dict[str, Any]] = {}
    for event in events:
        step = event.details.get("step")
        if event.kind == KIND_STEP_STARTED and step:
            started[step] = event.at
        elif event.kind == KIND_STEP_FINISHED and step:
            finished[step] = (event.at, str(event.details.get("status", "done")))
        elif event.kind in (KIND_BUILD_STARTED, KIND_BUILD_FINISHED):
            job = str(event.details.get("job"))
            builds[job] = {**builds.get(job, {}), **event.details, "seen_at": event.at}
    current = next((s for s in started if s not in finished), None)
    steps = []
    for name in STEPS:
        end = finished.get(name)
        if end:
            status = end[1]
        elif name == current:
            status = "running"
        else:
            status = "skipped" if not run.active and name not in started else "pending"
        steps.append(StepView(name, started.get(name), end[0] if end else None, status))

    stages = []
    trigger_index = config.pipeline.index(config.pipeline.release_trigger)
    for stage in config.pipeline.stages[trigger_index:]:
        build = builds.get(stage.job or "")
        estimate = (
            run.release_wait_minutes if stage.name == config.pipeline.trigger.name else None
        ) or stage.estimate_minutes
        actual = None
        status = "pending"
        url = None
        if build:
            url = build.get("url")
            status = str(build.get("result") or "running")
            if build.get("duration_seconds"):
                actual = float(build["duration_seconds"]) / 60
            elif status == "running" and build.get("started_at"):
                begun = datetime.fromisoformat(str(build["started_at"]))
                actual = (now - begun).total_seconds() / 60 * time_scale
        stages.append(StageView(stage.name, estimate, actual, status, url))

    return Snapshot(
        run=run,
        steps=tuple(steps),
        stages=tuple(stages),
        current_step=current,
        eta_minutes=_eta(config, run, stages),
        events=tuple(events[-latest:]),
    )


def _eta(config: Config, run: Run, stages: list[StageView]) -> float | None:
    """Minutes until service is restored: None once the run ended."""
    if not run.active:
        return None
    trigger = config.pipeline.trigger.name
    estimates = {trigger: run.release_wait_minutes}
    running = next((s for s in stages if s.status == "running"), None)
    if running is not None:
        return remaining_minutes(config.pipeline, running.name, running.actual_minutes or 0)
    if all(s.status == "SUCCESS" for s in stages):
        return 0.0
    done = [s for s in stages if s.status == "SUCCESS"]
    start = stages[len(done)].name if done else trigger
    return lead_time(config.pipeline, start, estimates).total_minutes
