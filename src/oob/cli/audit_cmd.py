"""`oob audit verify`: check that the audit log's hash chains are intact."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext, fail_unless
from oob.cli.options import JsonOption

if TYPE_CHECKING:
    from rich.console import Console

audit_app = typer.Typer(help="Check the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

ChainArgument = Annotated[
    str | None, typer.Argument(help="The run (default: every run, and events outside runs).")
]
# What `--json` prints of each chain's verdict, in this order.
VERDICT_JSON = ("run_id", "ok", "events", "chained", "head", "problem", "event_id")


@audit_app.command()
def verify(ctx: typer.Context, run_id: ChainArgument = None, as_json: JsonOption = False) -> None:
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

    def show(console: Console) -> None:
        for v in verdicts:
            console.print(v.line(), markup=False, soft_wrap=True)

    obj.answer(
        as_json, lambda: [{key: getattr(v, key) for key in VERDICT_JSON} for v in verdicts], show
    )
    fail_unless(all(v.ok for v in verdicts))
