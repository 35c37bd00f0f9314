"""GitHub's pull requests: listing, reading, opening and merging them (through the branch's
protection), as oob does with the postmortem's pull request and people do with their work."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from oob.sandbox.github_shapes import Shapes
from oob.sandbox.github_wire import PROTECTED_DOCS, GitHubError, answer, invalid
from oob.sandbox.repo import PullRequest, Repo
from oob.sandbox.wire import body_params
from oob.sandbox.world import World


class PullEndpoints(Shapes):
    """`/pulls` of a repository."""

    async def list_pulls(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/pulls?state=&head=owner:branch&base=."""
        state = request.query_params.get("state", "open")
        head = request.query_params.get("head")
        base = request.query_params.get("base")
        # GitHub filters by head only in the form `owner:branch`; a bare branch name is
        # ignored (every pull request matches), so a client that forgets the owner finds others.
        owner, sep, branch = (head or "").partition(":")
        pulls = [
            p
            for p in reversed(repo.pulls)
            if state in ("all", p.state)
            and (not sep or (owner.lower() == repo.owner.lower() and branch == p.head))
            and (base is None or p.base == base)
        ]
        return answer([self._pull(request, repo, p) for p in pulls])

    async def get_pull(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/pulls/{number}."""
        return answer(self._pull(request, repo, _numbered(request, repo)))

    async def create_pull(self, request: Request, world: World, repo: Repo) -> Response:
        """POST /repos/{o}/{r}/pulls {title, head, base, body} → 201; 422 if one is open."""
        body = await body_params(request)
        head = str(body.get("head", "")).removeprefix(f"{repo.owner}:")
        base = str(body.get("base", ""))
        for field, value in (("head", head), ("base", base)):
            if value not in repo.branches:
                raise invalid("PullRequest", field, "invalid")
        if not body.get("title"):
            raise invalid("PullRequest", "title", "missing_field")
        if repo.open_pull(head, base) is not None:
            message = f"A pull request already exists for {repo.owner}:{head}."
            raise invalid("PullRequest", None, "custom", message)
        if repo.compare(repo.branches[base], repo.branches[head]).ahead_by == 0:
            raise invalid("PullRequest", None, "custom", f"No commits between {base} and {head}")
        pull = PullRequest(
            number=len(repo.pulls) + 1,
            title=str(body["title"]),
            body=str(body.get("body") or ""),
            head=head,
            base=base,
            user=world.options.user,
            created_at=world.now,
        )
        repo.pulls.append(pull)
        summary = {"repo": repo.full_name, "number": pull.number, "head": head, "title": pull.title}
        world.ledger.record("github", "POST", request.url.path, summary, world.now)
        return answer(self._pull(request, repo, pull), 201)

    async def merge_pull(self, request: Request, world: World, repo: Repo) -> Response:
        """PUT /repos/{o}/{r}/pulls/{number}/merge: merged, or refused by the protection."""
        pull = _numbered(request, repo)
        if repo is not world.repo:
            raise GitHubError(404, "Not Found")
        user = world.options.user
        status, message, sha = world.merge_pull(pull, user, admin=world.options.github_admin)
        summary = {"pull": pull.number, "by": user, "status": status, "message": message}
        world.ledger.record("github", "PUT", request.url.path, summary, world.now)
        if status != 200:
            raise GitHubError(status, message, documentation_url=PROTECTED_DOCS)
        return answer({"sha": sha, "merged": True, "message": message})


def _numbered(request: Request, repo: Repo) -> PullRequest:
    """The pull request the path numbers; 404 when there is none."""
    number = request.path_params["number"]
    pull = next((p for p in repo.pulls if p.number == number), None)
    if pull is None:
        raise GitHubError(404, "Not Found")
    return pull
