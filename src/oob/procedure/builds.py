"""Builds in a run's timeline: what the workflow records when a build starts and ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oob.events import BuildRecord
from oob.ports import Build

if TYPE_CHECKING:
    from oob.procedure.flow import Flow


def _record(build: Build, *, ended: bool) -> BuildRecord:
    return BuildRecord(
        job=build.job,
        number=build.number,
        url=build.url,
        started_at=build.started_at,
        # The stages after the release job receive its tag as a parameter.
        parameters=dict(build.parameters),
        result=build.result if ended else None,
        duration_seconds=build.duration_seconds if ended else None,
    )


def record_started(flow: Flow, build: Build) -> None:
    flow.record_build(_record(build, ended=False), f"{build.job} #{build.number} started")


def record_finished(flow: Flow, build: Build) -> None:
    flow.record_build(
        _record(build, ended=True), f"{build.job} #{build.number} ended {build.result}"
    )
