"""oob's adapters parse real recorded traffic, not only the sandbox's imitation of it.

GitHub: answers GitHub gave PyGithub's maintainers (PyGithub's `tests/ReplayData`); Jenkins:
JSON a real Jenkins served api4jenkins' maintainers (its `tests/unit/tests_data`). The excerpts,
their sources and licences are under `tests/fixtures/recorded/` (see the README there).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from oob.adapters.github import GitHubCodeHost
from oob.adapters.jenkins import JenkinsBuildServer
from oob.errors import GitHubError
from oob.ports import CompareStatus, StatusState
from tests.adapters.conftest import POLICY, FixedClock

RECORDED = Path(__file__).parents[1] / "fixtures" / "recorded"


@dataclass(frozen=True)
class Recorded:
    """One request and the answer GitHub gave it."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: str

    def response(self) -> httpx.Response:
        # The recorded bodies are decoded text; drop the headers that describe the wire form.
        wire = {"content-length", "content-encoding", "transfer-encoding", "status"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in wire}
        return httpx.Response(self.status, headers=headers, content=self.body.encode())


def replay_data(name: str) -> list[Recorded]:
    """PyGithub's ReplayData format: 10 lines a request and answer, then a blank line."""
    lines = (RECORDED / "github" / name).read_text(encoding="utf-8").split("\n")
    records = []
    for start in range(0, len(lines) - 9, 11):
        _, method, _, _, url, _, _, status, headers, body = lines[start : start + 10]
        records.append(
            Recorded(
                method,
                url.split("?")[0],
                int(status),
                dict(ast.literal_eval(headers)),
                body,
            )
        )
    return records


class Replay:
    """A network that answers each route with its recorded answers, in order."""

    def __init__(self, routes: dict[str, list[Recorded]]) -> None:
        self.routes = routes
        self.sent: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        answers = self.routes.get(f"{request.method} {request.url.path}")
        if not answers:
            return httpx.Response(404, json={"message": "Not Found"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return answer.response()


def github(repository: str, routes: dict[str, list[Recorded]]) -> GitHubCodeHost:
    return GitHubCodeHost(
        "https://api.github.com",
        repository,
        "token",
        token_env="OOB_GITHUB_TOKEN",
        timeout_seconds=5,
        policy=POLICY,
        transport=httpx.MockTransport(Replay(routes).handler),
        clock=FixedClock(),
    )


def routes(*records: Recorded) -> dict[str, list[Recorded]]:
    table: dict[str, list[Recorded]] = {}
    for record in records:
        table.setdefault(f"{record.method} {record.path}", []).append(record)
    return table


def test_combined_status() -> None:
    (record,) = replay_data("CommitCombinedStatus.setUp.txt")
    sha = record.path.split("/")[-2]
    combined = github("edx/edx-platform", routes(record)).combined_status(sha)
    assert combined.sha == sha
    assert combined.state is StatusState(json.loads(record.body)["state"])
    assert len(combined.statuses) == json.loads(record.body)["total_count"]
    assert all(s.updated_at is not None for s in combined.statuses)


def test_create_status() -> None:
    (record,) = replay_data("Commit.testCreateStatusWithAllParameters.txt")
    sha = record.path.rsplit("/", 1)[-1]
    posted = github("jacquev6/PyGithub", routes(record)).create_status(
        sha, StatusState.SUCCESS, "build", "Build passed", "https://example.com/build"
    )
    data = json.loads(record.body)
    assert (posted.state.value, posted.description) == (data["state"], data["description"])


def test_compare_pages_through_githubs_link_header() -> None:
    """GitHub's own paging: oldest first, the next page linked by repository id."""
    first, second = replay_data("Repository.testCompareCommitsPerPage.txt")
    host = github("PyGithub/PyGithub", routes(first, second))
    comparison = host.compare("v0.6", "v0.7")
    assert comparison.status is CompareStatus.AHEAD
    commits = host.commits_after("v0.6", "v0.7")
    recorded = [c["sha"] for r in (first, second) for c in json.loads(r.body)["commits"]]
    assert [c.sha for c in commits] == list(reversed(recorded))


def test_create_branch_file_and_pull_request() -> None:
    (ref,) = replay_data("Repository.testCreateGitRef.txt")
    (created,) = replay_data("Repository.testCreateFile.txt")
    (pull,) = replay_data("Repository.testCreatePull.txt")
    # The ref GitHub answered the creation with stands in for the branch we start from.
    start = Recorded("GET", "/repos/PyGithub/PyGithub/git/ref/heads/master", 200, {}, ref.body)
    host = github("PyGithub/PyGithub", routes(ref, created, pull, start))
    host.ensure_branch("PyGithub/PyGithub", "oob/postmortem", "master")
    path = created.path.split("/contents/", 1)[1]
    host.put_file("PyGithub/PyGithub", "oob/postmortem", path, "# Draft\n", "Draft")
    opened = host.ensure_pull_request("PyGithub/PyGithub", "master", "develop", "Title", "Body")
    data = json.loads(pull.body)
    assert (opened.number, opened.url) == (data["number"], data["html_url"])


@pytest.mark.parametrize(
    ("name", "index"),
    [("SpecificExceptions.testRateLimitExceeded.txt", 1),
     ("SpecificExceptions.testAuthenticatedRateLimitExceeded.txt", 0)],
)  # fmt: skip
def test_rate_limits_as_github_sent_them(name: str, index: int) -> None:
    record = replay_data(name)[index]
    assert record.status == 403
    served = Recorded("GET", "/user", record.status, record.headers, record.body)
    with pytest.raises(GitHubError, match="rate limiting") as caught:
        github("PyGithub/PyGithub", routes(served)).whoami()
    assert caught.value.transient is True


# --- Jenkins ---------------------------------------------------------------------------------


def jenkins_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RECORDED / "jenkins" / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture
def recorded_jenkins() -> Iterator[tuple[JenkinsBuildServer, dict[str, dict[str, Any]]]]:
    answers: dict[str, dict[str, Any]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        data = answers.get(request.url.path)
        return httpx.Response(200, json=data) if data else httpx.Response(404)

    server = JenkinsBuildServer(
        "http://0.0.0.0:8080",
        "admin",
        "token",
        token_env="OOB_JENKINS_TOKEN",
        timeout_seconds=5,
        policy=POLICY,
        transport=httpx.MockTransport(handler),
    )
    yield server, answers
    server.close()


@pytest.mark.parametrize(
    ("name", "number"),
    [("queue_waitingitem.json", None), ("queue_blockeditem.json", None),
     ("queue_buildableitem.json", None), ("queue_leftitem.json", 54)],
)  # fmt: skip
def test_queue_items(
    recorded_jenkins: tuple[JenkinsBuildServer, dict[str, dict[str, Any]]],
    name: str,
    number: int | None,
) -> None:
    server, answers = recorded_jenkins
    item = jenkins_json(name)
    answers[f"/queue/item/{item['id']}/api/json"] = item
    queued = server.queued("folder/pipeline", int(item["id"]))
    assert queued.build_number == number
    assert queued.cancelled is False
    assert queued.why == item["why"]


def test_workflow_run(
    recorded_jenkins: tuple[JenkinsBuildServer, dict[str, dict[str, Any]]],
) -> None:
    server, answers = recorded_jenkins
    run = jenkins_json("run_workflowrun.json")
    answers[f"/job/folder/job/pipeline/{run['number']}/api/json"] = run
    build = server.build("folder/pipeline", run["number"])
    assert (build.number, build.result, build.building) == (52, "FAILURE", False)
    assert build.parameters == {"parameter1": "value1", "parameter2": "value2"}
    assert build.causes[0] == "admin"
    assert build.duration_seconds == run["duration"] / 1000
    assert build.queue_id == run["queueId"]


def test_jobs_and_folders(
    recorded_jenkins: tuple[JenkinsBuildServer, dict[str, dict[str, Any]]],
) -> None:
    server, answers = recorded_jenkins
    answers["/job/Level1_WorkflowJob/api/json"] = jenkins_json("job_pipeline.json")
    job = server.job("Level1_WorkflowJob")
    assert job.buildable is True
    assert job.url == "http://0.0.0.0:8080/job/Level1_WorkflowJob/"
    folder = jenkins_json("job_folder.json")
    assert folder["_class"] == "com.cloudbees.hudson.plugins.folder.Folder"
    answers["/job/Level1_Folder1/api/json"] = folder
    assert server.job("Level1_Folder1").buildable is False
