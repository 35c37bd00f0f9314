"""The fleet at a glance: how many runs each pipeline has where, counted by the database.

The runs page and `GET /metrics` both read these counts, over every run the store holds (not
only the recent ones the page lists), in one query.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from oob.states import OUTCOMES, RunState

if TYPE_CHECKING:
    from oob.store import Store

# Where an active run is, in the words of the runs page: its states grouped. Every active state
# is in exactly one group.
GROUPS: tuple[tuple[str, str, frozenset[RunState]], ...] = (
    ("awaiting_approval", "Awaiting approval", frozenset({RunState.AWAITING_APPROVAL})),
    ("preflight", "Pre-flight", frozenset({RunState.PREFLIGHT})),
    ("queued", "Queued", frozenset({RunState.QUEUED})),
    (
        "releasing",
        "Releasing",  # notify, trigger, the release wait, its check, the deploy and its shield
        frozenset(
            {RunState.NOTIFYING, RunState.RELEASE_WAIT, RunState.RELEASING, RunState.DEPLOYING}
        ),
    ),
    ("verifying", "Verifying", frozenset({RunState.VERIFYING})),
    ("closing", "Closing", frozenset({RunState.CLOSING})),
)

Counts = Mapping[tuple[str, RunState], int]  # (pipeline, state) -> runs; an ended run's outcome


@dataclass(frozen=True)
class Count:
    """How many runs of a pipeline are in one group (`key`, named `label`)."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class Glance:
    """One pipeline: its active runs by group (every group, even empty) and its ended runs by
    outcome (only the outcomes it had)."""

    pipeline: str
    active: tuple[Count, ...]
    ended: tuple[Count, ...]


def counts(store: Store) -> dict[tuple[str, RunState], int]:
    """How many runs each pipeline has in each state, over every run the store holds."""
    query = "SELECT pipeline, state, count(*) AS n FROM oob_runs GROUP BY pipeline, state"
    with store.database.read() as tx:
        return {(r["pipeline"], RunState(r["state"])): r["n"] for r in tx.rows(query)}


def glance(found: Counts, labels: Mapping[RunState, str]) -> list[Glance]:
    """Each pipeline's counts, by name; `labels` names the outcomes."""
    pipelines = sorted({pipeline for pipeline, _ in found})
    return [
        Glance(
            pipeline,
            active=tuple(
                Count(key, label, sum(found.get((pipeline, s), 0) for s in states))
                for key, label, states in GROUPS
            ),
            ended=tuple(
                Count(outcome.value, labels[outcome], found[(pipeline, outcome)])
                for outcome in RunState
                if outcome in OUTCOMES and (pipeline, outcome) in found
            ),
        )
        for pipeline in pipelines
    ]
