"""The commands of a run: deploy, watch, approve, deny, cancel, confirm-fix, status, runs, worker.

Handlers translate options into calls of `oob.commands`, `oob.worker` and `oob.live`, and show
what comes back; they hold no logic of their own. The commands of a run reach it where
`oob.cli.reach` says: the local store, or the dashboard's API (`OOB_SERVER`, `OOB_TOKEN`).
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from oob.cli import app
from oob.cli.context import AppContext
from oob.cli.options import (
    AsOption,
    JsonOption,
    PipelineOption,
    RunArgument,
    TimeScaleOption,
    refuse_nan,
)
from oob.cli.reach import DeployAsk, Runs, local_store, runs_for
from oob.errors import EXIT_FAILED
from oob.limits import MAX_MINUTES

if TYPE_CHECKING:
    from oob.commands import Control
    from oob.store import Run, Store


@dataclass(frozen=True)
class Decision:
    """A person's decision on a run, as its command takes it: `name` is the command and the
    policy's action; the text is a `--reason` where the policy needs one, else a `--note`."""

    name: str
    help: str
    text_help: str
    done: str  # what is said once it is taken: of {run}, by {actor}
    needs_reason: bool = False


def decision_command(decision: Decision) -> None:
    """Register `oob NAME RUN` with its note or reason and `--as`, taken through the policy."""
    option, default = ("--reason", ...) if decision.needs_reason else ("--note", "")

    def decide(
        ctx: typer.Context,
        run_id: RunArgument,
        # Made per decision, so a default rather than an annotation (Typer takes either).
        text: str = typer.Option(default, option, help=decision.text_help),
        as_: AsOption = None,
    ) -> None:
        obj, actor = _act(ctx, as_, run_id, decision.name, text)
        obj.console.print(decision.done.format(run=run_id, actor=actor))

    decide.__doc__ = decision.help
    app.command(decision.name)(decide)


def _control(store: Store) -> Control:
    from oob.commands import Control
    from oob.store import database_url

    return Control(store, database_url())


def _act(
    ctx: typer.Context, as_: str | None, run_id: str, action: str, text: str = ""
) -> tuple[AppContext, str]:
    """Take a person's decision on a run through the policy; returns who acted."""
    from oob.limits import check_text
    from oob.policy import RULES, Action

    obj: AppContext = ctx.obj
    needs_reason = RULES[Action(action)].needs_reason
    option = "--reason" if needs_reason else "--note"
    with closing(runs_for(obj, as_)) as runs:
        actor = runs.actor()
        text = check_text(option, text, required=needs_reason)
        runs.decide(run_id, action, option.removeprefix("--"), text)
    return obj, actor


def _exit_for(run: Run) -> None:
    from oob.store import RunState

    if not run.active and run.outcome is not RunState.RESOLVED:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def deploy(  # noqa: PLR0917 - typer passes every option by keyword
    ctx: typer.Context,
    fix: Annotated[str, typer.Option("--fix", help="The fix commit (7 to 40 hex digits).")],
    symptoms: Annotated[
        str, typer.Option("--symptoms", help="What is broken, e.g. 'editors cannot log in'.")
    ],
    cause: Annotated[str, typer.Option("--cause", help="The root cause, simply put.")],
    fix_summary: Annotated[str, typer.Option("--fix-summary", help="What the fix does.")],
    affects: Annotated[str, typer.Option("--affects", help="Who is affected.")] = "",
    release_wait: Annotated[
        float | None,
        typer.Option(
            "--release-wait",
            min=0,
            max=MAX_MINUTES,
            callback=refuse_nan,
            help="Minutes the release job waits.",
        ),
    ] = None,
    approval_timeout: Annotated[
        float | None,
        typer.Option(
            "--approval-timeout",
            min=0,
            max=MAX_MINUTES,
            callback=refuse_nan,
            help="Minutes to wait for a decision.",
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="Print only the run id and return.")
    ] = False,
    pipeline: PipelineOption = None,
    as_: AsOption = None,
) -> None:
    """Start an out-of-band deploy and follow it live (Ctrl-C detaches; the run goes on).

    Everything that can be checked is checked before a run exists: who you are and your role,
    the texts, the fix commit (it must be in the repository), the tokens, a free pipeline.
    """
    obj: AppContext = ctx.obj
    texts = {
        "--symptoms": symptoms,
        "--cause": cause,
        "--fix-summary": fix_summary,
        "--affects": affects,
    }
    with closing(runs_for(obj, as_)) as runs:
        ask = DeployAsk(pipeline, fix, texts, release_wait, approval_timeout)
        run_id, approvers = runs.start(ask)
        if detach:
            typer.echo(run_id)
            return
        obj.console.print(f"run {run_id} started; approvers: {', '.join(approvers)}")
        _follow(obj, runs, run_id)


@app.command()
def watch(ctx: typer.Context, run_id: RunArgument) -> None:
    """Follow a run live (Ctrl-C stops watching; the run goes on)."""
    obj: AppContext = ctx.obj
    with closing(runs_for(obj)) as runs:
        runs.run(run_id)
        _follow(obj, runs, run_id)


def _follow(obj: AppContext, runs: Runs, run_id: str) -> None:
    try:
        runs.follow(run_id, obj.console)
    except KeyboardInterrupt:
        obj.console.print(f"detached; run {run_id} goes on. Follow it with `oob watch {run_id}`.")
        return
    run = runs.run(run_id)
    obj.console.print(f"run {run_id}: {run.state.value}")
    _exit_for(run)


decision_command(
    Decision(
        "approve",
        "Approve a run waiting for the product owner's approval.",
        "A note for the timeline.",
        "approved run {run} as {actor}",
    )
)
decision_command(
    Decision(
        "deny",
        "Deny a run waiting for approval; it ends as `denied`.",
        "Why (told to the requester).",
        "denied run {run} as {actor}",
        needs_reason=True,
    )
)
decision_command(
    Decision(
        "cancel",
        "Cancel a run until the release job picks its commit: the job is stopped, all told.",
        "Why (told to everyone told).",
        "cancelling run {run}; follow it with `oob watch {run}`",
        needs_reason=True,
    )
)
decision_command(
    Decision(
        "reject-fix",
        "Say the fix does not work in production: the run ends as `fix_not_verified` now.",
        "What was seen (told to all).",
        "rejected the fix of run {run} as {actor}",
        needs_reason=True,
    )
)


@app.command()
def abandon(
    ctx: typer.Context,
    run_id: RunArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")],
    force: Annotated[
        bool, typer.Option("--force", help="Also stop a run whose workflow is still executing.")
    ] = False,
    as_: AsOption = None,
) -> None:
    """End a run that cannot finish (its workflow failed), freeing the pipeline and lifting
    its enforced merge hold; tells nobody."""
    from oob.adapters.pool import Pool
    from oob.commands import lift_hold
    from oob.identity import cli_actor
    from oob.limits import check_text
    from oob.plan import thaw

    obj: AppContext = ctx.obj
    actor = cli_actor(obj.config, as_)
    reason = check_text("--reason", reason, required=True)
    store = local_store(obj)
    _control(store).abandon(run_id, actor, reason, force=force)
    obj.console.print(f"abandoned run {run_id} as {actor}: tell the people who were told by hand")
    plan = thaw(store.plan(run_id))
    if plan.pipeline.merge_hold == "ask":
        return
    with Pool(obj.config) as services:  # the run's repository, with your credentials
        changed = lift_hold(store, services.code_host(plan), run_id, actor)
    obj.console.print(f"run {run_id}: " + ("; ".join(changed) or "nothing was held"))


@app.command()
def notify(
    ctx: typer.Context,
    run_id: RunArgument,
    message: Annotated[
        str, typer.Argument(help="The undelivered message, as `oob status RUN` names it.")
    ],
    as_: AsOption = None,
) -> None:
    """Send again a message the run could not deliver (e.g. resume_merging), once."""
    from oob.adapters.pool import Pool
    from oob.commands import notify as send_again
    from oob.identity import cli_actor
    from oob.plan import thaw

    obj: AppContext = ctx.obj
    actor = cli_actor(obj.config, as_)
    store = local_store(obj)
    with Pool(obj.config) as services:  # the run's channels, with your credentials
        chat = services.chat(thaw(store.plan(run_id)))
        told = send_again(store, chat, run_id, message, actor)
    obj.console.print(f"sent {message} to {', '.join(told)}")


decision_command(
    Decision(
        "confirm-fix",
        "Confirm that the fix works in production.",
        "How it was verified.",
        "fix of run {run} confirmed by {actor}",
    )
)


@app.command()
def status(
    ctx: typer.Context,
    run_id: Annotated[
        str | None, typer.Argument(help="The run (default: the active or latest one).")
    ] = None,
    as_json: JsonOption = False,
    all_events: Annotated[
        bool, typer.Option("--events", help="Show the whole timeline and audit log.")
    ] = False,
    pipeline: PipelineOption = None,
) -> None:
    """Where a run is: state, outcome, steps, stages, ETA, and whom it waits for."""
    from oob.live import render

    obj: AppContext = ctx.obj
    latest = 1_000_000 if all_events else 8
    with closing(runs_for(obj)) as runs:
        view = runs.snapshot(run_id, latest, pipeline)
    obj.answer(as_json, view.to_json, lambda console: console.print(render(view)))
    _exit_for(view.run)


@app.command()
def runs(
    ctx: typer.Context,
    as_json: JsonOption = False,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", metavar="NAME", help="Only this pipeline's runs.")
    ] = None,
    active: Annotated[bool, typer.Option("--active", help="Only the active runs.")] = False,
) -> None:
    """The recent runs, newest first."""
    from rich.table import Table
    from rich.text import Text

    obj: AppContext = ctx.obj
    with closing(runs_for(obj)) as reached:
        found = reached.runs(pipeline, active)
    if as_json:
        obj.print_json(found)
        return
    if not found:
        obj.console.print("no active runs" if active else "no runs yet")
        return
    table = Table("run", "pipeline", "state", "requester", "fix", "started (UTC)", box=None)
    for r in found:
        started = datetime.fromisoformat(r["created_at"])
        when = f"{started:%Y-%m-%d %H:%M}"
        cells = (r["run_id"], r["pipeline"], r["state"], r["requester"], r["fix_sha"][:7], when)
        table.add_row(*map(Text, cells))  # as typed: a string cell would be Rich markup
    obj.console.print(table)


ExitWhenIdleOption = Annotated[
    float | None,
    typer.Option(
        "--exit-when-idle",
        min=0,
        callback=refuse_nan,
        help="Leave after SECONDS without active runs.",
    ),
]
PollSecondsOption = Annotated[
    float,
    typer.Option(
        "--poll-seconds", min=0.01, callback=refuse_nan, help="How often to look at services."
    ),
]
LeaseSecondsOption = Annotated[
    float,
    typer.Option(
        "--lease-seconds",
        min=1,
        callback=refuse_nan,
        help="Silence after which a worker is dead.",
    ),
]


@app.command()
def worker(
    ctx: typer.Context,
    *,
    exit_when_idle: ExitWhenIdleOption = None,
    time_scale: TimeScaleOption = 1.0,
    poll_seconds: PollSecondsOption = 10.0,
    lease_seconds: LeaseSecondsOption = 30.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve this worker's retries and failures by service to Prometheus here.",
        ),
    ] = None,
    metrics_address: Annotated[
        str, typer.Option("--metrics-address", help="Where --metrics-port listens.")
    ] = "127.0.0.1",
) -> None:
    """Execute runs, and take over those of a dead worker (several may share PostgreSQL)."""
    import signal
    import threading

    from oob.adapters.pool import Pool
    from oob.adapters.retry import RetryPolicy
    from oob.procedure import Tuning
    from oob.store import database_url, redact_url, state_dir
    from oob.telemetry import traces
    from oob.worker import WorkerOptions, make_runtime, serve

    obj: AppContext = ctx.obj
    exported = traces(obj.config.telemetry)
    url = database_url()
    store = local_store(obj)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tuning = Tuning(poll_seconds=poll_seconds, time_scale=time_scale)
    options = WorkerOptions(
        lease_seconds=lease_seconds,
        exit_when_idle_seconds=exit_when_idle,
        traces=exported,
        max_runs=obj.config.workers.max_runs,
    )
    obj.console.print(f"database {redact_url(url)}")
    if metrics_port is not None:
        _serve_metrics(obj, metrics_port, metrics_address)
    with Pool(obj.config, policy=RetryPolicy(time_scale=time_scale)).check_tokens() as services:
        runtime = make_runtime(store, services, drafts=state_dir() / "postmortems", tuning=tuning)
        try:
            serve(runtime, url, options, stop, say=obj.console.print)
        except KeyboardInterrupt:
            stop.set()
    if stop.is_set():
        obj.console.print("worker stopped; its runs go on in another worker")
    _leave(traced=exported is not None)


def _leave(*, traced: bool) -> NoReturn:
    """Leave now, without waiting for the runs this process was executing: each waits in a
    thread (for a person, a build, a pause) until its next step, which would keep the process
    alive for minutes. What they did is in the database; another worker takes them over as
    after a crash, every step idempotent."""
    import os
    import sys

    if traced:
        from oob.telemetry import flush

        flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _serve_metrics(obj: AppContext, port: int, address: str) -> None:
    from oob.errors import UsageError
    from oob.worker_metrics import serve_metrics

    try:
        serve_metrics(port, address)
    except OSError as exc:
        raise UsageError(
            f"cannot serve metrics on {address}:{port}: {exc.strerror}",
            hint="choose a free --metrics-port",
        ) from None
    obj.console.print(f"metrics on http://{address}:{port}/metrics")
