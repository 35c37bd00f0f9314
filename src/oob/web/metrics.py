"""`GET /metrics`: the fleet in Prometheus's text format, read from the run store at each scrape.

Nothing is counted in this process: `StoreCollector` reads the store when Prometheus scrapes,
so every `oob serve` on one database answers the same figures, and a restart loses none.
The runs by state and the runs ended are counted over every run (`oob.web.fleet.counts`); the
rest is read from the timelines of the most recent runs (`RECENT`), through the same fold the
pages show (`oob.readmodel.snapshot`). Times are in the runs' clock (the store's).

Who may read them: a signed-in dashboard user or a bearer token, as for the API; anyone when
`[web] metrics_public = true`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from oob.events import Queued
from oob.reaction import build_end_reactions
from oob.readmodel import Snapshot, snapshot
from oob.states import RunState
from oob.web.dashboard import Dashboard
from oob.web.fleet import counts
from oob.web.signin import api_who

if TYPE_CHECKING:
    from oob.store import Run, Store

RECENT = 50  # the runs whose timelines are read at each scrape: those the runs page lists


class StoreCollector(Collector):
    """A Prometheus collector over the run store: every figure is read when it is scraped."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        found = counts(self.store)
        pipelines = sorted({pipeline for pipeline, _ in found})
        runs = GaugeMetricFamily(
            "oob_runs", "Active runs by pipeline and state.", labels=["pipeline", "state"]
        )
        ended = CounterMetricFamily(
            "oob_runs_ended", "Runs ended, by pipeline and outcome.", labels=["pipeline", "outcome"]
        )
        for pipeline in pipelines:
            for state in RunState:
                n = found.get((pipeline, state), 0)
                if not state.terminal:
                    runs.add_metric([pipeline, state.value], n)
                elif n:
                    ended.add_metric([pipeline, state.value], n)
        yield runs
        yield ended

        now = self.store.clock.now()
        recent = self.store.runs(RECENT)
        shots = [snapshot(self.store, run.id, now, latest=1) for run in recent]
        window = f"among the {RECENT} most recent runs"
        yield from _reactions_and_queues(self.store, recent, window)
        phases = SummaryMetricFamily(
            "oob_phase_seconds",
            f"How long each phase took, from its step.started to its step.finished, {window}.",
            labels=["phase"],
        )
        for phase, seconds in sorted(_phase_seconds(shots).items()):
            phases.add_metric([phase], len(seconds), sum(seconds))
        yield phases

        undelivered = GaugeMetricFamily(
            "oob_messages_undelivered",
            f"Messages a run could not deliver and `oob notify` has not sent since, {window}.",
            labels=["pipeline"],
        )
        holds = GaugeMetricFamily(
            "oob_merge_holds_not_lifted",
            f"Merge holds a run could not lift and nobody has lifted since, {window}.",
            labels=["pipeline"],
        )
        missed: dict[tuple[str, bool], int] = defaultdict(int)
        for shot in shots:
            for u in shot.undelivered:
                missed[(shot.run.pipeline, u.hold)] += 1
        for pipeline in pipelines:
            undelivered.add_metric([pipeline], missed[(pipeline, False)])
            holds.add_metric([pipeline], missed[(pipeline, True)])
        yield undelivered
        yield holds

        yield GaugeMetricFamily(
            "oob_queue_depth",
            "Runs recorded but not yet started by a worker: in their first state (awaiting "
            f"approval) with no step started, {window}.",
            value=sum(1 for shot in shots if _queued(shot)),
        )


def _reactions_and_queues(store: Store, runs: list[Run], window: str) -> Iterator[Metric]:
    reaction = SummaryMetricFamily(
        "oob_build_end_reaction_seconds",
        f"From a followed build's end, as its server dates it, to the run recording it, {window}.",
        labels=["pipeline"],
    )
    queues = GaugeMetricFamily(
        "oob_release_queue",
        "Runs waiting for a release slot, by build server (`max_releases`).",
        labels=["server"],
    )
    waiting: dict[str, int] = defaultdict(int)
    seconds: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        events = store.events(run.id)
        seconds[run.pipeline] += build_end_reactions(events)
        if run.state is RunState.QUEUED:
            queued = [q for q in map(Queued.of, events) if q is not None]
            if queued:
                waiting[queued[-1].server] += 1
    for pipeline, found in sorted(seconds.items()):
        reaction.add_metric([pipeline], len(found), sum(found))
    for server, n in sorted(waiting.items()):
        queues.add_metric([server], n)
    yield reaction
    yield queues


def _phase_seconds(shots: list[Snapshot]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = defaultdict(list)
    for shot in shots:
        for step in shot.steps:
            if step.started_at is not None and step.ended_at is not None:
                found[step.name].append((step.ended_at - step.started_at).total_seconds())
    return found


def _queued(shot: Snapshot) -> bool:
    return shot.run.state is RunState.AWAITING_APPROVAL and all(
        step.started_at is None for step in shot.steps
    )


def metrics_routes(app: FastAPI, d: Dashboard) -> None:
    """`GET /metrics`, for dashboard users (or anyone, with `[web] metrics_public`)."""
    registry = CollectorRegistry(auto_describe=False)  # nothing is read until a scrape
    registry.register(StoreCollector(d.store))
    public = d.config.web is not None and d.config.web.metrics_public

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not public:
            identity = api_who(d, request)
            if isinstance(identity, Response):
                return identity
        body = await d.call(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
