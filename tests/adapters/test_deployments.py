"""The deployments record against the sandbox's GitHub, over a real socket: one deployment per
run however often it is asked for (a lost answer too), statuses posted once each, and GitHub's
environment page reading the final one."""

from __future__ import annotations

import httpx

from oob.adapters.github import GitHubCodeHost
from oob.ports import DeploymentState, StatusState
from oob.sandbox.server import SandboxServer
from tests.adapters.conftest import POLICY, TOKEN, Start

LINK = "https://oob.example.gov/runs/r-7"


def code_host(
    server: SandboxServer, transport: httpx.BaseTransport | None = None
) -> GitHubCodeHost:
    return GitHubCodeHost(
        f"{server.url}/github",
        "department-of-veterans-affairs/va.gov-cms",
        TOKEN,
        token_env="OOB_GITHUB_TOKEN",
        timeout_seconds=5,
        policy=POLICY,
        transport=transport,
    )


def ledger(server: SandboxServer, tail: str) -> list[dict[str, object]]:
    return [e["summary"] for e in server.ledger() if e["path"].endswith(tail)]


def test_a_run_records_one_deployment_and_each_status_once(start: Start) -> None:
    # The merge hold's pending status is on main's head: the record must not be refused for it.
    server, _ = start(hold_required=True)
    host = code_host(server)
    head = server.state()["main_sha"]
    host.create_status(head, StatusState.PENDING, "oob/merge-hold", "Held", None)
    deployments = host.deployments()
    # A deployment of the release branch: GitHub records the branch's head as its commit.
    made = deployments.record("main", "production", "r-7", "Out-of-band deploy r-7")
    assert made.sha == head
    again = deployments.record("main", "production", "r-7", "Out-of-band deploy r-7")
    assert again == made
    other = deployments.record("main", "production", "r-8", "Out-of-band deploy r-8")
    assert other.id != made.id
    for state in (
        DeploymentState.QUEUED,
        DeploymentState.IN_PROGRESS,
        DeploymentState.IN_PROGRESS,
        DeploymentState.SUCCESS,
    ):
        made = deployments.set_state(made, state, LINK, "Deployed by oob")
    assert made.state == "success"
    assert deployments.record("main", "production", "r-7", "x").state == "success"
    assert [d["id"] for d in ledger(server, "/deployments")] == [again.id, other.id]
    posted = ledger(server, f"/deployments/{made.id}/statuses")
    assert [(s["state"], s["target_url"]) for s in posted] == [
        ("queued", LINK),
        ("in_progress", LINK),
        ("success", LINK),
    ]
    host.close()


class LosesTheAnswerTo(httpx.HTTPTransport):
    """Requests to a path ending so reach GitHub; the first answer never comes back."""

    def __init__(self, tail: str) -> None:
        super().__init__()
        self.tail = tail
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path.endswith(self.tail) and not self.lost:
            self.lost += 1
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_a_lost_answer_makes_no_second_deployment_or_status(start: Start) -> None:
    server, _ = start()
    created = LosesTheAnswerTo("/deployments")
    first = code_host(server, created)
    made = first.deployments().record("main", "production", "r-7", "deploy")
    first.close()
    assert created.lost == 1
    assert [d["id"] for d in ledger(server, "/deployments")] == [made.id]
    posted = LosesTheAnswerTo("/statuses")
    state = DeploymentState.SUCCESS
    second = code_host(server, posted)
    second.deployments().set_state(made, state, LINK, "deployed")
    second.close()
    assert posted.lost == 1
    assert [s["state"] for s in ledger(server, f"/deployments/{made.id}/statuses")] == ["success"]
