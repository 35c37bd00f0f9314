"""The control API, the clock, in-process use over ASGITransport, and the world's small parts."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from oob.sandbox.app import create_app
from oob.sandbox.repo import Repo
from oob.sandbox.wire import apply_tree, parse_tree
from oob.sandbox.world import Options, World

from .conftest import START, TOKEN, Clients, StartSandbox


def test_state_names_what_tests_check(clients: Clients) -> None:
    state = clients.http.get("/_sandbox/state").json()
    assert state["scenario"] == "happy"
    assert state["repo"] == "department-of-veterans-affairs/va.gov-cms"
    assert state["fix_sha"] == state["main_sha"]
    assert state["time_scale"] == 0
    assert state["postmortem_repo"]["base_branch"] == "master"
    release = next(j for j in state["jobs"] if j["path"] == "deploys/cms-auto-deploy")
    assert {"number", "result", "sha"} <= set(release["builds"][0])


def test_ledger_entries_carry_service_params_and_both_times(clients: Clients) -> None:
    clients.slack.chat_postMessage(channel="#cms-product", text="Approve the deploy?")
    (entry,) = clients.http.get("/_sandbox/ledger").json()
    assert entry["service"] == "slack"
    assert entry["method"] == "POST"
    assert entry["path"] == "/slack/api/chat.postMessage"
    assert entry["summary"]["text"] == "Approve the deploy?"
    assert entry["sim_time"].startswith("2025-06-15T")
    assert entry["real_time"]
    assert entry["response_lost"] is False


def test_advance_moves_the_manual_clock_and_rejects_nonsense(clients: Clients) -> None:
    before = clients.http.get("/_sandbox/state").json()["sim_epoch"]
    moved = clients.http.post("/_sandbox/advance", json={"seconds": 90}).json()
    assert moved["sim_epoch"] == before + 90
    assert clients.http.post("/_sandbox/advance", json={"seconds": -1}).status_code == 400


def test_reset_rebuilds_the_world_with_another_scenario(clients: Clients) -> None:
    clients.slack.chat_postMessage(channel="#cms-product", text="hello")
    state = clients.http.post("/_sandbox/reset", json={"scenario": "tests-pending"}).json()
    assert state["scenario"] == "tests-pending"
    assert state["combined_status"]["fix"] == "pending"
    assert clients.http.get("/_sandbox/ledger").json() == []
    bad = clients.http.post("/_sandbox/reset", json={"scenario": "nope"})
    assert bad.status_code == 400
    assert "unknown scenario" in bad.json()["error"]


def test_a_scaled_clock_plays_the_release_by_itself(start_sandbox: StartSandbox) -> None:
    sandbox = start_sandbox("happy", time_scale=3600)  # an hour per second
    with httpx.Client(base_url=sandbox.url, auth=("oob", TOKEN), timeout=5) as client:
        client.post("/jenkins/job/deploys/job/cms-auto-deploy/buildWithParameters?release_wait=15")
        deadline = time.monotonic() + 30  # a bound on a broken run, not a timing assertion
        while time.monotonic() < deadline:
            state = client.get("/_sandbox/state").json()
            if state["cms"]["tag"] == "cms/v0.0.313":
                break
            time.sleep(0.05)
        assert state["cms"]["deployed_sha"] == state["fix_sha"]
        assert client.get("/cms/user/login").status_code == 200


def test_the_app_works_in_process_over_asgi_transport() -> None:
    app = create_app(options=Options(time_scale=0, start=START))

    async def talk() -> tuple[int, int, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            login = await client.get("/cms/user/login")
            answer = await client.post(
                "/jenkins/job/deploys/job/cms-auto-deploy/buildWithParameters",
                params={"release_wait": "15"},
                auth=("oob", TOKEN),
            )
            status = await client.get(
                f"/github/repos/department-of-veterans-affairs/va.gov-cms/commits/{app.world.fix_sha}/status",
                headers={"Authorization": f"token {TOKEN}"},
            )
            return login.status_code, answer.status_code, status.json()["state"]

    assert asyncio.run(talk()) == (500, 201, "pending")  # the fix just merged, in staging
    assert app.world.ledger.entries()[0]["service"] == "jenkins"


def test_seeds_vary_durations_but_not_the_story() -> None:
    worlds = [World(Options(time_scale=0, start=START, seed=seed)) for seed in (1, 2)]
    starts = [[b["ended"] for j in w.state()["jobs"] for b in j["builds"]] for w in worlds]
    assert starts[0] != starts[1]
    assert worlds[0].fix_sha == worlds[1].fix_sha
    assert [w.state()["cms"]["tag"] for w in worlds] == ["cms/v0.0.312"] * 2


def test_tree_expressions_nest_and_slice() -> None:
    data = {
        "_class": "Job",
        "name": "cms",
        "builds": [
            {"_class": "Run", "number": n, "result": "SUCCESS", "url": "u"} for n in (3, 2, 1)
        ],
        "lastBuild": {"_class": "Run", "number": 3},
    }
    tree = parse_tree("builds[number]{1,},lastBuild")
    assert apply_tree(tree, data) == {
        "_class": "Job",
        "builds": [{"_class": "Run", "number": 2}, {"_class": "Run", "number": 1}],
        "lastBuild": {"_class": "Run"},
    }
    with pytest.raises(ValueError, match="unclosed"):
        parse_tree("builds[number")


def test_combined_state_needs_every_context_success() -> None:
    repo = Repo("o/r", "main", 1)
    sha = repo.commit(
        branch="main", message="m", author="a", email="e", date=0, changes={"f": b"x"}
    ).sha
    assert repo.combined_state(sha) == "pending"
    for context, state in (("a", "success"), ("b", "pending")):
        repo.add_status(
            sha, state=state, context=context, description="", target_url=None, creator="c", at=0
        )
    assert repo.combined_state(sha) == "pending"
    repo.add_status(
        sha, state="error", context="b", description="", target_url=None, creator="c", at=1
    )
    assert repo.combined_state(sha) == "failure"
    repo.add_status(
        sha, state="success", context="b", description="", target_url=None, creator="c", at=2
    )
    assert repo.combined_state(sha) == "success"
