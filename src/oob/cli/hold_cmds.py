"""`oob hold`: the enforced merge hold of a run, lifted by hand when its run could not."""

from __future__ import annotations

from typing import Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext

hold_app = typer.Typer(
    help="The merge hold of a run (`[pipeline] merge_hold`).", no_args_is_help=True
)
app.add_typer(hold_app, name="hold")


@hold_app.command("release")
def release(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run whose merge hold to lift.")],
    as_: Annotated[
        str | None, typer.Option("--as", help="Who you are (kept in the audit log).")
    ] = None,
) -> None:
    """Lift a run's merge hold by hand (after `oob abandon`, or when lifting failed); says
    what it changed. Lifting twice changes nothing the second time."""
    from oob.adapters.pool import Pool
    from oob.clock import clock_for
    from oob.commands import lift_hold, refusal
    from oob.identity import cli_actor
    from oob.plan import thaw
    from oob.policy import Action
    from oob.states import Source
    from oob.store import open_store

    obj: AppContext = ctx.obj
    actor = cli_actor(obj.config, as_)
    store = open_store(clock=clock_for(obj.config.sandbox_base()))
    decision = store.decide(
        run_id, Action.HOLD_RELEASE, actor, Source.CLI, asserted=as_ is not None
    )
    if not decision.accepted:
        raise refusal(decision, run_id)
    # The run's repository, with your credentials, never the plan's.
    with Pool(obj.config) as services:
        code_host = services.code_host(thaw(store.plan(run_id)))
        changed = lift_hold(store, code_host, run_id, actor)
    if not changed:
        mode = thaw(store.plan(run_id)).pipeline.merge_hold
        obj.console.print(f"run {run_id}: nothing was still held ({mode})")
    for line in changed:
        obj.console.print(f"run {run_id}: {line}")
