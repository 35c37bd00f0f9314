"""GitHub's deployments and deployment statuses: what an environment's page shows.

A deployment is refused (409) when the commit's status checks have not all passed, unless the
request names the contexts to verify (`required_contexts`, `[]` for none), as GitHub does; a
`success` status makes the environment's earlier successful deployments `inactive`.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from oob.sandbox.actions_model import Deployment
from oob.sandbox.actions_shapes import ActionsShapes
from oob.sandbox.github_wire import GitHubError, answer, invalid, last_page, links, paging
from oob.sandbox.repo import Repo
from oob.sandbox.wire import body_params
from oob.sandbox.world import World

STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
MAX_DESCRIPTION = 140


class DeploymentEndpoints(ActionsShapes):
    """`/deployments` of a repository."""

    def _deployment_of(self, request: Request, world: World, repo: Repo) -> Deployment:
        key = request.path_params["deployment_id"]
        found = next((d for d in world.deployments if d.id == key), None)
        if found is None or repo is not world.repo:
            raise GitHubError(404, "Not Found")
        return found

    async def list_deployments(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/deployments?sha=&ref=&task=&environment=: newest first."""
        query = request.query_params
        chosen = [
            d
            for d in reversed(world.deployments if repo is world.repo else [])
            if all(
                query.get(name) in (None, value)
                for name, value in (
                    ("sha", d.sha),
                    ("ref", d.ref),
                    ("task", d.task),
                    ("environment", d.environment),
                )
            )
        ]
        page, per_page = paging(request)
        shown = chosen[(page - 1) * per_page : page * per_page]
        return answer(
            [self._deployment(request, repo, d) for d in shown],
            headers=links(request.url, page, last_page(len(chosen), per_page)),
        )

    async def get_deployment(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/deployments/{id}."""
        return answer(self._deployment(request, repo, self._deployment_of(request, world, repo)))

    async def create_deployment(self, request: Request, world: World, repo: Repo) -> Response:
        """POST /repos/{o}/{r}/deployments → 201 with the deployment."""
        if repo is not world.repo:
            raise GitHubError(404, "Not Found")
        body = await body_params(request)
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise GitHubError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        sha = repo.resolve(ref)
        if sha is None:
            raise GitHubError(422, f"No ref found for: {ref}")
        self._check_contexts(repo, sha, ref, body.get("required_contexts"))
        if body.get("auto_merge", True) is not False and ref in repo.branches:
            default = repo.branches[repo.default_branch]
            if not repo.contains(sha, default):
                raise GitHubError(409, f"Conflict merging {repo.default_branch} into {ref}.")
        environment = str(body.get("environment") or "production")
        payload = body.get("payload", {})
        production = body.get("production_environment")
        deployment = world.create_deployment(
            sha,
            ref=ref,
            task=str(body.get("task") or "deploy"),
            environment=environment,
            payload=payload if isinstance(payload, dict | str) else {},
            description=_text(body.get("description")),
            creator=world.options.user,
            transient=body.get("transient_environment") is True,
            production=production if isinstance(production, bool) else None,
        )
        return answer(self._deployment(request, repo, deployment), 201)

    @staticmethod
    def _check_contexts(repo: Repo, sha: str, ref: str, required: Any) -> None:
        """409 unless every context to verify is success on `sha` (all of them by default)."""
        latest = {s.context: s.state for s in repo.latest_statuses(sha)}
        if required is None:
            names = list(latest)
        elif isinstance(required, list) and all(isinstance(c, str) for c in required):
            names = required
        else:
            raise invalid("Deployment", "required_contexts", "invalid")
        failing = [
            {"context": name, "state": latest.get(name, "missing")}
            for name in names
            if latest.get(name) != "success"
        ]
        if failing:
            raise GitHubError(
                409,
                f"Conflict: Commit status checks failed for {ref}.",
                [
                    {
                        "contexts": failing,
                        "resource": "Deployment",
                        "field": "required_contexts",
                        "code": "invalid",
                    }
                ],
            )

    async def list_deployment_statuses(
        self, request: Request, world: World, repo: Repo
    ) -> Response:
        """GET .../deployments/{id}/statuses: newest first."""
        deployment = self._deployment_of(request, world, repo)
        statuses = list(reversed(deployment.statuses))
        page, per_page = paging(request)
        shown = statuses[(page - 1) * per_page : page * per_page]
        return answer(
            [self._deployment_status(request, repo, deployment, s) for s in shown],
            headers=links(request.url, page, last_page(len(statuses), per_page)),
        )

    async def create_deployment_status(
        self, request: Request, world: World, repo: Repo
    ) -> Response:
        """POST .../deployments/{id}/statuses {state, target_url?, log_url?, description?,
        environment_url?, auto_inactive?} → 201 with the status."""
        deployment = self._deployment_of(request, world, repo)
        body = await body_params(request)
        state = body.get("state")
        if state not in STATES:
            message = f"state is not included in the list ({state!r})"
            raise invalid("DeploymentStatus", "state", "custom", message)
        description = _text(body.get("description")) or ""
        if len(description) > MAX_DESCRIPTION:
            message = f"description is too long (maximum is {MAX_DESCRIPTION} characters)"
            raise invalid("DeploymentStatus", "description", "custom", message)
        status = world.deployment_status(
            deployment,
            state,
            description,
            _text(body.get("target_url")) or "",
            world.options.user,
            log_url=_text(body.get("log_url")) or "",
            environment_url=_text(body.get("environment_url")) or "",
            auto_inactive=body.get("auto_inactive", True) is not False,
        )
        return answer(self._deployment_status(request, repo, deployment, status), 201)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
