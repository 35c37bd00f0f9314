"""`oob rehearse`: the whole procedure against the in-process sandbox, people simulated."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext, fail_unless
from oob.cli.options import Preset, PresetOption, refuse_nan

if TYPE_CHECKING:
    from rich.console import Console

    from oob.config import Config
    from oob.rehearse import Rehearsal
    from oob.store import Store


class MergeHold(StrEnum):
    """`[pipeline] merge_hold`, as the rehearsal's sandbox pipeline sets it."""

    ASK = "ask"
    STATUS = "status"
    LOCK = "lock"


RehearseTimeScaleOption = Annotated[
    float,
    typer.Option(
        "--time-scale", min=1, callback=refuse_nan, help="Simulated seconds per real second."
    ),
]
RehearseFaultsOption = Annotated[
    float,
    typer.Option(
        "--faults",
        min=0,
        max=1,
        callback=refuse_nan,
        help="Share of sandbox requests that fail.",
    ),
]


@app.command()
def rehearse(
    ctx: typer.Context,
    *,
    scenario: Annotated[
        str, typer.Option("--scenario", help="A sandbox scenario (see `oob sandbox --help`).")
    ] = "happy",
    time_scale: RehearseTimeScaleOption = 60.0,
    faults: RehearseFaultsOption = 0.0,
    merge_hold: Annotated[
        MergeHold,
        typer.Option(
            "--merge-hold",
            help="How the merge hold holds: ask engineers (the default), a required status "
            "on their pull requests, or GitHub's branch lock.",
        ),
    ] = MergeHold.ASK,
    preset: PresetOption = Preset.VA_CMS,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the result as JSON.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="Also show the workflow engine's log (steps retried after faults)."
        ),
    ] = False,
) -> None:
    """Rehearse an out-of-band deploy end to end on the sandbox (no config needed).

    Exit 0 when the run ends resolved, 1 otherwise.
    """
    from oob.live import follow
    from oob.rehearse import rehearse as play
    from oob.sandbox.faults import FaultPlan
    from oob.sandbox.scenario import load_scenario
    from oob.store import state_dir

    obj: AppContext = ctx.obj
    load_scenario(scenario)  # an unknown name is bad input, before anything starts
    _warn_of_ignored_tokens()

    def show(store: Store, config: Config, run_id: str, scale: float) -> None:
        follow(store, run_id, obj.console)

    result = play(
        scenario,
        time_scale=time_scale,
        faults=FaultPlan(rate=faults),
        drafts=state_dir() / "rehearsals",
        show=None if as_json else show,
        verbose=verbose,
        merge_hold=merge_hold.value,
        preset=preset.value,
    )
    obj.answer(as_json, result.to_json, lambda console: _summary(console, result))
    fail_unless(result.resolved)


def _warn_of_ignored_tokens() -> None:
    """Say which services' token variables are set: the sandbox does not use them."""
    from oob.sandbox.configfile import SERVICE_TOKEN_VARIABLES

    ignored = [name for name in SERVICE_TOKEN_VARIABLES if os.environ.get(name)]
    if ignored:
        typer.echo(
            f"rehearse: ignoring {', '.join(ignored)}: the sandbox uses its own token", err=True
        )


def _summary(console: Console, result: Rehearsal) -> None:
    effects = result.side_effects
    latency = result.reaction_latency_ms
    console.print(
        f"[bold]rehearsal of {result.scenario}:[/] {result.outcome} (run {result.run_id})"
    )
    console.print(
        f"  {result.sim_seconds / 60:.0f} simulated minutes in {result.wall_seconds:.1f} s; "
        f"the jobs alone take {result.critical_path_sim_seconds / 60:.0f} simulated minutes"
    )
    if latency["p50"] is not None:
        console.print(
            f"  reaction latency p50 {latency['p50']} ms, p95 {latency['p95']} ms, "
            f"max {latency['max']} ms"
        )
    triggered = {**effects["jenkins_builds_triggered"], **effects["workflows_dispatched"]}
    builds = ", ".join(f"{job} x{n}" for job, n in triggered.items())
    messages = ", ".join(f"{who} x{n}" for who, n in effects["chat_messages"].items())
    console.print(f"  builds triggered: {builds or 'none'}")
    console.print(f"  messages: {messages or 'none'}")
    console.print(
        f"  statuses posted: {effects['statuses_posted']}, "
        f"pull requests opened: {effects['pull_requests_opened']}"
    )
    if result.postmortem_path:
        console.print(f"  postmortem draft: {result.postmortem_path}", soft_wrap=True)
