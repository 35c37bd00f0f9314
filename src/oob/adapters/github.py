"""The code host port on GitHub's REST API: commits and their statuses, comparisons, branch
protection (a merge hold's lock), and the postmortem's branch, file and pull request.

Requests, their retries and GitHub's rate limits, and the errors its answers become, are
`oob.adapters.github_api`'s.
"""

from __future__ import annotations

import base64
import copy
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from oob.adapters.deployments import GitHubDeployments
from oob.adapters.github_api import GitHubApi, all_messages
from oob.adapters.github_protection import protection_settings
from oob.adapters.retry import RetryPolicy, json_message
from oob.clock import Clock, SystemClock
from oob.errors import IntegrationError, UsageError
from oob.ports import (
    CombinedStatus,
    Commit,
    CommitStatus,
    CompareStatus,
    Comparison,
    OpenPull,
    PullRequest,
    StatusState,
)

# How far `commits_after` pages through a comparison; the release job only ever looks at the tip.
_MAX_COMPARE_PAGES = 5
# How many pages of open pull requests a merge hold reads (100 each).
_MAX_PULL_PAGES = 10
# GitHub's refusal to replace a file without its blob's SHA (a 422's message).
_SHA_MISSING = '"sha" wasn\'t supplied'


class GitHubCodeHost:
    """`oob.ports.CodeHost` on one repository (others are named per call, for the postmortem)."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str,
        *,
        token_env: str,
        branch: str = "main",
        timeout_seconds: float,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        """`repository` is "owner/name"; `branch` is the one releases are made from."""
        self.api_url = api_url.rstrip("/") + "/"
        self.repository = repository
        self.branch = branch
        self._api = GitHubApi(
            self.api_url,
            token,
            token_env=token_env,
            timeout_seconds=timeout_seconds,
            policy=policy or RetryPolicy(),
            transport=transport,
            clock=clock or SystemClock(),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._api.close()

    def for_repository(self, repository: str, branch: str) -> GitHubCodeHost:
        """This API with this token, for `repository` and its release `branch`: the same client
        (its connection pool, rate-limit state and cached answers); close only this one."""
        bound = copy.copy(self)
        bound.repository, bound.branch = repository, branch
        return bound

    def __repr__(self) -> str:
        return f"GitHubCodeHost({self.api_url!r}, {self.repository!r})"

    def deployments(self) -> GitHubDeployments:
        """The repository's deployments record, through this client (its pool, its ETags)."""
        return GitHubDeployments(self._api, self.repository)

    # --- the port -------------------------------------------------------------------------

    def commit(self, ref: str, repository: str | None = None) -> Commit:
        """The commit `ref` names (a short or full SHA, a branch); UsageError if none."""
        repo = repository or self.repository
        response = self._api.request("GET", f"repos/{repo}/commits/{quote(ref, safe='')}")
        if response.status_code in (404, 422):
            raise UsageError(
                f"{repo} has no commit {ref!r}",
                hint="check the SHA (GitHub needs at least 4 hex digits, 7 are usual) and that "
                "it was pushed",
            )
        data = self._api.ok(response, f"commit {ref}")
        return _commit_of(data)

    def combined_status(self, sha: str) -> CombinedStatus:
        """The combined state and the latest status of every context reported on `sha`."""
        data = self._api.json(
            "GET",
            f"repos/{self.repository}/commits/{sha}/status",
            what=f"status of {sha[:12]}",
            params={"per_page": 100},
        )
        statuses = tuple(_status_of(s) for s in data.get("statuses") or [])
        return CombinedStatus(
            sha=str(data.get("sha") or sha),
            state=StatusState(data.get("state", "pending")),
            statuses=statuses,
        )

    def create_status(
        self, sha: str, state: StatusState, context: str, description: str, target_url: str | None
    ) -> CommitStatus:
        """Post a commit status (repeating it is harmless: the latest per context counts)."""
        body: dict[str, Any] = {
            "state": state.value,
            "context": context,
            "description": description[:140],  # GitHub rejects longer descriptions with 422
        }
        if target_url:
            body["target_url"] = target_url
        data = self._api.json(
            "POST",
            f"repos/{self.repository}/statuses/{sha}",
            what=f"status {context} on {sha[:12]}",
            json=body,
        )
        return _status_of(data)

    def compare(self, base: str, head: str) -> Comparison:
        """How `head` relates to `base`; `head_contains_base` answers "has it the fix?"."""
        data = self._compare_page(base, head, page=1, per_page=1)
        return Comparison(
            base=base,
            head=head,
            status=CompareStatus(data["status"]),
            ahead_by=int(data.get("ahead_by", 0)),
            behind_by=int(data.get("behind_by", 0)),
            html_url=str(data.get("html_url", "")),
        )

    def commits_after(self, sha: str, branch: str | None = None) -> list[Commit]:
        """Commits on `branch` after `sha`, newest first (none if `branch` lacks `sha`).

        GitHub pages a comparison's commits oldest first and links the next page (`Link`);
        when there are more pages than oob reads, it reads the newest ones."""
        head = branch or self.branch
        per_page = 100
        data, response = self._compare_response(sha, head, page=1, per_page=per_page)
        if data.get("status") not in ("ahead", "identical"):
            return []
        pages = -(-int(data.get("total_commits", 0)) // per_page)
        if pages > _MAX_COMPARE_PAGES:
            first = pages - _MAX_COMPARE_PAGES + 1
            data, response = self._compare_response(sha, head, page=first, per_page=per_page)
        commits = [_commit_of(c) for c in data.get("commits") or []]
        for _ in range(_MAX_COMPARE_PAGES - 1):
            following = response.links.get("next", {}).get("url")
            if not following:
                break
            response = self._api.request("GET", following)
            data = self._api.ok(response, f"comparison {sha[:12]}...{head}")
            commits += [_commit_of(c) for c in data.get("commits") or []]
        commits.reverse()
        return commits

    def ensure_branch(self, repository: str, branch: str, from_branch: str) -> None:
        """Create `branch` at the tip of `from_branch`, or keep it if it exists."""
        ref = self._api.json(
            "GET",
            f"repos/{repository}/git/ref/heads/{from_branch}",
            what=f"branch {from_branch} of {repository}",
        )
        # Sent again after a lost answer: a branch the first request made answers 422 below.
        response = self._api.request(
            "POST",
            f"repos/{repository}/git/refs",
            json={"ref": f"refs/heads/{branch}", "sha": ref["object"]["sha"]},
        )
        if response.status_code == 422 and "already exists" in all_messages(response):
            return
        self._api.ok(response, f"branch {branch} of {repository}")

    def put_file(self, repository: str, branch: str, path: str, content: str, message: str) -> None:
        """Create or update a file on a branch (a no-op when the content is unchanged).

        A write that failed for a while (or whose answer was lost after it took effect) is
        tried once more from the start, and then finds the file it wrote."""
        try:
            self._put_file(repository, branch, path, content, message)
        except IntegrationError as exc:
            if not exc.transient:
                raise
            self._put_file(repository, branch, path, content, message)

    def _put_file(
        self, repository: str, branch: str, path: str, content: str, message: str
    ) -> None:
        """Create the file without reading it first (on a run's new branch it is new: one
        request); GitHub refuses to replace a file without its blob's SHA (422), and only then
        is it read, and left alone if it already holds `content`."""
        url = f"repos/{repository}/contents/{quote(path)}"
        body: dict[str, Any] = {
            "message": message,
            "content": base64.b64encode(content.encode()).decode(),
            "branch": branch,
        }
        written = self._api.request("PUT", url, idempotent=False, json=body)
        if written.status_code == 422 and _SHA_MISSING in json_message(written):
            current = self._api.json("GET", url, what=f"{path} on {branch}", params={"ref": branch})
            if _decoded(current) == content:
                return
            body["sha"] = current["sha"]
            written = self._api.request("PUT", url, idempotent=False, json=body)
        self._api.ok(written, f"{path} on {branch}")

    def ensure_pull_request(
        self, repository: str, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        """Open a pull request, or return the open one for `head` if it already exists.

        Opened without looking first (a run's branch has none yet: one request); GitHub
        refuses a second one for the same branch (422 "already exists"), which finds it. So is
        a request sent again after its answer was lost."""
        response = self._api.request(
            "POST",
            f"repos/{repository}/pulls",
            json={"title": title, "head": head, "base": base, "body": body},
        )
        if response.status_code == 422 and "already exists" in all_messages(response):
            existing = self._open_pull_request(repository, head, base)
            if existing is not None:
                return existing
        data = self._api.ok(response, f"pull request {head} → {base} in {repository}")
        return PullRequest(
            number=int(data["number"]), url=str(data["html_url"]), head=head, base=base
        )

    def open_pulls(self, base: str) -> list[OpenPull]:
        """The open pull requests into `base`, every page of them."""
        found: list[OpenPull] = []
        url = f"repos/{self.repository}/pulls"
        params: dict[str, Any] | None = {"state": "open", "base": base, "per_page": 100}
        for _ in range(_MAX_PULL_PAGES):
            response = self._api.request("GET", url, params=params)
            for pull in self._api.ok_list(response, f"open pull requests into {base}"):
                found.append(
                    OpenPull(
                        number=int(pull["number"]),
                        url=str(pull.get("html_url", "")),
                        head_sha=str((pull.get("head") or {}).get("sha", "")),
                        author=str((pull.get("user") or {}).get("login", "")),
                    )
                )
            following = response.links.get("next", {}).get("url")
            if not following:
                break
            url, params = following, None
        return found

    def branch_protection(self, branch: str) -> dict[str, Any] | None:
        """GET .../branches/{branch}/protection; None when the branch is not protected."""
        response = self._api.request(
            "GET", f"repos/{self.repository}/branches/{quote(branch, safe='')}/protection"
        )
        if response.status_code == 404 and "not protected" in json_message(response):
            return None
        return self._api.ok(response, f"protection of {branch} (needs an admin token)")

    def set_branch_protection(
        self, branch: str, protection: dict[str, Any], *, lock_branch: bool
    ) -> None:
        """PUT .../branches/{branch}/protection: the PUT replaces every setting, so it sends
        all of `protection` (as read) back; repeating it is harmless."""
        self._api.json(
            "PUT",
            f"repos/{self.repository}/branches/{quote(branch, safe='')}/protection",
            what=f"protection of {branch} (needs an admin token)",
            json=protection_settings(protection, lock_branch=lock_branch),
        )

    # --- beyond the port: for `oob doctor` ------------------------------------------------

    def permissions(self, repository: str | None = None) -> dict[str, bool]:
        """What the token's user may do on the repository (`pull`, `push`, `admin`, ...)."""
        repo = repository or self.repository
        data = self._api.json("GET", f"repos/{repo}", what=f"repository {repo}")
        return {str(k): bool(v) for k, v in (data.get("permissions") or {}).items()}

    def branch_required_contexts(self, branch: str) -> list[str] | None:
        """The status contexts `branch`'s protection requires (GET .../branches/{branch}, which
        those who may not administer the repository can read too); None if unprotected."""
        data = self._api.json(
            "GET",
            f"repos/{self.repository}/branches/{quote(branch, safe='')}",
            what=f"branch {branch}",
        )
        if not data.get("protected"):
            return None
        checks = (data.get("protection") or {}).get("required_status_checks") or {}
        return [str(c) for c in checks.get("contexts") or []]

    def whoami(self) -> str:
        """The login the token belongs to (raises on bad credentials)."""
        data = self._api.json("GET", "user", what="the current user")
        return str(data.get("login", "?"))

    # --- helpers --------------------------------------------------------------------------

    def _open_pull_request(self, repository: str, head: str, base: str) -> PullRequest | None:
        owner = repository.split("/", maxsplit=1)[0]
        response = self._api.request(
            "GET",
            f"repos/{repository}/pulls",
            params={"head": f"{owner}:{head}", "base": base, "state": "open"},
        )
        pulls = self._api.ok_list(response, f"pull requests of {repository}")
        for pull in pulls:
            return PullRequest(
                number=int(pull["number"]), url=str(pull["html_url"]), head=head, base=base
            )
        return None

    def _compare_page(self, base: str, head: str, *, page: int, per_page: int) -> dict[str, Any]:
        return self._compare_response(base, head, page=page, per_page=per_page)[0]

    def _compare_response(
        self, base: str, head: str, *, page: int, per_page: int
    ) -> tuple[dict[str, Any], httpx.Response]:
        response = self._api.request(
            "GET",
            f"repos/{self.repository}/compare/{base}...{quote(head, safe='')}",
            params={"page": page, "per_page": per_page},
        )
        if response.status_code == 404:
            raise UsageError(
                f"GitHub cannot compare {base[:12]} with {head} in {self.repository}",
                hint="one of them is not a commit or branch of the repository",
            )
        return self._api.ok(response, f"comparison {base[:12]}...{head}"), response


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _status_of(data: dict[str, Any]) -> CommitStatus:
    return CommitStatus(
        # Statuses posted before GitHub had contexts (2014) come without one: "default".
        context=str(data.get("context") or "default"),
        state=StatusState(data["state"]),
        description=data.get("description"),
        target_url=data.get("target_url"),
        updated_at=_time(data.get("updated_at") or data.get("created_at")),
    )


def _commit_of(data: dict[str, Any]) -> Commit:
    commit = data.get("commit") or {}
    author = (data.get("author") or {}).get("login") or (commit.get("author") or {}).get("name")
    return Commit(
        sha=str(data["sha"]),
        message=str(commit.get("message", "")),
        author=str(author or ""),
        committed_at=_time((commit.get("committer") or {}).get("date")),
        url=str(data.get("html_url", "")),
    )


def _decoded(data: dict[str, Any]) -> str | None:
    try:
        return base64.b64decode(str(data.get("content", ""))).decode()
    except (ValueError, UnicodeDecodeError):
        return None
