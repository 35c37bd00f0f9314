"""Lead-time arithmetic: how long each stage takes and how long until service is restored."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from oob.errors import UsageError


class Stage(Protocol):
    """A stage as the lead time reads it: the config's (`oob.config.Stage`) or a plan's
    outline's (`oob.plan.StageOutline`)."""

    @property
    def name(self) -> str: ...
    @property
    def job(self) -> str | None: ...
    @property
    def estimate_minutes(self) -> float: ...


class Stages(Protocol):
    """A pipeline's stages in order: the config's `Pipeline`, or a plan's outline's."""

    @property
    def name(self) -> str: ...
    @property
    def stages(self) -> Sequence[Stage]: ...
    def find(self, key: str) -> Stage | None: ...


S = TypeVar("S", bound=Stage)


def find_stage(stages: Sequence[S], key: str) -> S | None:
    """The stage named `key`, or whose job path is `key` (case-insensitive)."""
    key = key.strip().lower()
    for stage in stages:
        if key in (stage.name.lower(), (stage.job or "").lower()):
            return stage
    return None


@dataclass(frozen=True)
class Leg:
    """One stage of the lead time, with the time left once it completes (what
    `remaining_minutes` adds to what is left of the stage running now)."""

    stage: Stage
    estimate_minutes: float
    remaining_after_minutes: float


@dataclass(frozen=True)
class LeadTime:
    legs: tuple[Leg, ...]

    @property
    def total_minutes(self) -> float:
        return sum(leg.estimate_minutes for leg in self.legs)


def lead_time(
    pipeline: Stages,
    from_stage: str | None = None,
    estimates: Mapping[str, float] | None = None,
) -> LeadTime:
    """The stages from `from_stage` (the one the fix is at now; default the first) to the end.

    `estimates` maps stage names to minutes that replace the configured estimate (for example
    those learned from build history).
    """
    start = 0
    if from_stage is not None:
        stage = pipeline.find(from_stage)
        if stage is None:
            names = ", ".join(s.name for s in pipeline.stages)
            raise UsageError(
                f"no stage {from_stage!r} in pipeline {pipeline.name!r}",
                hint=f"use one of: {names}",
            )
        start = list(pipeline.stages).index(stage)
    stages = pipeline.stages[start:]
    minutes = [(estimates or {}).get(s.name, s.estimate_minutes) for s in stages]
    legs = []
    left = sum(minutes)
    for stage, estimate in zip(stages, minutes, strict=True):
        left -= estimate
        legs.append(Leg(stage, estimate, left))
    return LeadTime(tuple(legs))


def remaining_minutes(pipeline: Stages, stage: str, elapsed_minutes: float) -> float:
    """Minutes until the end of the pipeline for a run `elapsed_minutes` into `stage`.

    A stage running past its estimate counts as about to finish, never as negative time.
    """
    legs = lead_time(pipeline, stage).legs
    current = legs[0]
    return max(current.estimate_minutes - elapsed_minutes, 0) + current.remaining_after_minutes


def format_minutes(minutes: float) -> str:
    """`3 h 21 min`, `45 min`, `0 min`: whole minutes, rounded."""
    total = round(minutes)
    hours, mins = divmod(total, 60)
    if hours and mins:
        return f"{hours} h {mins} min"
    if hours:
        return f"{hours} h"
    return f"{mins} min"
