"""Pre-flight over in-memory services: a linear history on main, builds, statuses."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oob.config import Config, load
from oob.errors import UsageError
from oob.ports import (
    Build,
    CombinedStatus,
    Commit,
    CommitStatus,
    CompareStatus,
    Comparison,
    StatusState,
)
from oob.preflight import GateState, Report, preflight, validate_sha

NOW = datetime(2024, 6, 23, 14, 0, tzinfo=UTC)
GATE = "testing/cms-post-deploy-tests-staging"
REQUIRED = [
    "va/tests/cypress",
    "va/tests/phpunit",
    "va/tests/status-error",
    "va/tests/content-build-gql",
]


def sha(n: int) -> str:
    return f"{n:02x}" * 20


OLD, FIX, LATER = sha(1), sha(2), sha(3)
ELSEWHERE = sha(9)  # on another branch, not containing the fix


@dataclass
class Clock:
    def now(self) -> datetime:
        return NOW


@dataclass
class World:
    """Main is OLD → FIX → LATER (up to `head`); ELSEWHERE diverged before FIX."""

    main: list[str] = field(default_factory=lambda: [OLD, FIX])
    builds: dict[str, list[Build]] = field(default_factory=dict)
    statuses: dict[str, list[CommitStatus]] = field(default_factory=dict)
    compares: int = 0

    # BuildServer
    def builds_of(self, path: str, limit: int = 20) -> list[Build]:
        return self.builds.get(path, [])[:limit]

    # CodeHost
    def commit(self, ref: str, repository: str | None = None) -> Commit:
        for full in [*self.main, ELSEWHERE, LATER]:
            if full.startswith(ref):
                return Commit(full, f"commit {full[-1]}", "dev", NOW - timedelta(hours=3), "u")
        raise UsageError(f"no commit {ref}")

    def combined_status(self, sha: str) -> CombinedStatus:
        statuses = tuple(self.statuses.get(sha, []))
        states = {s.state for s in statuses}
        if states & {StatusState.FAILURE, StatusState.ERROR}:
            state = StatusState.FAILURE
        elif not statuses or StatusState.PENDING in states:
            state = StatusState.PENDING
        else:
            state = StatusState.SUCCESS
        return CombinedStatus(sha, state, statuses)

    def compare(self, base: str, head: str) -> Comparison:
        self.compares += 1
        head = self.main[-1] if head == "main" else head
        order = [OLD, FIX, LATER]
        if head == base:
            status = CompareStatus.IDENTICAL
        elif ELSEWHERE in (head, base):
            status = CompareStatus.DIVERGED
        elif order.index(head) > order.index(base):
            status = CompareStatus.AHEAD
        else:
            status = CompareStatus.BEHIND
        return Comparison(base, head, status, 0, 0, "")

    def commits_after(self, sha: str, branch: str | None = None) -> list[Commit]:
        after = self.main[self.main.index(sha) + 1 :] if sha in self.main else []
        return [self.commit(s) for s in reversed(after)]


class Builds:
    def __init__(self, world: World) -> None:
        self.world = world

    def builds(self, path: str, limit: int = 20) -> list[Build]:
        return self.world.builds_of(path, limit)


def build(number: int, tested: str | None, result: str | None = "SUCCESS", **over: object) -> Build:
    made = Build(
        job=GATE,
        number=number,
        url=f"https://jenkins/job/{number}/",
        building=result is None,
        result=result,
        started_at=NOW - timedelta(minutes=60),
        duration_seconds=0 if result is None else 3300,
        estimated_seconds=3300,
        sha=tested,
    )
    return replace(made, **over)  # type: ignore[arg-type]


def passing(sha: str) -> list[CommitStatus]:
    return [CommitStatus(c, StatusState.SUCCESS, "ok", None, NOW) for c in REQUIRED]


@pytest.fixture
def config(preset_file: Path) -> Config:
    return load(preset_file)


@pytest.fixture
def world() -> World:
    return World(statuses={FIX: passing(FIX)})


def check(config: Config, world: World, ref: str = FIX[:7]) -> Report:
    return preflight(
        config,
        ref,
        build_server=Builds(world),
        code_host=world,
        clock=Clock(),  # type: ignore[arg-type]
    )


def test_ready_when_a_descendant_passed_and_every_context_passes(
    config: Config, world: World
) -> None:
    world.main.append(LATER)
    world.builds[GATE] = [build(12, LATER), build(11, OLD)]
    report = check(config, world)
    assert report.ready
    assert report.fix.sha == FIX  # the short SHA was resolved
    assert (report.gate.state, report.gate.build and report.gate.build.number) == (
        GateState.PASSED,
        12,
    )
    assert report.stage is None
    assert [c.sha for c in report.branch.commits_after] == [LATER]
    assert report.warnings  # main moved past the fix


def test_a_newer_failed_build_does_not_hide_an_older_pass(config: Config, world: World) -> None:
    world.builds[GATE] = [build(13, FIX, "FAILURE"), build(12, FIX)]
    report = check(config, world)
    assert report.gate.state is GateState.PASSED
    assert report.gate.build is not None
    assert report.gate.build.number == 12


def test_builds_of_other_commits_do_not_count(config: Config, world: World) -> None:
    world.builds[GATE] = [build(12, ELSEWHERE), build(11, OLD)]
    report = check(config, world)
    assert report.gate.state is GateState.NONE
    assert not report.ready
    assert any("no recent build" in r for r in report.reasons)


def test_a_running_build_says_when_it_should_finish(config: Config, world: World) -> None:
    world.builds[GATE] = [build(14, FIX, None, started_at=NOW - timedelta(minutes=30))]
    report = check(config, world)
    assert report.gate.state is GateState.RUNNING
    assert report.gate.expected_finish == NOW + timedelta(minutes=25)
    assert report.stage == GATE
    assert "expected to finish" in report.reasons[0]


def test_an_overdue_build_is_expected_now(config: Config, world: World) -> None:
    world.builds[GATE] = [build(14, FIX, None, started_at=NOW - timedelta(minutes=90))]
    assert check(config, world).gate.expected_finish == NOW


def test_the_newest_failed_build_is_named(config: Config, world: World) -> None:
    world.builds[GATE] = [build(15, FIX, "FAILURE")]
    report = check(config, world)
    assert report.gate.state is GateState.FAILED
    assert "#15" in report.reasons[0]
    assert "ended FAILURE" in report.reasons[0]


def test_builds_from_before_the_fix_are_not_compared(config: Config, world: World) -> None:
    old = NOW - timedelta(days=2)
    world.builds[GATE] = [build(n, sha(100 + n), started_at=old) for n in range(20)]
    report = check(config, world)
    assert report.gate.state is GateState.NONE
    assert world.compares == 1  # only the branch: no build is young enough to have the fix


def test_missing_and_failing_contexts_are_named(config: Config, world: World) -> None:
    world.builds[GATE] = [build(12, FIX)]
    world.statuses[FIX] = [
        CommitStatus("va/tests/cypress", StatusState.FAILURE, "3 failed", None, NOW),
        CommitStatus("va/tests/phpunit", StatusState.SUCCESS, "ok", None, NOW),
        CommitStatus("va/tests/status-error", StatusState.PENDING, None, None, NOW),
    ]
    report = check(config, world)
    assert report.status.failing == ("va/tests/cypress",)
    assert report.status.pending == ("va/tests/status-error",)
    assert report.status.missing == ("va/tests/content-build-gql",)
    assert len(report.problems) == 3
    assert "oob override-status" in report.problems[0].todo


def test_passing_required_contexts_but_a_failing_extra_one_is_not_ready(
    config: Config, world: World
) -> None:
    world.builds[GATE] = [build(12, FIX)]
    world.statuses[FIX] = [
        *passing(FIX),
        CommitStatus("lint", StatusState.FAILURE, None, None, NOW),
    ]
    report = check(config, world)
    assert not report.ready
    assert "because of lint" in report.reasons[0]
    row = next(c for c in report.status.contexts if c.context == "lint")
    assert not row.required


def test_a_fix_not_on_main_is_not_ready(config: Config, world: World) -> None:
    world.builds[GATE] = [build(12, ELSEWHERE)]
    world.statuses[ELSEWHERE] = passing(ELSEWHERE)
    report = check(config, world, ELSEWHERE)
    assert not report.branch.contains_fix
    assert "main does not contain the fix" in report.reasons


def test_the_stage_the_fix_is_at(config: Config, world: World) -> None:
    world.builds["deploys/cms-vagov-staging"] = [build(3, FIX, job="deploys/cms-vagov-staging")]
    report = check(config, world)
    assert report.stage == "cms/deploy-live-staging"


def test_json_has_every_section(config: Config, world: World) -> None:
    world.builds[GATE] = [build(12, FIX)]
    data = check(config, world).to_json()
    assert data["ready"] is True
    assert data["gate"]["build"]["finished_at"] == "2024-06-23T13:55:00+00:00"
    assert [c["state"] for c in data["status"]["contexts"]] == ["success"] * 4
    assert data["branch"] == {"name": "main", "contains_fix": True, "commits_after": []}


@pytest.mark.parametrize("bad", ["xyz1234", "abc", "a" * 41, "HEAD"])
def test_a_sha_that_is_not_hex_is_bad_input(bad: str) -> None:
    with pytest.raises(UsageError, match="not a commit SHA"):
        validate_sha(bad)


def test_an_unstable_gate_with_overridden_statuses_is_a_warning(
    config: Config, world: World
) -> None:
    world.builds[GATE] = [build(12, FIX, "UNSTABLE")]
    report = check(config, world)
    assert report.ready
    assert "ended UNSTABLE" in report.warnings[0].what


def test_an_unstable_gate_with_a_failing_status_is_a_problem(config: Config, world: World) -> None:
    world.builds[GATE] = [build(12, FIX, "UNSTABLE")]
    world.statuses[FIX] = [
        *passing(FIX)[1:],
        CommitStatus("va/tests/cypress", StatusState.FAILURE, None, None, NOW),
    ]
    report = check(config, world)
    assert len(report.problems) == 2
    assert "ended UNSTABLE" in report.problems[0].what


def test_the_worker_tells_the_workflow_when_the_running_gate_should_finish(
    config: Config, world: World, tmp_path: Path
) -> None:
    # The workflow paces its looks by this time; the worker used to drop it.
    from types import SimpleNamespace

    from oob.store import Store
    from oob.worker import make_runtime

    world.builds[GATE] = [build(14, FIX, None, started_at=NOW - timedelta(minutes=30))]
    services = SimpleNamespace(
        build_server=lambda _plan: Builds(world), code_host=lambda _plan: world
    )
    store = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}")
    try:
        runtime = make_runtime(store, services, drafts=tmp_path, clock=Clock())  # type: ignore[arg-type]
        readiness = runtime.readiness(config, FIX[:7])
    finally:
        store.close()
    assert (readiness.ready, readiness.stage) == (False, GATE)
    assert readiness.expected == NOW + timedelta(minutes=25)


def test_the_builds_the_status_and_the_branch_are_asked_at_once(
    config: Config, world: World
) -> None:
    # Three requests that do not depend on each other: none waits for another's answer. Asked
    # one after another, the first to arrive waits for the others in vain and the barrier breaks.
    world.builds[GATE] = [build(12, FIX)]
    met = threading.Barrier(3, timeout=10)

    class Meeting(World):
        def builds_of(self, path: str, limit: int = 20) -> list[Build]:
            met.wait()
            return super().builds_of(path, limit)

        def combined_status(self, sha: str) -> CombinedStatus:
            met.wait()
            return super().combined_status(sha)

        def compare(self, base: str, head: str) -> Comparison:
            if head == config.services.github.branch:
                met.wait()
            return super().compare(base, head)

    meeting = Meeting(world.main, world.builds, world.statuses)
    assert check(config, meeting).ready
