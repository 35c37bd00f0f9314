"""Jenkins' notifications (`POST /hooks/jenkins`) wake the runs that follow the build."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI

from oob.durable import client
from oob.states import RunState
from oob.web import hooks
from oob.web.server import serving
from tests.procedure.harness import Harness

TOKEN = "a-token-of-24-characters"


def notification(harness: Harness, job: str, jenkins: str | None = None) -> dict[str, Any]:
    """What the Notification plugin sends as a build of `job` (a path) completes."""
    base = (jenkins or harness.config.services.jenkins.url).rstrip("/")
    url = "".join(f"job/{part}/" for part in job.split("/"))
    build = {"full_url": f"{base}/{url}7/", "number": 7, "phase": "COMPLETED", "url": f"{url}7/"}
    return {"name": job.rsplit("/", 1)[-1], "url": url, "build": build | {"status": "SUCCESS"}}


def test_a_notification_wakes_the_runs_following_its_job_for_a_look(harness: Harness) -> None:
    """Seen: a build's end reached a run only at its next paced look (up to half a second
    later, and a minute before the hold starts): Jenkins' own push had nowhere to go."""
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    release = harness.config.pipeline.trigger.job or ""
    served = FastAPI()
    served.include_router(
        hooks.routes(hooks.JenkinsHooks(harness.store, harness.control.url, TOKEN))
    )
    with serving(served) as url, httpx.Client(base_url=url) as http:

        def send(body: object, token: str = TOKEN) -> httpx.Response:
            return http.post("/hooks/jenkins", params={"token": token}, content=json.dumps(body))

        assert send(notification(harness, release), token="wrong").status_code == 401
        assert send({"url": "job/x/"}).status_code == 400  # no build
        assert send(notification(harness, "other/job")).json() == {"woken": []}
        elsewhere = notification(harness, release, "https://another-jenkins.example")
        assert send(elsewhere).json() == {"woken": []}
        answer = send(notification(harness, release))
        assert (answer.status_code, answer.json()) == (202, {"woken": [run.id]})
        assert send(notification(harness, release)).json() == {"woken": [run.id]}  # sent once
        finalized = notification(harness, release)
        finalized["build"]["phase"] = "FINALIZED"  # its result was known at COMPLETED
        assert send(finalized).json() == {"woken": []}
    harness.control.approve(run.id, "po", "go")
    assert harness.end(run.id).outcome is RunState.RESOLVED
    dbos = client(harness.store.url)
    try:
        steps = dbos.list_workflow_steps(run.id)
    finally:
        dbos.destroy()
    looks = [
        i for i, s in enumerate(steps) if isinstance(s["output"], dict) and "look" in s["output"]
    ]
    assert len(looks) == 1, steps  # the same news twice is one message
    # news of a build is no decision: the run does not read the decisions for it
    assert steps[looks[0] + 1]["function_name"] != "oob.decisions", steps[looks[0] :]
