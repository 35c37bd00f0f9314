"""GitHub's REST API on the wire, driven by PyGithub (and httpx for headers)."""

from __future__ import annotations

import base64

import pytest
from github import BadCredentialsException, GithubException, UnknownObjectException

from .conftest import CMS_REPO, POSTMORTEMS, STAGING, TOKEN, Clients, Connect

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}


def test_repository_with_permissions_and_rate_limit_headers(clients: Clients) -> None:
    repo = clients.github.get_repo(CMS_REPO)
    assert repo.default_branch == "main"
    assert repo.permissions.push is True
    answer = clients.http.get(f"/github/repos/{CMS_REPO}", headers=HEADERS)
    for header in ("Limit", "Remaining", "Used", "Reset"):
        assert answer.headers[f"X-RateLimit-{header}"].isdigit()
    assert clients.github.get_user().login == "oob"
    assert clients.github.get_rate_limit().resources.core.limit == 5000


def test_bad_or_missing_token_is_401_with_a_message(clients: Clients, connect: Connect) -> None:
    with pytest.raises(BadCredentialsException):
        connect(clients.sandbox, token="nope").github.get_repo(CMS_REPO)
    answer = clients.http.get(f"/github/repos/{CMS_REPO}")
    assert answer.status_code == 401
    assert set(answer.json()) >= {"message", "documentation_url"}


def test_combined_status_follows_githubs_rules(clients: Clients) -> None:
    repo = clients.github.get_repo(CMS_REPO)
    fix = clients.sandbox.state()["fix_sha"]
    commit = repo.get_commit(fix)
    assert commit.get_combined_status().state == "pending"  # merged a minute ago, in staging
    clients.sandbox.advance(STAGING)
    combined = commit.get_combined_status()
    assert combined.state == "success"
    assert combined.total_count == 4
    assert {s.context for s in combined.statuses} == set(
        clients.sandbox.state()["required_contexts"]
    )
    commit.create_status("pending", context="va/tests/extra", description="running")
    assert commit.get_combined_status().state == "pending"
    commit.create_status("error", context="va/tests/phpunit", description="broke")
    assert commit.get_combined_status().state == "failure"  # failure wins over pending
    commit.create_status("success", context="va/tests/phpunit")
    commit.create_status("success", context="va/tests/extra")
    assert commit.get_combined_status().state == "success"  # the newest per context counts
    assert len(clients.sandbox.ledger()) == 4


def test_a_commit_without_statuses_is_pending(clients: Clients) -> None:
    repo = clients.github.get_repo(CMS_REPO)
    root = list(repo.get_commits(sha="main"))[-1]
    combined = root.get_combined_status()
    assert (combined.state, combined.total_count) == ("pending", 0)


def test_create_status_answers_201(clients: Clients) -> None:
    fix = clients.sandbox.state()["fix_sha"]
    answer = clients.http.post(
        f"/github/repos/{CMS_REPO}/statuses/{fix}",
        headers=HEADERS,
        json={"state": "success", "context": "va/tests/cypress", "description": "Success"},
    )
    assert answer.status_code == 201
    assert answer.json()["creator"]["login"] == "oob"
    bad = clients.http.post(
        f"/github/repos/{CMS_REPO}/statuses/{fix}", headers=HEADERS, json={"state": "ok"}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"]


def test_short_shas_resolve_and_unknown_ones_are_422(clients: Clients) -> None:
    repo = clients.github.get_repo(CMS_REPO)
    fix = clients.sandbox.state()["fix_sha"]
    assert repo.get_commit(fix[:7]).sha == fix
    with pytest.raises(GithubException) as caught:
        repo.get_commit("0000000")
    assert caught.value.status == 422


def test_compare_reports_ahead_behind_identical_and_diverged(clients: Clients) -> None:
    repo = clients.github.get_repo(CMS_REPO)
    state = clients.sandbox.state()
    fix, bug = state["fix_sha"], state["bug_sha"]
    assert repo.compare(fix, fix).status == "identical"
    ahead = repo.compare(bug, fix)
    assert (ahead.status, ahead.ahead_by, ahead.behind_by) == ("ahead", 3, 0)
    assert [c.sha for c in ahead.commits][-1] == fix
    assert ahead.merge_base_commit.sha == bug
    behind = repo.compare(fix, "cms/v0.0.312")
    assert (behind.status, behind.behind_by) == ("behind", 3)
    repo.create_git_ref("refs/heads/hotfix", bug)
    repo.create_file("hotfix.txt", "hotfix", b"patch\n", branch="hotfix")
    diverged = repo.compare("main", "hotfix")
    assert (diverged.status, diverged.ahead_by, diverged.behind_by) == ("diverged", 1, 3)


def test_list_commits_paginates_newest_first(clients: Clients) -> None:
    repo = clients.github.get_repo(CMS_REPO)
    clients.github.per_page = 3
    shas = [c.sha for c in repo.get_commits(sha="main")]
    assert shas[0] == clients.sandbox.state()["main_sha"]
    assert len(shas) == len(set(shas)) == 9
    answer = clients.http.get(
        f"/github/repos/{CMS_REPO}/commits", params={"sha": "main", "per_page": 2}, headers=HEADERS
    )
    assert 'rel="next"' in answer.headers["Link"]


def test_refs_get_and_create_with_422_for_a_duplicate(clients: Clients) -> None:
    repo = clients.github.get_repo(POSTMORTEMS)
    master = repo.get_git_ref("heads/master")
    made = repo.create_git_ref("refs/heads/oob/postmortem-1", master.object.sha)
    assert made.ref == "refs/heads/oob/postmortem-1"
    with pytest.raises(GithubException) as caught:
        repo.create_git_ref("refs/heads/oob/postmortem-1", master.object.sha)
    assert caught.value.status == 422
    assert caught.value.data["message"] == "Reference already exists"
    with pytest.raises(UnknownObjectException):
        repo.get_git_ref("heads/nope")


def test_contents_create_then_update_needs_the_sha(clients: Clients) -> None:
    repo = clients.github.get_repo(POSTMORTEMS)
    path = "Postmortems/2025/2025-06-15-cms-login.md"
    created = repo.create_file(path, "Draft postmortem", "# Draft\n", branch="master")
    assert created["content"].path == path
    with pytest.raises(GithubException) as caught:
        repo.create_file(path, "again", "# Again\n", branch="master")
    assert caught.value.status == 422
    updated = repo.update_file(
        path, "Update", "# Better\n", created["content"].sha, branch="master"
    )
    assert updated["commit"].sha != created["commit"].sha
    content = repo.get_contents(path, ref="master")
    assert not isinstance(content, list)
    assert base64.b64decode(content.content) == b"# Better\n"
    listing = repo.get_contents("Postmortems")
    assert isinstance(listing, list)
    assert {c.name for c in listing} >= {"postmortem-template.md", "2025"}


def test_pull_request_create_list_and_422_when_one_exists(clients: Clients) -> None:
    repo = clients.github.get_repo(POSTMORTEMS)
    master = repo.get_git_ref("heads/master").object.sha
    repo.create_git_ref("refs/heads/oob/pm", master)
    repo.create_file("Postmortems/pm.md", "Draft", "# PM\n", branch="oob/pm")
    pull = repo.create_pull(title="Postmortem", body="Draft", head="oob/pm", base="master")
    assert pull.number == 1
    assert pull.html_url.endswith("/pull/1")
    with pytest.raises(GithubException) as caught:
        repo.create_pull(title="Postmortem", body="Draft", head="oob/pm", base="master")
    assert caught.value.status == 422
    message = caught.value.data["errors"][0]["message"]
    assert message == "A pull request already exists for department-of-veterans-affairs:oob/pm."
    found = repo.get_pulls(state="open", head="department-of-veterans-affairs:oob/pm")
    assert [p.number for p in found] == [1]
    assert clients.sandbox.state()["postmortem_repo"]["pulls"][0]["head"] == "oob/pm"
