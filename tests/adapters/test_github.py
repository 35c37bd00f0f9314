"""GitHubCodeHost against scripted answers: statuses, compare, rate limits, errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from oob.adapters.github import GitHubCodeHost
from oob.errors import GitHubError, UsageError
from oob.ports import CompareStatus, StatusState
from tests.adapters.conftest import POLICY, FixedClock, Script, ok

REPO = "/repos/department-of-veterans-affairs/va.gov-cms"
FIX = "b" * 40


@pytest.fixture
def github(script: Script, clock: FixedClock) -> Iterator[GitHubCodeHost]:
    host = GitHubCodeHost(
        "https://api.github.example",
        "department-of-veterans-affairs/va.gov-cms",
        "ghp_s3cret",
        token_env="OOB_GITHUB_TOKEN",
        timeout_seconds=5,
        policy=POLICY,
        transport=script.transport,
        clock=clock,
    )
    yield host
    host.close()


def commit_json(sha: str, message: str = "Fix login") -> dict[str, object]:
    return {
        "sha": sha,
        "html_url": f"https://github.example/x/commit/{sha}",
        "author": {"login": "dev"},
        "commit": {
            "message": message,
            "author": {"name": "Dev"},
            "committer": {"date": "2024-06-23T13:00:00Z"},
        },
    }


def test_commit_resolves_a_short_sha(github: GitHubCodeHost, script: Script) -> None:
    script.on(f"GET {REPO}/commits/bbbbbbb", ok(commit_json(FIX)))
    commit = github.commit("bbbbbbb")
    assert (commit.sha, commit.author, commit.message) == (FIX, "dev", "Fix login")
    sent = script.requests[0]
    assert sent.headers["Authorization"] == "Bearer ghp_s3cret"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"


@pytest.mark.parametrize("status", [404, 422])
def test_an_unknown_commit_is_bad_input(
    github: GitHubCodeHost, script: Script, status: int
) -> None:
    script.on(f"GET {REPO}/commits/deadbee", ok({"message": "No commit found for SHA"}, status))
    with pytest.raises(UsageError, match="has no commit 'deadbee'"):
        github.commit("deadbee")
    assert len(script.requests) == 1


def test_combined_status_lists_every_context(github: GitHubCodeHost, script: Script) -> None:
    script.on(
        f"GET {REPO}/commits/{FIX}/status",
        ok(
            {
                "state": "failure",
                "sha": FIX,
                "total_count": 2,
                "statuses": [
                    {
                        "context": "va/tests/cypress",
                        "state": "failure",
                        "description": "3 failed",
                        "target_url": None,
                        "updated_at": "2024-06-23T13:30:00Z",
                    },
                    {"context": "va/tests/phpunit", "state": "success", "description": None},
                ],
            }
        ),
    )
    combined = github.combined_status(FIX)
    assert combined.state is StatusState.FAILURE
    cypress = combined.context("va/tests/cypress")
    assert cypress is not None
    assert cypress.state is StatusState.FAILURE
    assert cypress.updated_at is not None
    assert combined.context("va/tests/status-error") is None


def test_create_status_posts_and_reads_back(github: GitHubCodeHost, script: Script) -> None:
    script.on(
        f"POST {REPO}/statuses/{FIX}",
        ok({"context": "va/tests/cypress", "state": "success", "description": "x"}, 201),
    )
    status = github.create_status(FIX, StatusState.SUCCESS, "va/tests/cypress", "d" * 200, None)
    assert status.state is StatusState.SUCCESS
    body = json.loads(script.requests[0].content)
    assert len(body["description"]) == 140
    assert "target_url" not in body


def test_a_validation_error_is_not_retried_and_names_the_errors(
    github: GitHubCodeHost, script: Script
) -> None:
    script.on(
        f"POST {REPO}/statuses/{FIX}",
        ok({"message": "Validation Failed", "errors": [{"code": "custom", "message": "bad"}]}, 422),
    )
    with pytest.raises(GitHubError, match=r"Validation Failed \(bad\)"):
        github.create_status(FIX, StatusState.SUCCESS, "va/tests/cypress", "x", None)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    ("status", "head_contains_base"),
    [("ahead", True), ("identical", True), ("behind", False), ("diverged", False)],
)
def test_compare(
    github: GitHubCodeHost, script: Script, status: str, head_contains_base: bool
) -> None:
    script.on(
        f"GET {REPO}/compare/{FIX}...{'c' * 40}",
        ok({"status": status, "ahead_by": 1, "behind_by": 0, "total_commits": 1, "commits": []}),
    )
    comparison = github.compare(FIX, "c" * 40)
    assert comparison.status is CompareStatus(status)
    assert comparison.head_contains_base is head_contains_base


def test_commits_after_are_newest_first_and_paged(github: GitHubCodeHost, script: Script) -> None:
    """GitHub pages a comparison oldest first and links the next page by repository id."""
    route = f"GET {REPO}/compare/{FIX}...main"
    following = f"/repositories/1/compare/{FIX}...main"
    link = f'<https://api.github.com{following}?page=2&per_page=100>; rel="next"'
    script.on(
        route,
        ok(
            {
                "status": "ahead",
                "total_commits": 3,
                "commits": [commit_json("1"), commit_json("2")],
            },
            Link=link,
        ),
    )
    script.on(
        f"GET {following}",
        ok({"status": "ahead", "total_commits": 3, "commits": [commit_json("3")]}),
    )
    assert [c.sha for c in github.commits_after(FIX)] == ["3", "2", "1"]
    assert [r.url.params["page"] for r in script.calls(route)] == ["1"]
    assert [r.url.params["page"] for r in script.calls(f"GET {following}")] == ["2"]


def test_commits_after_a_commit_not_on_the_branch_is_empty(
    github: GitHubCodeHost, script: Script
) -> None:
    script.on(f"GET {REPO}/compare/{FIX}...main", ok({"status": "diverged", "commits": []}))
    assert github.commits_after(FIX) == []


def test_401_says_which_token(github: GitHubCodeHost, script: Script) -> None:
    script.on(f"GET {REPO}/commits/{FIX}/status", ok({"message": "Bad credentials"}, 401))
    with pytest.raises(GitHubError) as caught:
        github.combined_status(FIX)
    assert caught.value.message == "GitHub answered 401 (Bad credentials)"
    assert caught.value.hint == "check the token in OOB_GITHUB_TOKEN"
    assert len(script.requests) == 1


def test_403_without_rate_limit_is_a_permission_problem(
    github: GitHubCodeHost, script: Script
) -> None:
    script.on(
        f"POST {REPO}/statuses/{FIX}",
        ok({"message": "Resource not accessible by integration"}, 403),
    )
    with pytest.raises(GitHubError, match="403") as caught:
        github.create_status(FIX, StatusState.SUCCESS, "c", "d", None)
    assert "lacks a permission" in (caught.value.hint or "")
    assert len(script.requests) == 1


def test_a_primary_rate_limit_is_waited_out_when_it_resets_soon(
    github: GitHubCodeHost, script: Script, clock: FixedClock
) -> None:
    reset = str(int(clock.at.timestamp()) + 30)
    script.on(
        f"GET {REPO}/commits/{FIX}/status",
        ok(
            {"message": "API rate limit exceeded"},
            403,
            **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
        ),
        ok({"state": "success", "sha": FIX, "statuses": []}),
    )
    assert github.combined_status(FIX).state is StatusState.SUCCESS
    assert len(script.requests) == 2


def test_a_rate_limit_that_resets_late_says_when(
    github: GitHubCodeHost, script: Script, clock: FixedClock
) -> None:
    reset = str(int(clock.at.timestamp()) + 1800)
    script.on(
        f"GET {REPO}/commits/{FIX}/status",
        ok(
            {"message": "API rate limit exceeded"},
            403,
            **{"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
        ),
    )
    with pytest.raises(GitHubError, match=r"rate limiting the token until 14:30:01 UTC"):
        github.combined_status(FIX)
    assert len(script.requests) == 1


def test_a_secondary_rate_limit_honours_retry_after(github: GitHubCodeHost, script: Script) -> None:
    script.on(
        f"GET {REPO}/commits/{FIX}/status",
        ok({"message": "You have exceeded a secondary rate limit"}, 403, **{"retry-after": "5"}),
        ok({"message": "You have exceeded a secondary rate limit"}, 429),
        ok({"state": "pending", "sha": FIX, "statuses": []}),
    )
    assert github.combined_status(FIX).state is StatusState.PENDING
    assert len(script.requests) == 3


def test_server_errors_are_retried_then_explained(github: GitHubCodeHost, script: Script) -> None:
    script.on(f"GET {REPO}/commits/{FIX}/status", httpx.Response(502))
    with pytest.raises(GitHubError, match="502 on status of bbbbbbbbbbbb, also after retries"):
        github.combined_status(FIX)
    assert len(script.requests) == POLICY.attempts


def test_ensure_branch_keeps_an_existing_branch(github: GitHubCodeHost, script: Script) -> None:
    repo = "/repos/o/pm"
    script.on(f"GET {repo}/git/ref/heads/master", ok({"object": {"sha": "m" * 40}}))
    script.on(f"POST {repo}/git/refs", ok({"message": "Reference already exists"}, 422))
    github.ensure_branch("o/pm", "oob/run-1", "master")
    assert json.loads(script.calls(f"POST {repo}/git/refs")[0].content) == {
        "ref": "refs/heads/oob/run-1",
        "sha": "m" * 40,
    }


SHA_MISSING = ok({"message": 'Invalid request.\n\n"sha" wasn\'t supplied.'}, 422)


def test_put_file_creates_a_missing_file_in_one_request(
    github: GitHubCodeHost, script: Script
) -> None:
    route = "/repos/o/pm/contents/a.md"
    script.on(f"PUT {route}", ok({"content": {}}, 201))
    github.put_file("o/pm", "b", "a.md", "new", "msg")
    assert [f"{r.method} {r.url.path}" for r in script.requests] == [f"PUT {route}"]
    assert "sha" not in json.loads(script.calls(f"PUT {route}")[0].content)


def test_put_file_skips_unchanged_content(github: GitHubCodeHost, script: Script) -> None:
    route = "/repos/o/pm/contents/Postmortems/2024/x.md"
    encoded = base64.b64encode(b"# PM\n").decode()
    script.on(f"PUT {route}", SHA_MISSING)
    script.on(f"GET {route}", ok({"sha": "f" * 40, "content": encoded}))
    github.put_file("o/pm", "oob/run-1", "Postmortems/2024/x.md", "# PM\n", "msg")
    assert len(script.calls(f"PUT {route}")) == 1
    assert script.calls(f"GET {route}")[0].url.params["ref"] == "oob/run-1"


def test_put_file_updates_with_the_current_sha(github: GitHubCodeHost, script: Script) -> None:
    route = "/repos/o/pm/contents/Postmortems/2024/x.md"
    script.on(f"PUT {route}", SHA_MISSING, ok({"content": {}}, 200))
    script.on(f"GET {route}", ok({"sha": "f" * 40, "content": base64.b64encode(b"old").decode()}))
    github.put_file("o/pm", "oob/run-1", "Postmortems/2024/x.md", "new", "msg")
    body = json.loads(script.calls(f"PUT {route}")[1].content)
    assert (body["sha"], body["branch"]) == ("f" * 40, "oob/run-1")
    assert base64.b64decode(body["content"]) == b"new"


def test_ensure_pull_request_opens_one_in_one_request(
    github: GitHubCodeHost, script: Script
) -> None:
    script.on(
        "POST /repos/o/pm/pulls", ok({"number": 3, "html_url": "https://gh/o/pm/pull/3"}, 201)
    )
    pull = github.ensure_pull_request("o/pm", "b", "master", "t", "body")
    assert (pull.number, pull.url) == (3, "https://gh/o/pm/pull/3")
    assert [f"{r.method} {r.url.path}" for r in script.requests] == ["POST /repos/o/pm/pulls"]


def test_ensure_pull_request_reuses_the_open_one(github: GitHubCodeHost, script: Script) -> None:
    script.on(
        "GET /repos/o/pm/pulls",
        ok([{"number": 9, "html_url": "https://github.example/o/pm/pull/9"}]),
    )
    script.on(
        "POST /repos/o/pm/pulls",
        ok(
            {
                "message": "Validation Failed",
                "errors": [{"message": "A pull request already exists for o:b."}],
            },
            422,
        ),
    )
    pull = github.ensure_pull_request("o/pm", "b", "master", "t", "body")
    assert (pull.number, pull.url) == (9, "https://github.example/o/pm/pull/9")
    assert script.calls("GET /repos/o/pm/pulls")[0].url.params["head"] == "o:b"


def test_permissions(github: GitHubCodeHost, script: Script) -> None:
    script.on(f"GET {REPO}", ok({"permissions": {"pull": True, "push": False}}))
    assert github.permissions() == {"pull": True, "push": False}
