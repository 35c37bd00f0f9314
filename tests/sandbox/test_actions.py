"""The sandbox's GitHub Actions as a client sees it: the release workflow's run through time,
its logs behind redirects, the runs list's filters, cancel, and the older dispatch answers."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import httpx

from oob.sandbox.ledger import iso
from oob.sandbox.server import SandboxServer

from .conftest import CMS_REPO, START, Clients, Connect, StartSandbox
from .test_github_schemas import HEADERS

CMS = f"/github/repos/{CMS_REPO}"
RELEASE = f"{CMS}/actions/workflows/release.yml"


def dispatch(clients: Clients, wait: str = "1", run: str = "r-1", **extra: Any) -> httpx.Response:
    body = {"ref": "main", "inputs": {"release_wait": wait, "oob_run": run}, **extra}
    return clients.http.post(f"{RELEASE}/dispatches", headers=HEADERS, json=body)


def get(clients: Clients, url: str, **params: Any) -> Any:
    answer = clients.http.get(url, headers=HEADERS, params=params)
    answer.raise_for_status()
    return answer.json()


def test_the_release_run_picks_logs_tags_and_deploys_to_production(clients: Clients) -> None:
    run_id = dispatch(clients, return_run_details=True).json()["workflow_run_id"]
    clients.sandbox.advance(30 * 60)
    state = clients.sandbox.state()
    # The fix on main is still in staging: the release picks the newest commit that passed.
    released = state["releases"][-1]["sha"]
    assert state["cms"]["deployed_sha"] == released
    jobs = get(clients, f"{CMS}/actions/runs/{run_id}/jobs")["jobs"]
    redirect = clients.http.get(f"{CMS}/actions/jobs/{jobs[0]['id']}/logs", headers=HEADERS)
    assert redirect.status_code == 302
    # The signed link needs no token, as GitHub's log storage does not.
    log = httpx.get(redirect.headers["location"]).text
    assert f"Commit status: success : {released}" in log
    assert all(line[:4] == iso(START)[:4] and line[27:29] == "Z " for line in log.splitlines())
    archive = clients.http.get(f"{CMS}/actions/runs/{run_id}/logs", headers=HEADERS)
    zipped = zipfile.ZipFile(io.BytesIO(httpx.get(archive.headers["location"]).content))
    assert {"0_release.txt", "2_deploy.txt", "release/4_Pick release commit.txt"} <= set(
        zipped.namelist()
    )
    assert zipped.read("0_release.txt").decode() == log
    bot = get(clients, f"{CMS}/deployments", environment="production")
    assert bot[0]["creator"]["login"] == "github-actions[bot]"
    statuses = get(clients, f"{CMS}/deployments/{bot[0]['id']}/statuses")
    assert [s["state"] for s in statuses] == ["success", "in_progress"]


def test_a_log_link_expires_and_cannot_be_forged(clients: Clients) -> None:
    run_id = dispatch(clients, return_run_details=True).json()["workflow_run_id"]
    clients.sandbox.advance(30 * 60)
    link = clients.http.get(f"{CMS}/actions/runs/{run_id}/logs", headers=HEADERS)
    forged = link.headers["location"].replace("sig=", "sig=0")
    assert httpx.get(forged).status_code == 403
    stale = link.headers["location"].replace("se=", "se=1")
    assert httpx.get(stale).status_code == 403


def test_the_runs_list_filters_as_github_does(clients: Clients) -> None:
    with clients.sandbox.world.session() as world:
        flow = world.workflows["release.yml"]
        world.dispatch(flow, "main", {"oob_run": "theirs"}, "pat-doe", lag=0)
    dispatch(clients, return_run_details=True)
    clients.sandbox.advance(61)
    dispatch(clients, run="r-2", return_run_details=True)
    runs = f"{RELEASE}/runs"
    assert get(clients, runs)["total_count"] == 3
    ours = get(clients, runs, actor="OOB", event="workflow_dispatch", branch="main")
    assert [r["display_title"] for r in ours["workflow_runs"]] == ["Release r-2", "Release r-1"]
    later = iso(START + 60).replace("+00:00", "Z").replace(".000", "")
    assert [
        r["display_title"] for r in get(clients, runs, created=f">={later}")["workflow_runs"]
    ] == ["Release r-2"]
    assert get(clients, runs, created=f"<{later}")["total_count"] == 2
    assert get(clients, runs, created=f"{iso(START)[:10]}..*")["total_count"] == 3
    assert get(clients, runs, status="queued")["total_count"] == 1
    assert get(clients, runs, status="in_progress")["total_count"] == 2
    assert get(clients, runs, branch="other")["total_count"] == 0
    bad = clients.http.get(runs, headers=HEADERS, params={"created": ">=yesterday"})
    assert bad.status_code == 422


def test_cancel_ends_a_deploy_and_lowers_the_shield(clients: Clients) -> None:
    run_id = dispatch(clients, return_run_details=True).json()["workflow_run_id"]
    clients.sandbox.advance(12 * 60)
    assert clients.sandbox.state()["cms"]["shield_up"]
    cancel = clients.http.post(f"{CMS}/actions/runs/{run_id}/cancel", headers=HEADERS)
    assert cancel.status_code == 202
    clients.sandbox.advance(1)
    assert get(clients, f"{CMS}/actions/runs/{run_id}")["status"] == "in_progress"
    clients.sandbox.advance(5)
    run = get(clients, f"{CMS}/actions/runs/{run_id}")
    assert (run["status"], run["conclusion"]) == ("completed", "cancelled")
    deploy = get(clients, f"{CMS}/actions/runs/{run_id}/jobs")["jobs"][2]
    assert deploy["conclusion"] == "cancelled"
    assert [s["conclusion"] for s in deploy["steps"]][-2:] == ["cancelled", "success"]
    assert not clients.sandbox.state()["cms"]["shield_up"]
    ledger = [e for e in clients.sandbox.ledger() if e["path"].endswith("/cancel")]
    assert [e["summary"]["run"] for e in ledger] == [run_id]


def no_details(start: StartSandbox, connect: Connect, mode: str) -> tuple[SandboxServer, Clients]:
    server = start(actions_dispatch=mode)
    return server, connect(server)


def test_an_older_server_answers_204_and_lists_the_run_a_moment_later(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    server, clients = no_details(start_sandbox, connect, "no-content")
    answer = dispatch(clients, return_run_details=True)
    assert (answer.status_code, answer.content) == (204, b"")
    assert get(clients, f"{RELEASE}/runs")["total_count"] == 0
    server.advance(2)
    assert get(clients, f"{RELEASE}/runs")["workflow_runs"][0]["display_title"] == "Release r-1"


def test_a_strict_older_server_refuses_run_details_and_dispatches_nothing(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    server, clients = no_details(start_sandbox, connect, "refuse")
    refused = dispatch(clients, return_run_details=True)
    assert refused.status_code == 422
    assert "return_run_details" in refused.json()["message"]
    server.advance(5)
    assert get(clients, f"{RELEASE}/runs")["total_count"] == 0
    assert dispatch(clients).status_code == 204


def test_a_workflow_run_follows_the_release_in_the_workflows_layout(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    server = start_sandbox(actions_layout="workflows")
    clients = connect(server)
    refused = clients.http.post(
        f"{CMS}/actions/workflows/deploy.yml/dispatches", headers=HEADERS, json={"ref": "main"}
    )
    assert refused.status_code == 422
    assert "workflow_dispatch" in refused.json()["message"]
    dispatch(clients, return_run_details=True)
    server.advance(30 * 60)
    deploys = get(clients, f"{CMS}/actions/workflows/deploy.yml/runs")["workflow_runs"]
    [deploy] = deploys
    [release] = get(clients, f"{RELEASE}/runs")["workflow_runs"]
    assert (deploy["event"], deploy["head_sha"]) == ("workflow_run", release["head_sha"])
    assert deploy["created_at"] >= release["updated_at"]
    state = server.state()  # the release runs at main's head, and deploys what it picked
    assert state["cms"]["deployed_sha"] == state["releases"][-1]["sha"]
    jobs = get(clients, f"{CMS}/actions/runs/{release['id']}/jobs")["jobs"]
    assert [j["name"] for j in jobs] == ["release", "build"]


def test_an_unchanged_run_answers_304_to_its_etag(clients: Clients) -> None:
    run_id = dispatch(clients, wait="15", return_run_details=True).json()["workflow_run_id"]
    clients.sandbox.advance(60)  # into the release wait: nothing of the run changes for minutes
    url = f"{CMS}/actions/runs/{run_id}"
    first = clients.http.get(url, headers=HEADERS)
    clients.sandbox.advance(60)
    again = clients.http.get(url, headers={**HEADERS, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
