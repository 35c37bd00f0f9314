"""`oob audit verify`: check that the audit log's hash chains are intact."""

from __future__ import annotations

from typing import Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext

audit_app = typer.Typer(help="Check the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command()
def verify(
    ctx: typer.Context,
    run_id: Annotated[
        str | None, typer.Argument(help="The run (default: every run, and events outside runs).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check each run's hash chain; name the first event changed, removed or inserted.

    Exit status 0 when every chain is intact, 1 when one was tampered with.
    """
    from oob.audit import verify as verify_one
    from oob.audit import verify_store
    from oob.store import open_store

    obj: AppContext = ctx.obj
    store = open_store()
    try:
        verdicts = verify_store(store) if run_id is None else [verify_one(store, run_id)]
    finally:
        store.close()
    if as_json:
        obj.print_json(
            [
                {
                    "run_id": v.run_id,
                    "ok": v.ok,
                    "events": v.events,
                    "chained": v.chained,
                    "head": v.head,
                    "problem": v.problem,
                    "event_id": v.event_id,
                }
                for v in verdicts
            ]
        )
    else:
        for v in verdicts:
            obj.console.print(v.line(), markup=False, soft_wrap=True)
    if not all(v.ok for v in verdicts):
        raise typer.Exit(1)
