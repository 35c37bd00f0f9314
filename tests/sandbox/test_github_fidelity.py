"""GitHub behaviours a lenient imitation gets wrong: paging, rate limits, ETags, validation."""

from __future__ import annotations

import pytest
from github import Github, GithubException, RateLimitExceededException

from .conftest import CMS_REPO, POSTMORTEMS, TOKEN, Clients, Connect, StartSandbox, land

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}


def test_compare_pages_commits_oldest_first_with_link(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    landed = land(clients.sandbox, 7)
    url = f"/github/repos/{CMS_REPO}/compare/{fix}...main"
    whole = clients.http.get(url, headers=HEADERS)
    assert "Link" not in whole.headers
    assert [c["sha"] for c in whole.json()["commits"]] == landed
    first = clients.http.get(url, params={"per_page": 3, "page": 1}, headers=HEADERS)
    assert [c["sha"] for c in first.json()["commits"]] == landed[:3]
    assert first.json()["total_commits"] == 7
    assert "files" in first.json()
    following = first.links["next"]["url"]
    assert "/github/repositories/" in following
    assert first.links["last"]["url"].endswith("page=3")
    second = clients.http.get(following, headers=HEADERS)
    assert [c["sha"] for c in second.json()["commits"]] == landed[3:6]
    assert "files" not in second.json()
    assert {"prev", "first", "next", "last"} <= set(second.links)
    repo = clients.github.get_repo(CMS_REPO)
    clients.github.per_page = 2
    assert [c.sha for c in repo.compare(fix, "main").commits] == landed


def test_the_primary_rate_limit_refuses_once_spent(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    server = start_sandbox(github_rate_limit=3)
    clients = connect(server)
    remaining = []
    for _ in range(3):
        answer = clients.http.get(f"/github/repos/{CMS_REPO}", headers=HEADERS)
        assert answer.status_code == 200
        remaining.append(answer.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    refused = clients.http.get(f"/github/repos/{CMS_REPO}", headers=HEADERS)
    assert refused.status_code in (403, 429)
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) > 0
    assert refused.json()["message"].startswith("API rate limit exceeded")
    with pytest.raises(RateLimitExceededException):
        clients.github.get_repo(CMS_REPO)
    free = clients.http.get("/github/rate_limit", headers=HEADERS)
    assert free.status_code == 200
    assert free.json()["resources"]["core"]["remaining"] == 0
    assert server.state()["github"]["requests_counted"] == 3


def test_conditional_requests_get_304_and_cost_nothing(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    url = f"/github/repos/{CMS_REPO}/commits/{fix}/status"
    first = clients.http.get(url, headers=HEADERS)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    used = int(first.headers["X-RateLimit-Used"])
    again = clients.http.get(url, headers={**HEADERS, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert int(again.headers["X-RateLimit-Used"]) == used
    clients.github.get_repo(CMS_REPO).get_commit(fix).create_status("pending", context="x/y")
    changed = clients.http.get(url, headers={**HEADERS, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    github = clients.sandbox.state()["github"]
    assert github["requests_not_modified"] == 1
    assert github["requests_counted"] == 5  # the 304 is the only one not counted


def test_a_head_filter_without_owner_is_ignored(clients: Clients) -> None:
    repo = clients.github.get_repo(POSTMORTEMS)
    master = repo.get_git_ref("heads/master").object.sha
    for branch in ("oob/one", "oob/two"):
        repo.create_git_ref(f"refs/heads/{branch}", master)
        repo.create_file(f"{branch}.md", "Draft", "# PM\n", branch=branch)
        repo.create_pull(title=branch, body="", head=branch, base="master")
    bare = repo.get_pulls(state="open", head="oob/one")
    assert sorted(p.head.ref for p in bare) == ["oob/one", "oob/two"]
    owned = repo.get_pulls(state="open", head="department-of-veterans-affairs:oob/one")
    assert [p.head.ref for p in owned] == ["oob/one"]
    other = repo.get_pulls(state="open", head="someone-else:oob/one")
    assert list(other) == []


def test_a_status_description_over_140_characters_is_422(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    commit = clients.github.get_repo(CMS_REPO).get_commit(fix)
    commit.create_status("success", context="oob/override", description="x" * 140)
    with pytest.raises(GithubException) as caught:
        commit.create_status("success", context="oob/override", description="x" * 141)
    assert caught.value.status == 422
    assert caught.value.data["errors"][0]["field"] == "description"


def test_contexts_match_case_insensitively(clients: Clients) -> None:
    state = clients.sandbox.state()
    commit = clients.github.get_repo(CMS_REPO).get_commit(state["fix_sha"])
    commit.create_status("failure", context="VA/tests/Cypress")
    combined = commit.get_combined_status()
    assert combined.state == "failure"
    assert combined.total_count == 4
    assert {s.context for s in combined.statuses} >= {"VA/tests/Cypress"}
    assert "va/tests/cypress" not in {s.context for s in combined.statuses}


def test_a_client_with_a_spent_limit_does_not_hide_it(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    """PyGithub raises on the primary limit rather than retrying for an hour."""
    clients = connect(start_sandbox(github_rate_limit=1))
    github: Github = clients.github
    github.get_repo(CMS_REPO)
    with pytest.raises(RateLimitExceededException):
        github.get_repo(CMS_REPO)
