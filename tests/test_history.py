"""Learned estimates: median and 90th percentile of successful builds per Jenkins stage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from oob.config import load
from oob.history import learn
from oob.ports import Build

START = datetime(2024, 6, 23, tzinfo=UTC)


def run(job: str, number: int, minutes: float, result: str | None = "SUCCESS") -> Build:
    return Build(
        job=job,
        number=number,
        url="u",
        building=result is None,
        result=result,
        started_at=START,
        duration_seconds=0 if result is None else minutes * 60,
        estimated_seconds=None,
        sha=None,
    )


class Server:
    def __init__(self, builds: dict[str, list[Build]]) -> None:
        self.by_job = builds
        self.limits: list[int] = []

    def builds(self, path: str, limit: int = 20) -> list[Build]:
        self.limits.append(limit)
        return self.by_job.get(path, [])[:limit]


def test_median_and_p90_of_successful_builds_only(preset_file: Path) -> None:
    gate = "testing/cms-post-deploy-tests-staging"
    durations = [50, 52, 54, 55, 56, 58, 60, 61, 70, 90]
    builds = [run(gate, n, m) for n, m in enumerate(durations)]
    builds += [run(gate, 98, 5, "FAILURE"), run(gate, 99, 0, None), run(gate, 97, 3, "ABORTED")]
    server = Server({gate: builds})
    learned = learn(load(preset_file).pipeline, server, limit=50)  # type: ignore[arg-type]
    assert list(learned) == [gate]  # stages without builds are left out
    got = learned[gate]
    assert (got.samples, got.median_minutes, got.p90_minutes) == (10, 57, 70)
    assert set(server.limits) == {50}


def test_one_build_is_its_own_median_and_p90(preset_file: Path) -> None:
    server = Server({"releases/cms": [run("releases/cms", 1, 2)]})
    got = learn(load(preset_file).pipeline, server)["releases/cms"]  # type: ignore[arg-type]
    assert (got.samples, got.median_minutes, got.p90_minutes) == (1, 2, 2)
