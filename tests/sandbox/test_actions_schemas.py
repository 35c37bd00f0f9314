"""The sandbox's Actions and Deployments answers, success and error alike, validated against
GitHub's published REST description (githubkit-schemas-2022-11-28), as `test_github_schemas`
does for the rest of its GitHub."""

from __future__ import annotations

from githubkit_schemas.v2022_11_28 import models as m

from .conftest import CMS_REPO, Clients
from .test_github_schemas import HEADERS, valid

CMS = f"/github/repos/{CMS_REPO}"
RELEASE = f"{CMS}/actions/workflows/release.yml"
DISPATCH = {"ref": "main", "inputs": {"release_wait": "1", "oob_run": "r-1"}}


def test_workflows_runs_and_jobs_match_githubs_schemas(clients: Clients) -> None:
    listed = valid(
        clients,
        m.ReposOwnerRepoActionsWorkflowsGetResponse200,
        "GET",
        f"{CMS}/actions/workflows",
        200,
    )
    workflow_id = listed["workflows"][0]["id"]
    valid(clients, m.Workflow, "GET", f"{CMS}/actions/workflows/{workflow_id}", 200)
    valid(clients, m.Workflow, "GET", RELEASE, 200)
    body = {**DISPATCH, "return_run_details": True}
    made = valid(
        clients, m.WorkflowDispatchResponse, "POST", f"{RELEASE}/dispatches", 200, json=body
    )
    run = f"{CMS}/actions/runs/{made['workflow_run_id']}"
    queued = valid(clients, m.WorkflowRun, "GET", run, 200)
    assert (queued["status"], queued["display_title"]) == ("queued", "Release r-1")
    valid(
        clients,
        m.ReposOwnerRepoActionsWorkflowsWorkflowIdRunsGetResponse200,
        "GET",
        f"{RELEASE}/runs",
        200,
    )
    valid(clients, m.ReposOwnerRepoActionsRunsGetResponse200, "GET", f"{CMS}/actions/runs", 200)
    clients.sandbox.advance(20)
    jobs = valid(
        clients, m.ReposOwnerRepoActionsRunsRunIdJobsGetResponse200, "GET", f"{run}/jobs", 200
    )
    job = jobs["jobs"][0]
    assert job["status"] == "in_progress"
    valid(clients, m.Job, "GET", f"{CMS}/actions/jobs/{job['id']}", 200)
    valid(clients, m.BasicError, "GET", f"{CMS}/actions/jobs/{job['id']}/logs", 404)
    valid(clients, m.BasicError, "GET", f"{run}/logs", 404)
    clients.sandbox.advance(30 * 60)
    done = valid(clients, m.WorkflowRun, "GET", run, 200)
    assert (done["status"], done["conclusion"]) == ("completed", "success")
    finished = valid(
        clients, m.ReposOwnerRepoActionsRunsRunIdJobsGetResponse200, "GET", f"{run}/jobs", 200
    )
    assert [j["name"] for j in finished["jobs"]] == ["release", "build", "deploy"]


def test_deployments_match_githubs_schemas(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    body = {
        "ref": fix,
        "environment": "production",
        "required_contexts": [],
        "payload": {"oob_run": "r-1"},
    }
    made = valid(clients, m.Deployment, "POST", f"{CMS}/deployments", 201, json=body)
    statuses = f"{CMS}/deployments/{made['id']}/statuses"
    state = {
        "state": "in_progress",
        "target_url": "http://oob.example/runs/r-1",
        "description": "Deploying",
    }
    valid(clients, m.DeploymentStatus, "POST", statuses, 201, json=state)
    valid(clients, m.DeploymentStatus, "POST", statuses, 201, json={"state": "success"})
    valid(clients, list[m.DeploymentStatus], "GET", statuses, 200)
    valid(clients, m.Deployment, "GET", f"{CMS}/deployments/{made['id']}", 200)
    listed = valid(
        clients, list[m.Deployment], "GET", f"{CMS}/deployments", 200, params={"sha": fix}
    )
    assert [d["id"] for d in listed] == [made["id"]]


def test_actions_and_deployment_errors_match_githubs_schemas(clients: Clients) -> None:
    unexpected = {"ref": "main", "inputs": {"nope": "1"}}
    valid(clients, m.BasicError, "POST", f"{RELEASE}/dispatches", 422, json=unexpected)
    valid(clients, m.BasicError, "POST", f"{RELEASE}/dispatches", 422, json={"inputs": {}})
    valid(
        clients, m.BasicError, "POST", f"{RELEASE}/dispatches", 422, json={"ref": "no-such-branch"}
    )
    valid(
        clients,
        m.BasicError,
        "POST",
        f"{CMS}/actions/workflows/nope.yml/dispatches",
        404,
        json=DISPATCH,
    )
    valid(clients, m.BasicError, "GET", f"{CMS}/actions/runs/1", 404)
    made = valid(
        clients,
        m.WorkflowDispatchResponse,
        "POST",
        f"{RELEASE}/dispatches",
        200,
        json={**DISPATCH, "return_run_details": True},
    )
    run = f"{CMS}/actions/runs/{made['workflow_run_id']}"
    valid(clients, m.EmptyObject, "POST", f"{run}/cancel", 202)
    clients.sandbox.advance(10)
    cancelled = valid(clients, m.WorkflowRun, "GET", run, 200)
    assert (cancelled["status"], cancelled["conclusion"]) == ("completed", "cancelled")
    valid(clients, m.BasicError, "POST", f"{run}/cancel", 409)
    fix = clients.sandbox.state()["fix_sha"]
    # A failing check on main: GitHub refuses to deploy it unless told which checks count.
    failure = {"state": "failure", "context": "ci/lint"}
    clients.http.post(f"{CMS}/statuses/{fix}", headers=HEADERS, json=failure).raise_for_status()
    failing = valid(clients, m.BasicError, "POST", f"{CMS}/deployments", 409, json={"ref": fix})
    assert "status checks failed" in failing["message"]
    made = valid(
        clients,
        m.Deployment,
        "POST",
        f"{CMS}/deployments",
        201,
        json={"ref": fix, "required_contexts": []},
    )
    statuses = f"{CMS}/deployments/{made['id']}/statuses"
    valid(clients, m.ValidationError, "POST", statuses, 422, json={"state": "great"})
    valid(
        clients,
        m.ValidationError,
        "POST",
        statuses,
        422,
        json={"state": "success", "description": "x" * 141},
    )
