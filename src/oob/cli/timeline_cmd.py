"""`oob timeline`: the lead-time table, and the answer to "how long until service is restored?"."""

from __future__ import annotations

from typing import Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext


@app.command()
def timeline(
    ctx: typer.Context,
    from_stage: Annotated[
        str | None,
        typer.Option("--from", help="The stage the fix is at now (name or job path)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each stage's estimate, the time left after it, and the total lead time."""
    from oob.eta import format_minutes, lead_time

    obj: AppContext = ctx.obj
    pipeline = obj.config.pipeline
    result = lead_time(pipeline, from_stage)
    if as_json:
        payload = {
            "stages": [
                {
                    "name": leg.stage.name,
                    "job": leg.stage.job,
                    "estimate_minutes": leg.estimate_minutes,
                    "remaining_after_minutes": leg.remaining_after_minutes,
                }
                for leg in result.legs
            ],
            "total_minutes": result.total_minutes,
        }
        obj.print_json(payload)
        return

    from rich.table import Table

    table = Table(title=f"Lead time of {pipeline.name}", title_justify="left")
    table.add_column("Stage", no_wrap=True)
    table.add_column("Time to complete", justify="right")
    table.add_column("Time remaining after", justify="right")
    for leg in result.legs:
        table.add_row(
            leg.stage.name,
            format_minutes(leg.estimate_minutes),
            format_minutes(leg.remaining_after_minutes) if leg.remaining_after_minutes else "—",
        )
    table.add_section()
    table.add_row("Total", format_minutes(result.total_minutes), "")
    obj.console.print(table)
