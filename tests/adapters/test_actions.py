"""The GitHub Actions build server against the sandbox, over a real socket: both dispatch answers,
its own run among others dispatched in the same second, a lost answer, following the run's jobs
to the release line, and cancel."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from oob.adapters.actions import ActionsBuildServer
from oob.sandbox.actions import DISPATCH_LAG
from oob.sandbox.server import SandboxServer
from tests.adapters.conftest import POLICY, START, TOKEN, Start

RELEASE = "release.yml"
PATTERN = r"Commit status: (?P<state>\w+) : (?P<sha>[0-9a-f]{7,40})"
MINE = {"release_wait": "1", "oob_run": "run-1"}


class SimClock:
    """The sandbox's simulated now, as oob's clock."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server

    def now(self) -> datetime:
        with self.server.world.session() as world:
            return datetime.fromtimestamp(world.now, UTC)


def adapter(
    server: SandboxServer,
    transport: httpx.BaseTransport | None = None,
    meanwhile: Callable[[], None] = lambda: None,
) -> ActionsBuildServer:
    """The adapter as a run makes it: its pauses let the sandbox's manual clock go on, after
    `meanwhile` (what others do while it waits)."""
    return ActionsBuildServer(
        f"{server.url}/github",
        "department-of-veterans-affairs/va.gov-cms",
        TOKEN,
        token_env="OOB_GITHUB_TOKEN",
        timeout_seconds=5,
        policy=POLICY,
        transport=transport,
        clock=SimClock(server),
        sleep=lambda _seconds: pause(server, meanwhile),
        poll_seconds=1,
        find_seconds=5,
    )


def pause(server: SandboxServer, meanwhile: Callable[[], None]) -> None:
    meanwhile()
    server.advance(1)


@pytest.fixture
def actions(start: Start) -> Iterator[tuple[SandboxServer, ActionsBuildServer]]:
    server, _ = start()
    made = adapter(server)
    yield server, made
    made.close()


def dispatches(server: SandboxServer) -> list[dict[str, Any]]:
    return [e["summary"] for e in server.ledger() if e["path"].endswith("/dispatches")]


def others_dispatch(server: SandboxServer, *who: tuple[str, str]) -> None:
    """Other people (or another script with oob's token) dispatch the release now."""
    with server.world.session() as world:
        for actor, correlation in who:
            inputs = {"release_wait": "1", "oob_run": correlation}
            world.dispatch(world.workflows[RELEASE], "main", inputs, actor, lag=DISPATCH_LAG)


def test_run_details_name_the_run_at_once(
    actions: tuple[SandboxServer, ActionsBuildServer],
) -> None:
    server, build_server = actions
    queued = build_server.trigger(RELEASE, MINE)
    assert [d["run"] for d in dispatches(server)] == [queued.queue_id]
    assert queued.build_number == queued.queue_id
    run = build_server.build(RELEASE, queued.queue_id)
    assert (run.building, run.result, run.causes) == (True, None, ("oob",))


@pytest.mark.parametrize("mode", ["no-content", "refuse"])
def test_without_run_details_it_follows_its_own_run_among_others_of_the_same_second(
    start: Start, mode: str
) -> None:
    server, _ = start(actions_dispatch=mode)
    # While oob waits for its run to be listed, in the same second (and listed first, newest
    # first): someone else with the same correlation value, and a script with oob's token whose
    # value only starts like oob's.
    others = [("pat-doe", "run-1"), ("oob", "run-10"), ("sam-roe", "x")]

    def meanwhile() -> None:
        others_dispatch(server, *others)
        others.clear()

    build_server = adapter(server, meanwhile=meanwhile)
    queued = build_server.trigger(RELEASE, MINE)
    [ours] = dispatches(server)
    assert queued.build_number == ours["run"]
    with server.world.session() as world:
        created = {r.id: r.created for r in world.runs}
        assert len({int(t) for t in created.values()}) == 1
        assert len(created) == 4
    assert build_server.build(RELEASE, ours["run"]).causes == ("oob",)
    build_server.close()


class LosesTheDispatchAnswer(httpx.HTTPTransport):
    """The dispatch reaches GitHub; its answer never comes back (once)."""

    lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/dispatches") and not self.lost:
            self.lost += 1
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_a_lost_dispatch_answer_finds_the_run_instead_of_dispatching_again(start: Start) -> None:
    server, _ = start(actions_dispatch="no-content")
    transport = LosesTheDispatchAnswer()
    build_server = adapter(server, transport)
    queued = build_server.trigger(RELEASE, MINE)
    assert transport.lost == 1
    assert [d["run"] for d in dispatches(server)] == [queued.queue_id]
    build_server.close()


def test_after_a_crash_find_names_the_run_a_dispatch_started(
    actions: tuple[SandboxServer, ActionsBuildServer],
) -> None:
    server, build_server = actions
    since = SimClock(server).now()
    queued = build_server.trigger(RELEASE, MINE)
    resumed = adapter(server)  # a new process: it knows nothing of the dispatch
    found = resumed.find(RELEASE, MINE, since)
    assert found is not None
    assert found.number == queued.queue_id
    assert resumed.find(RELEASE, {**MINE, "oob_run": "run-2"}, since) is None
    resumed.close()


def test_the_run_is_followed_through_its_jobs_to_the_release_line(
    actions: tuple[SandboxServer, ActionsBuildServer],
) -> None:
    server, build_server = actions
    number = build_server.trigger(RELEASE, MINE).queue_id
    server.advance(30)
    early = build_server.scan_log(RELEASE, number, PATTERN)
    assert (early.line, early.next_start, early.more) == (None, 0, True)
    server.advance(3 * 60)  # the release job has waited, picked, tagged and completed
    found = build_server.scan_log(RELEASE, number, PATTERN)
    head = server.state()["releases"][-1]["sha"]
    assert found.line == f"Commit status: success : {head}"
    assert (found.next_start, found.more) == (1, True)
    assert build_server.scan_log(RELEASE, number, PATTERN, found.next_start).line is None
    server.advance(30 * 60)
    done = build_server.build(RELEASE, number)
    # The run ran at main's head (the fix, still in staging); it released the newest that passed.
    main = server.state()["fix_sha"]
    assert (done.building, done.result, done.sha) == (False, "SUCCESS", main)
    text = "\n".join(build_server.follow_log(RELEASE, number))
    assert re.search(r"^Deployed \S+ to prod$", text, re.MULTILINE)
    assert not re.search(r"^\d{4}-\d\d-\d\dT", text, re.MULTILINE)
    assert [b.number for b in build_server.builds(RELEASE)] == [number]


def test_stop_cancels_the_run_and_a_completed_one_is_left_alone(
    actions: tuple[SandboxServer, ActionsBuildServer],
) -> None:
    server, build_server = actions
    number = build_server.trigger(RELEASE, MINE).queue_id
    server.advance(20)
    build_server.stop(RELEASE, number)
    server.advance(5)
    stopped = build_server.build(RELEASE, number)
    assert (stopped.building, stopped.result) == (False, "ABORTED")
    assert build_server.queued(RELEASE, number).cancelled
    build_server.stop(RELEASE, number)  # GitHub answers 409: nothing to do
    cancels = [e for e in server.ledger() if e["path"].endswith("/cancel")]
    assert len(cancels) == 1
    assert stopped.started_at.timestamp() > START


def test_a_job_path_follows_one_job_of_the_run_as_its_own_build(
    actions: tuple[SandboxServer, ActionsBuildServer],
) -> None:
    server, build_server = actions
    release = f"{RELEASE}#release"
    number = build_server.trigger(release, MINE).queue_id
    server.advance(30)
    assert build_server.build(release, number).building
    assert build_server.builds(f"{RELEASE}#deploy") == []
    server.advance(3 * 60)
    done = build_server.build(release, number)
    assert (done.building, done.result) == (False, "SUCCESS")
    assert build_server.build(RELEASE, number).building  # the run goes on: build, deploy
    found = build_server.scan_log(release, number, PATTERN)
    assert found.line is not None
    assert (found.next_start, found.more) == (1, False)
    server.advance(30 * 60)
    [deploy] = build_server.builds(f"{RELEASE}#deploy")
    assert (deploy.number, deploy.result) == (number, "SUCCESS")
    marker = re.compile(rf"{re.escape(f'{RELEASE}#build')}\D+{number}\b")
    assert any(marker.search(cause) for cause in deploy.causes)
    assert deploy.started_at > done.started_at + timedelta(seconds=done.duration_seconds)
    text = "\n".join(build_server.follow_log(f"{RELEASE}#deploy", number))
    assert "Commit status" not in text
    assert "Deploy shield lowered" in text
