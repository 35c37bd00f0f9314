"""How the sandbox's GitHub represents what it holds: users, repositories, commits,
statuses, files, pull requests, branch protections and refs, as GitHub's REST API answers
them (the fields clients read, after GitHub's official REST description). `GitHubApi`
(`oob.sandbox.github`) answers requests with them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from oob.sandbox.pages import GITHUB_PAGES
from oob.sandbox.repo import Commit, PullRequest, Repo, Status, blob_sha
from oob.sandbox.wire import origin
from oob.sandbox.world import World

# The yes/no settings of a branch protection, each `{"enabled": bool}` when read.
PROTECTION_FLAGS = (
    "required_linear_history",
    "allow_force_pushes",
    "allow_deletions",
    "block_creations",
    "required_conversation_resolution",
    "lock_branch",
    "allow_fork_syncing",
)
# The `*_url` fields of a repository, after its API URL (GitHub's URI templates).
REPO_URLS = {
    "forks": "/forks",
    "keys": "/keys{/key_id}",
    "collaborators": "/collaborators{/collaborator}",
    "teams": "/teams",
    "hooks": "/hooks",
    "issue_events": "/issues/events{/number}",
    "events": "/events",
    "assignees": "/assignees{/user}",
    "branches": "/branches{/branch}",
    "tags": "/tags",
    "blobs": "/git/blobs{/sha}",
    "git_tags": "/git/tags{/sha}",
    "git_refs": "/git/refs{/sha}",
    "trees": "/git/trees{/sha}",
    "statuses": "/statuses/{sha}",
    "languages": "/languages",
    "stargazers": "/stargazers",
    "contributors": "/contributors",
    "subscribers": "/subscribers",
    "subscription": "/subscription",
    "commits": "/commits{/sha}",
    "git_commits": "/git/commits{/sha}",
    "comments": "/comments{/number}",
    "issue_comment": "/issues/comments{/number}",
    "contents": "/contents/{+path}",
    "compare": "/compare/{base}...{head}",
    "merges": "/merges",
    "archive": "/{archive_format}{/ref}",
    "downloads": "/downloads",
    "issues": "/issues{/number}",
    "pulls": "/pulls{/number}",
    "milestones": "/milestones{/number}",
    "notifications": "/notifications{?since,all,participating}",
    "labels": "/labels{/name}",
    "releases": "/releases{/id}",
    "deployments": "/deployments",
}

# What every repository of the sandbox shows alike: a private PHP repository nobody forked.
REPO_FACTS: dict[str, Any] = {
    "mirror_url": None,
    "homepage": None,
    "language": "PHP",
    "forks_count": 0,
    "forks": 0,
    "stargazers_count": 0,
    "watchers_count": 0,
    "watchers": 0,
    "subscribers_count": 0,
    "network_count": 0,
    "size": 1024,
    "open_issues_count": 0,
    "open_issues": 0,
    "is_template": False,
    "topics": [],
    "has_issues": True,
    "has_projects": False,
    "has_wiki": False,
    "has_pages": False,
    "has_downloads": True,
    "has_discussions": False,
    "archived": False,
    "disabled": False,
    "license": None,
    "allow_forking": False,
    "web_commit_signoff_required": False,
}
# The token's permissions on a repository, but `admin` (`Options.github_admin`).
REPO_PERMISSIONS = {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True}

# What a pull request of the sandbox never has: assignees, reviewers, labels, a milestone.
PULL_UNUSED: dict[str, Any] = {
    "assignee": None,
    "assignees": [],
    "requested_reviewers": [],
    "labels": [],
    "milestone": None,
    "draft": False,
}
# How a pull request stands for review and merging, the same for all of the sandbox's.
PULL_REVIEW: dict[str, Any] = {
    "author_association": "MEMBER",
    "auto_merge": None,
    "active_lock_reason": None,
    "mergeable": None,
    "rebaseable": None,
    "mergeable_state": "unknown",
}
# A pull request's counts (but `commits`): nothing commented, no lines counted.
PULL_COUNTS = {
    "comments": 0,
    "review_comments": 0,
    "maintainer_can_modify": False,
    "additions": 0,
    "deletions": 0,
    "changed_files": 0,
}


def when(epoch: float) -> str:
    """GitHub's timestamp format."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def login_of(name: str) -> str:
    """A GitHub login for a commit author's name."""
    return re.sub(r"[^a-z0-9\[\]-]", "", name.lower())


class Shapes:
    """GitHub's JSON for the sandbox's objects, with the URLs of the request's host."""

    world: World

    def _api(self, request: Request) -> str:
        return f"{origin(request)}/github"

    @staticmethod
    def _html(request: Request) -> str:
        # Where a person opens what GitHub's `html_url`s point at: the sandbox's own pages.
        return f"{origin(request)}{GITHUB_PAGES}"

    # -- JSON shapes --------------------------------------------------------------------------

    @staticmethod
    def _user_id(login: str) -> int:
        return int.from_bytes(login.encode()[:6].ljust(6, b"\0"), "big") % 90_000_000 + 1_000_000

    def _user(self, request: Request, login: str, kind: str = "User") -> dict[str, Any]:
        """A simple-user: what GitHub embeds wherever it names an account."""
        url = f"{self._api(request)}/{'orgs' if kind == 'Organization' else 'users'}/{login}"
        users = f"{self._api(request)}/users/{login}"
        return {
            "login": login,
            "id": self._user_id(login),
            "node_id": f"U_{login}",
            "avatar_url": f"https://avatars.githubusercontent.com/{login}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"{self._html(request)}/{login}",
            "followers_url": f"{users}/followers",
            "following_url": f"{users}/following{{/other_user}}",
            "gists_url": f"{users}/gists{{/gist_id}}",
            "starred_url": f"{users}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{users}/subscriptions",
            "organizations_url": f"{users}/orgs",
            "repos_url": f"{users}/repos",
            "events_url": f"{users}/events{{/privacy}}",
            "received_events_url": f"{users}/received_events",
            "type": "Bot" if login.endswith("[bot]") else kind,
            "user_view_type": "public",
            "site_admin": False,
        }

    def _repo(self, request: Request, repo: Repo) -> dict[str, Any]:
        """A full repository, with every URL template GitHub hands out."""
        api = self._api(request)
        url = f"{api}/repos/{repo.full_name}"
        created = when(self.world.t0 - 9 * 365 * 86400)
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": repo.full_name,
            "private": True,
            "visibility": "private",
            "owner": self._user(request, repo.owner, "Organization"),
            "html_url": f"{self._html(request)}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": url,
        }
        data.update({f"{name}_url": url + tail for name, tail in REPO_URLS.items()})
        pushed = max((c.date for c in repo.commits.values()), default=self.world.t0)
        html = f"{self._html(request)}/{repo.full_name}"
        data.update(
            {
                "git_url": f"git://github.com/{repo.full_name}.git",
                "ssh_url": f"git@github.com:{repo.full_name}.git",
                "clone_url": f"{html}.git",
                "svn_url": html,
                **REPO_FACTS,
                "default_branch": repo.default_branch,
                # The last push, not now: what embeds a repository stays the same until one.
                "pushed_at": when(pushed),
                "created_at": created,
                "updated_at": when(pushed),
                "permissions": {**REPO_PERMISSIONS, "admin": self.world.options.github_admin},
            }
        )
        return data

    def _commit(
        self, request: Request, repo: Repo, commit: Commit, *, full: bool = False
    ) -> dict[str, Any]:
        api = f"{self._api(request)}/repos/{repo.full_name}"
        person = {"name": commit.author, "email": commit.email, "date": when(commit.date)}
        data: dict[str, Any] = {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:20]}",
            "commit": {
                "author": person,
                "committer": person,
                "message": commit.message,
                "tree": {"sha": commit.tree_sha, "url": f"{api}/git/trees/{commit.tree_sha}"},
                "url": f"{api}/git/commits/{commit.sha}",
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                },
            },
            "url": f"{api}/commits/{commit.sha}",
            "html_url": f"{self._html(request)}/{repo.full_name}/commit/{commit.sha}",
            "comments_url": f"{api}/commits/{commit.sha}/comments",
            "author": self._user(request, login_of(commit.author)),
            "committer": self._user(request, login_of(commit.author)),
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"{self._html(request)}/{repo.full_name}/commit/{p}",
                }
                for p in commit.parents
            ],
        }
        if full:
            lines = sum(content.count(b"\n") for content in commit.changes.values())
            data["stats"] = {"total": lines, "additions": lines, "deletions": 0}
            data["files"] = [
                {
                    "sha": blob_sha(content),
                    "filename": path,
                    "status": "modified",
                    "additions": content.count(b"\n"),
                    "deletions": 0,
                    "changes": content.count(b"\n"),
                    "blob_url": f"{self._html(request)}/{repo.full_name}/blob/{commit.sha}/{path}",
                    "raw_url": f"{self._html(request)}/{repo.full_name}/raw/{commit.sha}/{path}",
                    "contents_url": f"{api}/contents/{path}?ref={commit.sha}",
                }
                for path, content in commit.changes.items()
            ]
        return data

    def _status(
        self, request: Request, repo: Repo, status: Status, *, creator: bool = True
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "url": f"{self._api(request)}/repos/{repo.full_name}/statuses/{status.sha}",
            "avatar_url": f"https://avatars.githubusercontent.com/{status.creator}",
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": when(status.created_at),
            "updated_at": when(status.created_at),
        }
        if creator:
            data["creator"] = self._user(request, status.creator)
        return data

    def _file(
        self, request: Request, repo: Repo, path: str, content: bytes, ref: str
    ) -> dict[str, Any]:
        api = f"{self._api(request)}/repos/{repo.full_name}"
        sha = blob_sha(content)
        query = urlencode({"ref": ref})
        return {
            "type": "file",
            "encoding": "base64",
            "size": len(content),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": f"{api}/contents/{path}?{query}",
            "git_url": f"{api}/git/blobs/{sha}",
            "html_url": f"{self._html(request)}/{repo.full_name}/blob/{ref}/{path}",
            "download_url": None,
            "_links": {
                "self": f"{api}/contents/{path}?{query}",
                "git": f"{api}/git/blobs/{sha}",
                "html": f"{self._html(request)}/{repo.full_name}/blob/{ref}/{path}",
            },
        }

    def _pull(self, request: Request, repo: Repo, pull: PullRequest) -> dict[str, Any]:
        api = f"{self._api(request)}/repos/{repo.full_name}"
        html = f"{self._html(request)}/{repo.full_name}/pull/{pull.number}"
        url = f"{api}/pulls/{pull.number}"
        merged = when(pull.merged_at) if pull.merged_at is not None else None
        head_sha = repo.branches.get(pull.head, "")
        data = {
            **self._pull_urls(api, html, pull.number, head_sha),
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._user(request, pull.user),
            "body": pull.body,
            "created_at": when(pull.created_at),
            "updated_at": when(pull.created_at),
            "closed_at": merged,
            "merged_at": merged,
            "merge_commit_sha": pull.merge_commit_sha,
            **PULL_UNUSED,
            "head": self._pull_side(request, repo, pull.head),
            "base": self._pull_side(request, repo, pull.base),
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": f"{api}/issues/{pull.number}"},
                "comments": {"href": f"{api}/issues/{pull.number}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{api}/statuses/{head_sha}"},
            },
            **PULL_REVIEW,
            "merged": pull.merged_at is not None,
            "merged_by": self._user(request, pull.merged_by) if pull.merged_by else None,
        }
        comparison = repo.compare(repo.branches[pull.base], repo.branches[pull.head])
        return {**data, **PULL_COUNTS, "commits": comparison.ahead_by}

    @staticmethod
    def _pull_urls(api: str, html: str, number: int, head_sha: str) -> dict[str, Any]:
        """The `*_url` fields of a pull request (`api` is its repository's API URL)."""
        url = f"{api}/pulls/{number}"
        return {
            "url": url,
            "id": 1_900_000_000 + number,
            "node_id": f"PR_{number}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{number}",
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}",
        }

    def _pull_side(self, request: Request, repo: Repo, branch: str) -> dict[str, Any]:
        """A pull request's `head` or `base`: a branch of the same repository."""
        return {
            "label": f"{repo.owner}:{branch}",
            "ref": branch,
            "sha": repo.branches.get(branch, ""),
            "user": self._user(request, repo.owner, "Organization"),
            "repo": self._repo(request, repo),
        }

    def _protection(self, request: Request, repo: Repo, branch: str) -> dict[str, Any]:
        rules = repo.protection[branch]
        url = f"{self._api(request)}/repos/{repo.full_name}/branches/{branch}/protection"
        data: dict[str, Any] = {"url": url}
        checks = rules.get("required_status_checks")
        if checks is not None:
            data["required_status_checks"] = {
                "url": f"{url}/required_status_checks",
                "strict": bool(checks.get("strict")),
                "contexts": list(checks.get("contexts") or []),
                "contexts_url": f"{url}/required_status_checks/contexts",
                "checks": [{"context": c, "app_id": None} for c in checks.get("contexts") or []],
            }
        reviews = rules.get("required_pull_request_reviews")
        if reviews is not None:
            data["required_pull_request_reviews"] = {
                "url": f"{url}/required_pull_request_reviews",
                "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews")),
                "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews")),
                "required_approving_review_count": int(
                    reviews.get("required_approving_review_count") or 0
                ),
                "require_last_push_approval": bool(reviews.get("require_last_push_approval")),
            }
        data["required_signatures"] = {"url": f"{url}/required_signatures", "enabled": False}
        data["enforce_admins"] = {
            "url": f"{url}/enforce_admins",
            "enabled": bool(rules.get("enforce_admins")),
        }
        for flag in PROTECTION_FLAGS:
            data[flag] = {"enabled": bool(rules.get(flag))}
        return data

    def _ref(self, request: Request, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        api = f"{self._api(request)}/repos/{repo.full_name}"
        return {
            "ref": ref,
            "node_id": f"REF_{ref}",
            "url": f"{api}/git/{ref}",
            "object": {"sha": sha, "type": "commit", "url": f"{api}/git/commits/{sha}"},
        }
