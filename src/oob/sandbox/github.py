"""GitHub's REST API on the wire, as PyGithub and plain httpx clients use it.

Mounted at `/github/`, which is the API base URL (as with GitHub Enterprise). Shapes follow
GitHub's official REST description for the fields clients read (`github_shapes`); answers,
errors and the rate-limit headers are `github_wire`'s. The endpoints of a repository are grouped
by resource: commits and statuses (`github_commits`), branches and refs (`github_branches`),
contents (`github_contents`), pull requests (`github_pulls`), Actions (`github_actions`) and
deployments (`github_deployments`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oob.sandbox.github_actions import ActionsEndpoints
from oob.sandbox.github_branches import BranchEndpoints
from oob.sandbox.github_commits import CommitEndpoints
from oob.sandbox.github_contents import ContentEndpoints
from oob.sandbox.github_deployments import DeploymentEndpoints
from oob.sandbox.github_pulls import PullEndpoints
from oob.sandbox.github_shapes import when
from oob.sandbox.github_wire import (
    RATE_DOCS,
    GitHubError,
    answer,
    conditional,
    fail,
    rate_headers,
)
from oob.sandbox.repo import Repo
from oob.sandbox.wire import bearer
from oob.sandbox.world import World

Handler = Callable[[Request, World, Repo], Awaitable[Response]]


class GitHubApi(
    CommitEndpoints,
    BranchEndpoints,
    ContentEndpoints,
    PullEndpoints,
    ActionsEndpoints,
    DeploymentEndpoints,
):
    """The GitHub endpoints over one world's repositories."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        """The endpoints oob and its users' scripts call."""
        table: list[tuple[str, str, Handler]] = [
            ("GET", "", self.get_repo),
            ("GET", "/commits", self.list_commits),
            ("GET", "/commits/{ref:path}/status", self.combined_status),
            ("GET", "/commits/{ref:path}/statuses", self.list_statuses),
            ("GET", "/commits/{ref:path}", self.get_commit),
            ("POST", "/statuses/{sha}", self.create_status),
            ("GET", "/statuses/{ref}", self.list_statuses),
            ("GET", "/compare/{basehead:path}", self.compare),
            ("GET", "/branches/{branch:path}/protection", self.get_protection),
            ("PUT", "/branches/{branch:path}/protection", self.put_protection),
            ("GET", "/branches/{branch:path}", self.get_branch),
            ("GET", "/git/ref/{ref:path}", self.get_ref),
            ("GET", "/git/refs/{ref:path}", self.get_ref),
            ("POST", "/git/refs", self.create_ref),
            ("GET", "/contents/{path:path}", self.get_contents),
            ("PUT", "/contents/{path:path}", self.put_contents),
            ("GET", "/pulls", self.list_pulls),
            ("POST", "/pulls", self.create_pull),
            ("GET", "/pulls/{number:int}", self.get_pull),
            ("PUT", "/pulls/{number:int}/merge", self.merge_pull),
            *self._actions_table(),
        ]
        # GitHub's `Link` headers name repositories by id (`/repositories/3544490/compare/...`).
        routes = [
            Route(prefix + path, self._repo_endpoint(h), methods=[m])
            for prefix in ("/repos/{owner}/{repo}", "/repositories/{repo_id:int}")
            for m, path, h in table
        ]
        routes += [
            Route("/user", self._endpoint(self.get_user), methods=["GET"]),
            # "Accessing this endpoint does not count against your REST API rate limit."
            Route("/rate_limit", self._endpoint(self.rate_limit, costs=False), methods=["GET"]),
            # Where a log link leads: signed, no token asked (another host on GitHub).
            Route("/_logs/{kind}/{key:int}", self.log_blob, methods=["GET"]),
        ]
        return routes

    def _actions_table(self) -> list[tuple[str, str, Handler]]:
        """Actions' workflows, runs, jobs and logs; deployments and their statuses."""
        runs, jobs = "/actions/runs/{run_id:int}", "/actions/jobs/{job_id:int}"
        deployment = "/deployments/{deployment_id:int}"
        return [
            ("GET", "/actions/workflows", self.list_workflows),
            ("GET", "/actions/workflows/{workflow_id}", self.get_workflow),
            ("POST", "/actions/workflows/{workflow_id}/dispatches", self.dispatch),
            ("GET", "/actions/workflows/{workflow_id}/runs", self.list_runs),
            ("GET", "/actions/runs", self.list_runs),
            ("GET", runs, self.get_run),
            ("GET", f"{runs}/jobs", self.list_jobs),
            ("GET", f"{runs}/logs", self.run_logs),
            ("POST", f"{runs}/cancel", self.cancel),
            ("GET", jobs, self.get_job),
            ("GET", f"{jobs}/logs", self.job_logs),
            ("GET", "/deployments", self.list_deployments),
            ("POST", "/deployments", self.create_deployment),
            ("GET", deployment, self.get_deployment),
            ("GET", f"{deployment}/statuses", self.list_deployment_statuses),
            ("POST", f"{deployment}/statuses", self.create_deployment_status),
        ]

    # -- plumbing -----------------------------------------------------------------------------

    def _check_auth(self, request: Request) -> None:
        token = bearer(request, "token", "bearer")
        if token is None:
            raise GitHubError(401, "Requires authentication")
        if token != self.world.options.token:
            raise GitHubError(401, "Bad credentials")

    def _endpoint(
        self, handler: Callable[[Request, World], Awaitable[Response]], *, costs: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                self._check_auth(request)
            except GitHubError as error:
                return fail(error)
            with self.world.session() as world:
                rate = world.github_rate
                rate.window(time.time())
                if costs and rate.remaining == 0:
                    response = fail(self._exhausted(world))
                else:
                    try:
                        response = await handler(request, world)
                    except GitHubError as error:
                        response = fail(error)
                    response = conditional(request, response)
                    if response.status_code == 304:
                        rate.not_modified += 1
                    elif costs:
                        rate.used += 1
                        rate.counted += 1
                response.headers.update(rate_headers(rate))
                return response

        return endpoint

    def _exhausted(self, world: World) -> GitHubError:
        # GitHub answers the primary limit with 403 or 429 (both are seen); the seed picks one.
        status = 429 if world.options.seed % 2 else 403
        return GitHubError(
            status,
            f"API rate limit exceeded for user ID {self._user_id(world.options.user)}. If you "
            "reach out to GitHub Support for help, please include the request ID "
            f"{hashlib.sha1(str(time.time()).encode(), usedforsecurity=False).hexdigest()[:16]}.",
            documentation_url=RATE_DOCS,
        )

    def _repo_endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def with_repo(request: Request, world: World) -> Response:
            params = request.path_params
            repos = (world.repo, world.postmortems)
            if "repo_id" in params:
                repo = next((r for r in repos if r.id == params["repo_id"]), None)
            else:
                full = f"{params['owner']}/{params['repo']}".lower()
                repo = next((r for r in repos if r.full_name.lower() == full), None)
            if repo is None:
                raise GitHubError(404, "Not Found")
            return await handler(request, world, repo)

        return self._endpoint(with_repo)

    # -- the account and the repository --------------------------------------------------------

    async def get_user(self, request: Request, world: World) -> Response:
        """GET /user: whoever the token belongs to."""
        private = {
            "name": "oob sandbox",
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": when(world.t0 - 3 * 365 * 86400),
            "updated_at": when(world.t0),
            "private_gists": 0,
            "total_private_repos": 2,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
        }
        return answer({**self._user(request, world.options.user), **private})

    async def rate_limit(self, request: Request, world: World) -> Response:
        """GET /rate_limit (free: it costs no request)."""
        rate = world.github_rate
        core = {
            "limit": rate.limit,
            "remaining": rate.remaining,
            "used": rate.used,
            "reset": rate.reset,
            "resource": "core",
        }
        # Only the core limit is modelled; the others are shown unused, as GitHub lists them.
        others = {
            name: {"limit": limit, "remaining": limit, "used": 0, "reset": rate.reset}
            for name, limit in (("search", 30), ("graphql", 5000), ("code_search", 10))
        }
        return answer({"resources": {"core": core, **others}, "rate": core})

    async def get_repo(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}."""
        return answer(self._repo(request, repo))
