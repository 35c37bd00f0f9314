"""GitHub's commits, commit statuses and comparisons: the endpoints oob reads a commit's CI
through, and CI (or a person's script) posts statuses with."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from oob.sandbox.github_shapes import Shapes
from oob.sandbox.github_wire import GitHubError, answer, invalid, last_page, links, paging
from oob.sandbox.repo import HEX, Repo
from oob.sandbox.wire import body_params
from oob.sandbox.world import World

STATES = ("error", "failure", "pending", "success")
MAX_DESCRIPTION = 140
# A comparison asked for without `page` or `per_page` lists at most this many commits.
COMPARE_COMMITS = 250


class CommitEndpoints(Shapes):
    """`/commits`, `/statuses` and `/compare` of a repository."""

    @staticmethod
    def _sha(repo: Repo, ref: str, missing: GitHubError) -> str:
        """The commit `ref` (URL-quoted) names; raises `missing` when it names none."""
        sha = repo.resolve(unquote(ref))
        if sha is None:
            raise missing
        return sha

    async def get_commit(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits/{ref}: a SHA (short ones too), a branch or a tag."""
        ref = request.path_params["ref"]
        sha = self._sha(repo, ref, GitHubError(422, f"No commit found for SHA: {unquote(ref)}"))
        return answer(self._commit(request, repo, repo.commits[sha], full=True))

    async def list_commits(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits?sha=&per_page=&page=: newest first, paginated by Link."""
        ref = request.query_params.get("sha", repo.default_branch)
        sha = repo.resolve(ref)
        if sha is None:
            raise GitHubError(404, "Not Found")
        page, per_page = paging(request)
        shas = repo.ancestors(sha)
        chunk = shas[(page - 1) * per_page : page * per_page]
        return answer(
            [self._commit(request, repo, repo.commits[s]) for s in chunk],
            headers=links(request.url, page, last_page(len(shas), per_page)),
        )

    async def combined_status(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits/{ref}/status: the combined status, as GitHub computes it."""
        sha = self._sha(repo, request.path_params["ref"], GitHubError(404, "Not Found"))
        latest = repo.latest_statuses(sha)
        api = f"{self._api(request)}/repos/{repo.full_name}"
        return answer(
            {
                "state": repo.combined_state(sha),
                "statuses": [self._status(request, repo, s, creator=False) for s in latest],
                "sha": sha,
                "total_count": len(latest),
                "repository": self._repo(request, repo),
                "commit_url": f"{api}/commits/{sha}",
                "url": f"{api}/commits/{sha}/status",
            }
        )

    async def list_statuses(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits/{ref}/statuses: every status, newest first."""
        sha = self._sha(repo, request.path_params["ref"], GitHubError(404, "Not Found"))
        statuses = list(reversed(repo.statuses.get(sha, [])))
        return answer([self._status(request, repo, s) for s in statuses])

    async def create_status(self, request: Request, world: World, repo: Repo) -> Response:
        """POST /repos/{o}/{r}/statuses/{sha} → 201 with the status."""
        raw = request.path_params["sha"]
        sha = repo.resolve(raw) if HEX.match(raw) else None
        if sha is None:
            raise GitHubError(422, f"No commit found for SHA: {raw}")
        body = await body_params(request)
        state = body.get("state")
        if state not in STATES:
            message = f"state is not included in the list ({state!r})"
            raise invalid("Status", "state", "custom", message)
        context = str(body.get("context") or "default")
        description = body.get("description")
        if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
            message = f"description is too long (maximum is {MAX_DESCRIPTION} characters)"
            raise invalid("Status", "description", "custom", message)
        status = repo.add_status(
            sha,
            state=state,
            context=context,
            description=str(description or ""),
            target_url=body.get("target_url"),
            creator=world.options.user,
            at=world.now,
        )
        summary = {"repo": repo.full_name, "sha": sha, "state": state, "context": context}
        world.ledger.record("github", "POST", request.url.path, summary, world.now)
        return answer(self._status(request, repo, status), 201)

    async def compare(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/compare/{base}...{head}: commits oldest first; without `page` or
        `per_page` at most 250 of them, else one page of them with a `Link` header (pages after
        the first carry no `files`), as GitHub pages a comparison."""
        base_ref, sep, head_ref = unquote(request.path_params["basehead"]).partition("...")
        base, head = repo.resolve(base_ref), repo.resolve(head_ref)
        if not sep or base is None or head is None:
            raise GitHubError(404, "Not Found")
        comparison = repo.compare(base, head)
        if comparison.merge_base is None:
            raise GitHubError(404, f"No common ancestor between {base_ref} and {head_ref}.")
        commits, page, pages = comparison.commits[:COMPARE_COMMITS], 1, {}
        if {"page", "per_page"} & set(request.query_params):
            page, per_page = paging(request)
            commits = comparison.commits[(page - 1) * per_page : page * per_page]
            last = last_page(len(comparison.commits), per_page)
            prefix = request.scope.get("app_root_path", "")
            path = f"{prefix}/github/repositories/{repo.id}/compare/{base_ref}...{head_ref}"
            pages = links(request.url.replace(path=path), page, last)
        html = f"{self._html(request)}/{repo.full_name}"
        data: dict[str, Any] = {
            "url": f"{self._api(request)}/repos/{repo.full_name}/compare/{base_ref}...{head_ref}",
            "html_url": f"{html}/compare/{base_ref}...{head_ref}",
            "permalink_url": f"{html}/compare/{base}...{head}",
            "diff_url": f"{html}/compare/{base_ref}...{head_ref}.diff",
            "patch_url": f"{html}/compare/{base_ref}...{head_ref}.patch",
            "base_commit": self._commit(request, repo, repo.commits[base]),
            "merge_base_commit": self._commit(request, repo, repo.commits[comparison.merge_base]),
            "status": comparison.status,
            "ahead_by": comparison.ahead_by,
            "behind_by": comparison.behind_by,
            "total_commits": comparison.ahead_by,
            "commits": [self._commit(request, repo, repo.commits[s]) for s in commits],
        }
        if page == 1:
            data["files"] = []
        return answer(data, headers=pages)
