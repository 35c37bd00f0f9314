"""GitHub's branches, their protection, and git refs: where oob's merge hold is read and set,
and where the postmortem's branch is made."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from oob.sandbox.github_shapes import PROTECTION_FLAGS, Shapes
from oob.sandbox.github_wire import GitHubError, answer
from oob.sandbox.repo import Repo
from oob.sandbox.wire import body_params
from oob.sandbox.world import World

# The settings `PUT .../protection` must be given (each may be null).
REQUIRED_SETTINGS = (
    "required_status_checks",
    "enforce_admins",
    "required_pull_request_reviews",
    "restrictions",
)


class BranchEndpoints(Shapes):
    """`/branches` (with their protection) and `/git/refs` of a repository."""

    async def get_branch(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/branches/{branch}."""
        name = _branch(request, repo)
        url = f"{self._api(request)}/repos/{repo.full_name}/branches/{name}"
        rules = repo.protection.get(name)
        return answer(
            {
                "name": name,
                "commit": self._commit(request, repo, repo.commits[repo.branches[name]]),
                "_links": {
                    "self": url,
                    "html": f"{self._html(request)}/{repo.full_name}/tree/{name}",
                },
                "protected": rules is not None,
                "protection": _branch_protection(rules),
                "protection_url": f"{url}/protection",
            }
        )

    async def get_protection(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/branches/{branch}/protection (administrators only)."""
        _admin(world)
        name = _branch(request, repo)
        if name not in repo.protection:
            raise GitHubError(404, "Branch not protected")
        return answer(self._protection(request, repo, name))

    async def put_protection(self, request: Request, world: World, repo: Repo) -> Response:
        """PUT /repos/{o}/{r}/branches/{branch}/protection: replaces every setting; the four
        nullable ones must be given, the flags default to false."""
        _admin(world)
        name = _branch(request, repo)
        repo.protection[name] = _protection_settings(await body_params(request))
        summary = {"branch": name, "lock_branch": repo.protection[name]["lock_branch"]}
        world.ledger.record("github", "PUT", request.url.path, summary, world.now)
        return answer(self._protection(request, repo, name))

    async def get_ref(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/git/ref/{heads/x|tags/y}."""
        ref = unquote(request.path_params["ref"]).removeprefix("refs/")
        kind, _, name = ref.partition("/")
        names = {"heads": repo.branches, "tags": repo.tags}.get(kind, {})
        if name not in names:
            raise GitHubError(404, "Not Found")
        return answer(self._ref(request, repo, f"refs/{ref}", names[name]))

    async def create_ref(self, request: Request, world: World, repo: Repo) -> Response:
        """POST /repos/{o}/{r}/git/refs {ref: "refs/heads/x", sha} → 201; 422 if it exists."""
        body = await body_params(request)
        ref, sha = str(body.get("ref", "")), str(body.get("sha", ""))
        kind, _, name = ref.removeprefix("refs/").partition("/")
        if not ref.startswith("refs/") or kind not in ("heads", "tags") or not name:
            raise GitHubError(422, "Reference name is invalid")
        names = repo.branches if kind == "heads" else repo.tags
        if name in names:
            raise GitHubError(422, "Reference already exists")
        if sha not in repo.commits:
            raise GitHubError(422, "Object does not exist")
        names[name] = sha
        summary = {"repo": repo.full_name, "ref": ref, "sha": sha}
        world.ledger.record("github", "POST", request.url.path, summary, world.now)
        return answer(self._ref(request, repo, ref, sha), 201)


def _branch(request: Request, repo: Repo) -> str:
    """The branch the path names; 404 when the repository has none of that name."""
    name = unquote(request.path_params["branch"])
    if name not in repo.branches:
        raise GitHubError(404, "Branch not found")
    return name


def _admin(world: World) -> None:
    # GitHub hides a branch's protection from those who may not administer the repository.
    if not world.options.github_admin:
        raise GitHubError(404, "Not Found")


def _branch_protection(rules: dict[str, Any] | None) -> dict[str, Any]:
    """A branch's `protection` summary: on or off, and which status checks it requires."""
    checks = (rules or {}).get("required_status_checks") or {}
    contexts = list(checks.get("contexts") or [])
    if not contexts:
        level = "off"
    else:
        level = "everyone" if rules and rules["enforce_admins"] else "non_admins"
    return {
        "enabled": rules is not None,
        "required_status_checks": {
            "enforcement_level": level,
            "contexts": contexts,
            "checks": [{"context": c, "app_id": None} for c in contexts],
        },
    }


def _protection_settings(body: dict[str, Any]) -> dict[str, Any]:
    """The protection a `PUT` body sets; 422 when one of the required settings is missing."""
    for required in REQUIRED_SETTINGS:
        if required not in body:
            raise GitHubError(422, f'Invalid request.\n\n"{required}" wasn\'t supplied.')
    checks = body["required_status_checks"]
    return {
        "required_status_checks": None
        if checks is None
        else {
            "strict": bool(checks.get("strict")),
            "contexts": [str(c) for c in checks.get("contexts") or []]
            + [str(c["context"]) for c in checks.get("checks") or []],
        },
        "enforce_admins": bool(body["enforce_admins"]),
        "required_pull_request_reviews": body["required_pull_request_reviews"],
        "restrictions": body["restrictions"],
        **{flag: bool(body.get(flag) or False) for flag in PROTECTION_FLAGS},
    }
