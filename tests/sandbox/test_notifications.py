"""Jenkins' Notification plugin in the sandbox: each build's start and end, pushed as it happens."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oob.web.server import serving

from .conftest import Clients, StartSandbox
from .test_jenkins import RELEASE, start_release

RELEASE_JOB = "job/deploys/job/cms-auto-deploy/"


def receiver(got: list[dict[str, Any]]) -> Starlette:
    async def take(request: Request) -> Response:
        got.append(await request.json())
        return Response(status_code=200)

    return Starlette(routes=[Route("/notify", take, methods=["POST"])])


def released(got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The release job's notifications (staging's builds go on beside it)."""
    return [n for n in got if n["url"] == RELEASE_JOB]


def wait_for(
    got: list[dict[str, Any]], done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while not done(got) and time.monotonic() < deadline:
        time.sleep(0.01)
    return got


def downstream_started(got: list[dict[str, Any]]) -> bool:
    """The release finalized, then a build of another job started (the stage it triggers)."""
    phases = [(n["url"], n["build"]["phase"]) for n in got]
    if (RELEASE_JOB, "FINALIZED") not in phases:
        return False
    after = phases[phases.index((RELEASE_JOB, "FINALIZED")) + 1 :]
    return any(url != RELEASE_JOB and phase == "STARTED" for url, phase in after)


def test_jenkins_notifies_each_build_start_and_end_as_its_plugin_does(clients: Clients) -> None:
    """Seen: the sandbox's Jenkins pushed nothing, so oob could only poll it, and a build's end
    reached a run only at its next look. The Notification plugin's phases and JSON."""
    got: list[dict[str, Any]] = []
    with serving(receiver(got)) as url:
        answer = clients.http.post("/_sandbox/jenkins/notifications", json={"url": f"{url}/notify"})
        assert answer.json() == {"url": f"{url}/notify", "sent": 0}
        number = start_release(clients, wait=1)
        started = released(wait_for(got, lambda got: bool(released(got))))[0]
        assert started == {
            "name": "cms-auto-deploy",
            "display_name": "cms-auto-deploy",
            "url": RELEASE_JOB,
            "build": {
                "full_url": f"{clients.sandbox.url}/jenkins/{RELEASE_JOB}{number}/",
                "number": number,
                "queue_id": started["build"]["queue_id"],
                "phase": "STARTED",
                "timestamp": started["build"]["timestamp"],
                "duration": 0,
                "url": f"job/deploys/job/cms-auto-deploy/{number}/",
                "scm": {"commit": started["build"]["scm"]["commit"]},
                "parameters": {"release_wait": "1"},
                "log": "",
                "notes": "",
                "artifacts": {},
            },
        }
        clients.sandbox.advance(30 * 60)  # the release ends; its downstream job starts
        assert downstream_started(wait_for(got, downstream_started))
    build = clients.jenkins.get_build_info(RELEASE, number)
    ends = [n["build"] for n in released(got)[1:]]
    assert [(b["phase"], b["status"], b["number"]) for b in ends] == [
        ("COMPLETED", build["result"], number),
        ("FINALIZED", build["result"], number),
    ]
    assert ends[0]["duration"] == build["duration"] > 0
    assert clients.http.get("/_sandbox/jenkins/notifications").json()["sent"] >= 4


def test_a_build_ends_and_is_told_at_its_time_without_anyone_looking(
    start_sandbox: StartSandbox,
) -> None:
    """The world moves only when something looks at it: while an endpoint is named, the
    sandbox looks when its next action is due, so a build's end is pushed in real time."""
    import httpx

    sandbox = start_sandbox(time_scale=600)
    got: list[dict[str, Any]] = []
    with serving(receiver(got)) as url:
        httpx.post(
            f"{sandbox.url}/_sandbox/jenkins/notifications", json={"url": f"{url}/notify"}
        ).raise_for_status()
        wait_for(got, bool)  # staging's builds go on at 600 simulated seconds a second
    assert got, "no notification within 10 s of a clock at x600"
    assert got[0]["build"]["phase"] in {"STARTED", "COMPLETED", "FINALIZED"}


def test_a_reset_world_names_no_endpoint_and_a_bad_url_is_refused(clients: Clients) -> None:
    http = clients.http
    bad = http.post("/_sandbox/jenkins/notifications", json={"url": "ftp://x"})
    assert bad.status_code == 400
    http.post("/_sandbox/jenkins/notifications", json={"url": "http://127.0.0.1:9/notify"})
    clients.sandbox.world.reset()
    assert http.get("/_sandbox/jenkins/notifications").json() == {"url": "", "sent": 0}
