"""Every GitHub answer the sandbox gives, for every endpoint oob (and the clients in the tests)
call, success and error alike, validated against GitHub's published REST description.

The models come from githubkit-schemas-2022-11-28, generated from github/rest-api-description
for API version 2022-11-28 (the one oob asks for): a missing required field, a wrong type or an
unknown enum value fails here, as it would surprise a client of the real GitHub.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from githubkit_schemas.v2022_11_28 import models as m
from pydantic import TypeAdapter

from oob.sandbox.server import SandboxServer

from .conftest import CMS_REPO, POSTMORTEMS, TOKEN, Clients, Connect, StartSandbox

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
CMS = f"/github/repos/{CMS_REPO}"
PMS = f"/github/repos/{POSTMORTEMS}"


def valid(clients: Clients, model: Any, method: str, url: str, status: int, **kwargs: Any) -> Any:
    """Send the request, check the status, validate the body against `model`; return it."""
    answer = clients.http.request(method, url, headers=HEADERS, **kwargs)
    assert answer.status_code == status, answer.text
    data = answer.json()
    TypeAdapter(model).validate_python(data)
    return data


def test_reads_match_githubs_schemas(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    valid(clients, m.FullRepository, "GET", CMS, 200)
    valid(clients, m.CombinedCommitStatus, "GET", f"{CMS}/commits/{fix}/status", 200)
    valid(clients, list[m.Status], "GET", f"{CMS}/commits/{fix}/statuses", 200)
    valid(clients, m.Commit, "GET", f"{CMS}/commits/{fix}", 200)
    valid(clients, m.Commit, "GET", f"{CMS}/commits/main", 200)
    valid(clients, list[m.Commit], "GET", f"{CMS}/commits", 200, params={"per_page": 5})
    valid(clients, m.CommitComparison, "GET", f"{CMS}/compare/{fix}...main", 200)
    paged = {"per_page": 1, "page": 2}
    valid(clients, m.CommitComparison, "GET", f"{CMS}/compare/{fix[:7]}...main", 200, params=paged)
    valid(clients, m.BranchWithProtection, "GET", f"{CMS}/branches/main", 200)
    valid(clients, m.GitRef, "GET", f"{PMS}/git/ref/heads/master", 200)
    valid(clients, m.ContentFile, "GET", f"{PMS}/contents/README.md", 200)
    valid(clients, list[m.ContentDirectoryItems], "GET", f"{PMS}/contents/Postmortems", 200)
    valid(clients, m.PrivateUser, "GET", "/github/user", 200)
    valid(clients, m.RateLimitOverview, "GET", "/github/rate_limit", 200)


def test_writes_match_githubs_schemas(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    status = {"state": "success", "context": "oob/override", "description": "Overridden"}
    valid(clients, m.Status, "POST", f"{CMS}/statuses/{fix}", 201, json=status)
    master = clients.http.get(f"{PMS}/git/ref/heads/master", headers=HEADERS).json()
    branch = {"ref": "refs/heads/oob/pm", "sha": master["object"]["sha"]}
    valid(clients, m.GitRef, "POST", f"{PMS}/git/refs", 201, json=branch)
    content = base64.b64encode(b"# Postmortem\n").decode()
    put = {"message": "Draft", "content": content, "branch": "oob/pm"}
    made = valid(clients, m.FileCommit, "PUT", f"{PMS}/contents/Postmortems/pm.md", 201, json=put)
    update = {**put, "content": base64.b64encode(b"# Better\n").decode()}
    update["sha"] = made["content"]["sha"]
    valid(clients, m.FileCommit, "PUT", f"{PMS}/contents/Postmortems/pm.md", 200, json=update)
    pull = {"title": "Postmortem", "head": "oob/pm", "base": "master", "body": "Draft"}
    valid(clients, m.PullRequest, "POST", f"{PMS}/pulls", 201, json=pull)
    head = {"head": "department-of-veterans-affairs:oob/pm", "state": "open"}
    pulls = valid(clients, list[m.PullRequestSimple], "GET", f"{PMS}/pulls", 200, params=head)
    assert len(pulls) == 1
    valid(clients, m.PullRequest, "GET", f"{PMS}/pulls/1", 200)


def test_errors_match_githubs_schemas(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    valid(clients, m.BasicError, "GET", "/github/repos/nobody/nothing", 404)
    valid(clients, m.BasicError, "GET", f"{CMS}/compare/{fix}...no-such-branch", 404)
    valid(clients, m.BasicError, "GET", f"{PMS}/git/ref/heads/nope", 404)
    bad_state = {"state": "great", "context": "x"}
    valid(clients, m.ValidationError, "POST", f"{CMS}/statuses/{fix}", 422, json=bad_state)
    long = {"state": "success", "context": "x", "description": "x" * 141}
    valid(clients, m.ValidationError, "POST", f"{CMS}/statuses/{fix}", 422, json=long)
    master = clients.http.get(f"{PMS}/git/ref/heads/master", headers=HEADERS).json()
    again = {"ref": "refs/heads/master", "sha": master["object"]["sha"]}
    valid(clients, m.ValidationError, "POST", f"{PMS}/git/refs", 422, json=again)
    nothing = {"title": "Postmortem", "head": "master", "base": "master"}
    valid(clients, m.ValidationError, "POST", f"{PMS}/pulls", 422, json=nothing)
    anonymous = clients.http.get(CMS)
    assert anonymous.status_code == 401
    TypeAdapter(m.BasicError).validate_python(anonymous.json())


@pytest.mark.parametrize("seed", [0, 1])  # the seed picks 403 or 429, as GitHub uses both
def test_a_spent_rate_limit_matches_githubs_schema(
    start_sandbox: StartSandbox, connect: Connect, seed: int
) -> None:
    server: SandboxServer = start_sandbox(github_rate_limit=1, seed=seed)
    clients = connect(server)
    valid(clients, m.FullRepository, "GET", CMS, 200)
    valid(clients, m.BasicError, "GET", CMS, 429 if seed % 2 else 403)
