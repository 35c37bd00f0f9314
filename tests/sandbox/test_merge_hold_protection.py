"""Branch protection and merges in the sandbox, as GitHub answers them, and oob's GitHub adapter
for the merge hold against them over real HTTP."""

from __future__ import annotations

from typing import Any

from githubkit_schemas.v2022_11_28 import models as m
from pydantic import TypeAdapter

from oob.adapters.github import GitHubCodeHost, protection_settings
from oob.ports import StatusState
from oob.sandbox.server import SandboxServer

from .conftest import CMS_REPO, TOKEN, Connect, StartSandbox

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
CMS = f"/github/repos/{CMS_REPO}"
HOLD = "oob/merge-hold"


def code_host(server: SandboxServer) -> GitHubCodeHost:
    return GitHubCodeHost(
        f"{server.url}/github",
        CMS_REPO,
        TOKEN,
        token_env="OOB_GITHUB_TOKEN",
        branch="main",
        timeout_seconds=10,
    )


def valid(answer: Any, model: Any, status: int) -> Any:
    assert answer.status_code == status, answer.text
    data = answer.json()
    TypeAdapter(model).validate_python(data)
    return data


def test_protection_and_merges_match_githubs_schemas(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    server = start_sandbox("main-moved", github_admin=True, hold_required=True)
    http = connect(server).http
    read = valid(
        http.get(f"{CMS}/branches/main/protection", headers=HEADERS), m.BranchProtection, 200
    )
    assert HOLD in read["required_status_checks"]["contexts"]
    branch = valid(http.get(f"{CMS}/branches/main", headers=HEADERS), m.BranchWithProtection, 200)
    assert branch["protected"] is True
    body = protection_settings(read, lock_branch=True)
    TypeAdapter(m.ReposOwnerRepoBranchesBranchProtectionPutBody).validate_python(body)
    put = http.put(f"{CMS}/branches/main/protection", headers=HEADERS, json=body)
    assert valid(put, m.ProtectedBranch, 200)["lock_branch"] == {"enabled": True}
    pulls = http.get(f"{CMS}/pulls", headers=HEADERS, params={"state": "open", "base": "main"})
    (pull,) = valid(pulls, list[m.PullRequestSimple], 200)
    # An admin may bypass the lock and the checks (enforce_admins is off): GitHub merges.
    merged = http.put(f"{CMS}/pulls/{pull['number']}/merge", headers=HEADERS, json={})
    assert valid(merged, m.PullRequestMergeResult, 200)["merged"] is True
    again = http.put(f"{CMS}/pulls/{pull['number']}/merge", headers=HEADERS, json={})
    valid(again, m.BasicError, 405)
    missing = http.put(
        f"{CMS}/branches/main/protection", headers=HEADERS, json={"lock_branch": True}
    )
    valid(missing, m.BasicError, 422)


def test_a_required_hold_refuses_a_merge_until_success(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    server = start_sandbox("main-moved", hold_required=True)
    http = connect(server).http
    host = code_host(server)
    try:
        (pull,) = host.open_pulls("main")
        refused = http.put(f"{CMS}/pulls/{pull.number}/merge", headers=HEADERS, json={})
        assert valid(refused, m.BasicError, 405)["message"] == (
            f'Required status check "{HOLD}" is expected.'
        )
        host.create_status(pull.head_sha, StatusState.PENDING, HOLD, "held", None)
        still = http.put(f"{CMS}/pulls/{pull.number}/merge", headers=HEADERS, json={})
        assert still.status_code == 405
        host.create_status(pull.head_sha, StatusState.SUCCESS, HOLD, "lifted", None)
        merged = http.put(f"{CMS}/pulls/{pull.number}/merge", headers=HEADERS, json={})
        assert merged.status_code == 200
        assert host.open_pulls("main") == []
        # Without admin rights, the protection cannot be read (GitHub hides it).
        hidden = http.get(f"{CMS}/branches/main/protection", headers=HEADERS)
        valid(hidden, m.BasicError, 404)
    finally:
        host.close()


def test_the_adapter_locks_and_restores_the_protection_exactly(
    start_sandbox: StartSandbox,
) -> None:
    server = start_sandbox("happy", github_admin=True)
    host = code_host(server)
    try:
        before = host.branch_protection("main")
        assert before is not None
        host.set_branch_protection("main", before, lock_branch=True)
        locked = host.branch_protection("main")
        assert locked is not None
        assert locked["lock_branch"] == {"enabled": True}
        host.set_branch_protection("main", before, lock_branch=False)
        assert host.branch_protection("main") == before
    finally:
        host.close()
