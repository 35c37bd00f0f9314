"""Builds in a run's timeline: what the workflow records when a build starts and ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oob.events import KIND_BUILD_FINISHED, KIND_BUILD_STARTED
from oob.ports import Build

if TYPE_CHECKING:
    from oob.procedure.flow import Flow


def record_started(flow: Flow, build: Build) -> None:
    flow.record(
        KIND_BUILD_STARTED,
        f"{build.job} #{build.number} started",
        {
            "job": build.job,
            "number": build.number,
            "url": build.url,
            "started_at": build.started_at.isoformat(),
            # The stages after the release job receive its tag as a parameter.
            "parameters": dict(build.parameters),
        },
    )


def record_finished(flow: Flow, build: Build) -> None:
    flow.record(
        KIND_BUILD_FINISHED,
        f"{build.job} #{build.number} ended {build.result}",
        {
            "job": build.job,
            "number": build.number,
            "url": build.url,
            "result": build.result,
            "started_at": build.started_at.isoformat(),
            "duration_seconds": build.duration_seconds,
        },
    )
