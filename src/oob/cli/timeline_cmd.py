"""`oob timeline`: the lead-time table, and the answer to "how long until service is restored?"."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from oob.cli import app
from oob.cli.context import AppContext
from oob.cli.options import JsonOption, PipelineOption

if TYPE_CHECKING:
    from rich.table import Table

    from oob.config import Config
    from oob.eta import LeadTime, Stage
    from oob.history import Learned

# What `--json` prints of a stage's learned durations, in this order.
LEARNED_JSON = ("median_minutes", "p90_minutes", "samples")


@app.command()
def timeline(
    ctx: typer.Context,
    from_stage: Annotated[
        str | None,
        typer.Option("--from", help="The stage the fix is at now (name or job path)."),
    ] = None,
    as_json: JsonOption = False,
    learn: Annotated[
        bool,
        typer.Option(
            "--learn",
            help="Use the median of recent successful Jenkins builds per stage (p90 beside it).",
        ),
    ] = False,
    pipeline_name: PipelineOption = None,
) -> None:
    """Show each stage's estimate, the time left after it, and the total lead time."""
    from oob.eta import lead_time

    obj: AppContext = ctx.obj
    config = obj.config.pick(pipeline_name)
    pipeline = config.pipeline
    learned = _learned(config) if learn else None
    medians = {name: found.median_minutes for name, found in (learned or {}).items()}
    result = lead_time(pipeline, from_stage, medians)
    obj.answer(
        as_json,
        lambda: _timeline_json(result, learned),
        lambda console: console.print(_table(f"Lead time of {pipeline.name}", result, learned)),
    )


def _timeline_json(result: LeadTime, learned: dict[str, Learned] | None) -> dict[str, Any]:
    """Each stage's estimate and the time left after it; with `--learn`, what was learned."""
    return {
        "stages": [
            {
                "name": leg.stage.name,
                "job": leg.stage.job,
                "estimate_minutes": leg.estimate_minutes,
                "remaining_after_minutes": leg.remaining_after_minutes,
                **(_learned_json(learned, leg.stage) if learned is not None else {}),
            }
            for leg in result.legs
        ],
        "total_minutes": result.total_minutes,
    }


def _table(title: str, result: LeadTime, learned: dict[str, Learned] | None) -> Table:
    """The lead-time table; with `--learn`, the configured estimate and the learned p90 beside."""
    from rich.table import Table

    from oob.eta import format_minutes

    table = Table(title=title, title_justify="left")
    table.add_column("Stage", no_wrap=True)
    table.add_column("Time to complete", justify="right")
    table.add_column("Time remaining after", justify="right")
    if learned is not None:
        table.add_column("Configured", justify="right")
        table.add_column("Learned p90 (builds)", justify="right")
    for leg in result.legs:
        row = [
            leg.stage.name,
            format_minutes(leg.estimate_minutes),
            format_minutes(leg.remaining_after_minutes) if leg.remaining_after_minutes else "—",
        ]
        if learned is not None:
            found = learned.get(leg.stage.name)
            row.append(format_minutes(leg.stage.estimate_minutes))
            row.append(f"{format_minutes(found.p90_minutes)} ({found.samples})" if found else "—")
        table.add_row(*row)
    table.add_section()
    table.add_row("Total", format_minutes(result.total_minutes), "")
    return table


def _learned(config: Config) -> dict[str, Learned]:
    from oob.adapters import make_build_server
    from oob.history import learn

    server = make_build_server(config)
    try:
        return learn(config.pipeline, server)
    finally:
        server.close()


def _learned_json(learned: dict[str, Learned], stage: Stage) -> dict[str, Any]:
    """The configured estimate, and what was learned (null when nothing was)."""
    found = learned.get(stage.name)
    return {
        "configured_minutes": stage.estimate_minutes,
        "learned": None if found is None else {key: getattr(found, key) for key in LEARNED_JSON},
    }
