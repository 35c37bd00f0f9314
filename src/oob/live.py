"""The live view of a run: stages with estimate and actual, the current step, the ETA to
restore service and the latest events, refreshed as the run goes. On a terminal it is a rich
`Live` display; elsewhere (a pipe, a CI log) it prints each new event as one plain line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from oob.eta import format_minutes

if TYPE_CHECKING:
    from rich.console import Console

    from oob.readmodel import Snapshot
    from oob.store import Event, Store

STATUS_STYLE = {
    "SUCCESS": "green",
    "done": "green",
    "running": "yellow",
    "pending": "dim",
    "skipped": "dim",
}


def render(view: Snapshot) -> RenderableType:
    """One frame of the live view."""
    run = view.run
    head = Text.assemble(
        ("run ", "bold"),
        (run.id, "bold cyan"),
        f"  {run.pipeline}  fix {run.fix_sha[:7]}  ",
        (run.state.value, "bold" if run.active else "bold magenta"),
    )
    if view.eta_minutes is not None:
        head.append(f"  ETA to restore service {format_minutes(view.eta_minutes)}")
    head.append(f"  plan {view.plan}", "dim")
    steps = Text("steps: ")
    for step in view.steps:
        steps.append(step.name, STATUS_STYLE.get(step.status, "red"))
        steps.append("  ")
    stages = Table(box=None, pad_edge=False, show_edge=False)
    stages.add_column("stage")
    stages.add_column("estimate", justify="right")
    stages.add_column("actual", justify="right")
    stages.add_column("status")
    for stage in view.stages:
        actual = "" if stage.actual_minutes is None else format_minutes(stage.actual_minutes)
        stages.add_row(
            Text(stage.name),  # as written: a string cell would be Rich markup
            format_minutes(stage.estimate_minutes),
            actual,
            Text(stage.status, STATUS_STYLE.get(stage.status, "red")),
        )
    events = Table(box=None, pad_edge=False, show_header=False, show_edge=False)
    for event in view.events:
        events.add_row(f"{event.at:%H:%M:%S}", Text(event.actor), Text(event.summary))
    parts: list[RenderableType] = [head, steps, stages]
    if view.waiting is not None:
        parts.append(Text(str(view.waiting), "bold yellow"))
    for missed in view.undelivered:
        parts.append(Text(str(missed), "bold red"))
    return Group(*parts, Text("latest:", "bold"), events)


def follow(
    store: Store,
    run_id: str,
    console: Console,
    *,
    refresh_seconds: float = 0.5,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Show run `run_id` until it ends (or `stop()` says so)."""
    from oob.procedure import finished
    from oob.readmodel import snapshot

    if not console.is_terminal:
        _follow_plain(store, run_id, console, refresh_seconds, stop)
        return
    from rich.live import Live

    now = store.clock.now
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            view = snapshot(store, run_id, now())
            live.update(render(view), refresh=True)
            if (not view.run.active and finished(store.events(run_id))) or stop():
                return
            time.sleep(refresh_seconds)


def _follow_plain(
    store: Store,
    run_id: str,
    console: Console,
    refresh_seconds: float,
    stop: Callable[[], bool],
) -> None:
    from oob.procedure import finished

    seen: list[Event] = []
    while True:
        events = store.events(run_id, after=seen[-1].id if seen else 0)
        for event in events:
            console.print(line(event), highlight=False, markup=False, soft_wrap=True)
        seen.extend(events)
        if (not store.run(run_id).active and finished(seen)) or stop():
            return
        time.sleep(refresh_seconds)


def line(event: Event) -> str:
    """An event as one plain line: UTC time with date, actor, source, summary."""
    return f"{event.at:%Y-%m-%d %H:%M:%S}Z {event.actor} ({event.source.value}) {event.summary}"
