"""Estimates learned from the build server: how long each Jenkins stage really takes.

The median and 90th percentile of the durations of recent successful builds, per stage; the
lead-time arithmetic (`oob.eta.lead_time`) can use the medians instead of the configured
estimates.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from oob.config import Pipeline
from oob.ports import BuildServer

# Recent builds looked at per stage; Jenkins lists at most 100.
RECENT_BUILDS = 30


@dataclass(frozen=True)
class Learned:
    stage: str
    samples: int
    median_minutes: float
    p90_minutes: float


def learn(
    pipeline: Pipeline, build_server: BuildServer, *, limit: int = RECENT_BUILDS
) -> dict[str, Learned]:
    """Per build stage with successful builds among its `limit` most recent: its durations."""
    learned = {}
    for stage in pipeline.stages:
        if not stage.kind.builds or stage.job is None:
            continue
        minutes = sorted(
            b.duration_seconds / 60
            for b in build_server.builds(stage.job, limit=limit)
            if b.succeeded and not b.building and b.duration_seconds > 0
        )
        if minutes:
            learned[stage.name] = Learned(
                stage.name, len(minutes), statistics.median(minutes), _p90(minutes)
            )
    return learned


def _p90(ordered: list[float]) -> float:
    # Nearest rank: a duration that was actually seen, at or above 90 % of the others.
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
