"""GitHub Actions' REST endpoints: workflows, `workflow_dispatch`, runs and their filters, jobs
and steps, logs behind a redirect, and cancel.

A dispatch answers 200 with the run's id and URLs when asked (`return_run_details`, GitHub
since February 2026), else 204; `Options.actions_dispatch` plays an older GitHub Enterprise
Server that always answers 204 (`no-content`) or refuses the parameter (`refuse`). Logs are
served once a job has completed: a job's as text, a run's as a zip of per-job (and per-step)
text files, each behind a 302 to a short-lived signed URL that needs no token.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import re
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from oob.sandbox.actions import DISPATCH_LAG
from oob.sandbox.actions_model import Job, Run, Workflow
from oob.sandbox.actions_shapes import ActionsShapes
from oob.sandbox.github_wire import GitHubError, answer, invalid, last_page, links, paging
from oob.sandbox.repo import Repo
from oob.sandbox.world import World

MAX_INPUTS = 25
LINK_SECONDS = 60  # "This link expires after 1 minute."
STATUSES = ("queued", "in_progress", "completed", "requested", "waiting", "pending")
CONCLUSIONS = (
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "skipped",
    "stale",
    "success",
    "timed_out",
)
_UNSAFE = re.compile(r"[/\\:*?\"<>|]")


class ActionsEndpoints(ActionsShapes):
    """`/actions/...` of a repository."""

    # -- workflows ----------------------------------------------------------------------------

    def _workflow_of(self, request: Request, world: World) -> Workflow:
        workflow = world.workflow(request.path_params["workflow_id"])
        if workflow is None:
            raise GitHubError(404, "Not Found")
        return workflow

    async def list_workflows(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/actions/workflows."""
        if repo is not world.repo:
            return answer({"total_count": 0, "workflows": []})
        flows = [self._workflow(request, repo, w) for w in world.workflows.values()]
        return answer({"total_count": len(flows), "workflows": flows})

    async def get_workflow(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/actions/workflows/{id or file name}."""
        return answer(self._workflow(request, repo, self._own(world, repo, request)))

    def _own(self, world: World, repo: Repo, request: Request) -> Workflow:
        if repo is not world.repo:
            raise GitHubError(404, "Not Found")
        return self._workflow_of(request, world)

    async def dispatch(self, request: Request, world: World, repo: Repo) -> Response:
        """POST .../actions/workflows/{id}/dispatches {ref, inputs?, return_run_details?}."""
        workflow = self._own(world, repo, request)
        body = _json_object(await request.body())
        if not workflow.dispatchable:
            raise GitHubError(422, "Workflow does not have 'workflow_dispatch' trigger")
        mode = world.options.actions_dispatch
        if mode == "refuse" and "return_run_details" in body:
            raise GitHubError(
                422, 'Invalid request.\n\n"return_run_details" is not a permitted key.'
            )
        ref = body.get("ref")
        if not isinstance(ref, str) or not ref:
            raise GitHubError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        branch = ref.removeprefix("refs/heads/")
        if branch not in repo.branches:
            raise GitHubError(422, f"No ref found for: {ref}")
        inputs = _inputs(workflow, body.get("inputs", {}))
        details = mode == "details" and body.get("return_run_details") is True
        run_id = world.dispatch(
            workflow, branch, inputs, world.options.user, lag=0.0 if details else DISPATCH_LAG
        )
        summary = {"workflow": workflow.file, "ref": branch, "inputs": inputs, "run": run_id}
        world.ledger.record("github", "POST", request.url.path, summary, world.now)
        if not details:
            return Response(status_code=204)
        return answer(
            {
                "workflow_run_id": run_id,
                "run_url": f"{self._repo_api(request, repo)}/actions/runs/{run_id}",
                "html_url": f"{self._html(request)}/{repo.full_name}/actions/runs/{run_id}",
            }
        )

    # -- runs ---------------------------------------------------------------------------------

    async def list_runs(self, request: Request, world: World, repo: Repo) -> Response:
        """GET .../actions/runs and .../actions/workflows/{id}/runs, newest first, with the
        filters `actor`, `branch`, `event`, `status`, `created` and `head_sha`."""
        runs = world.runs if repo is world.repo else []
        if "workflow_id" in request.path_params:
            workflow = self._own(world, repo, request)
            runs = [r for r in runs if r.workflow.id == workflow.id]
        keep = _run_filter(request.query_params)
        chosen = sorted((r for r in runs if keep(r)), key=lambda r: (r.created, r.id), reverse=True)
        page, per_page = paging(request)
        shown = chosen[(page - 1) * per_page : page * per_page]
        return answer(
            {
                "total_count": len(chosen),
                "workflow_runs": [self._run(request, repo, r) for r in shown],
            },
            headers=links(request.url, page, last_page(len(chosen), per_page)),
        )

    def _run_of(self, request: Request, world: World, repo: Repo) -> Run:
        run = world.run(request.path_params["run_id"]) if repo is world.repo else None
        if run is None:
            raise GitHubError(404, "Not Found")
        return run

    async def get_run(self, request: Request, world: World, repo: Repo) -> Response:
        """GET .../actions/runs/{run_id}."""
        return answer(self._run(request, repo, self._run_of(request, world, repo)))

    async def list_jobs(self, request: Request, world: World, repo: Repo) -> Response:
        """GET .../actions/runs/{run_id}/jobs: the run's jobs so far, with their steps."""
        run = self._run_of(request, world, repo)
        page, per_page = paging(request)
        shown = run.jobs[(page - 1) * per_page : page * per_page]
        return answer(
            {
                "total_count": len(run.jobs),
                "jobs": [self._job(request, repo, run, j) for j in shown],
            },
            headers=links(request.url, page, last_page(len(run.jobs), per_page)),
        )

    def _job_of(self, request: Request, world: World, repo: Repo) -> tuple[Run, Job]:
        found = world.actions_job(request.path_params["job_id"]) if repo is world.repo else None
        if found is None:
            raise GitHubError(404, "Not Found")
        return found

    async def get_job(self, request: Request, world: World, repo: Repo) -> Response:
        """GET .../actions/jobs/{job_id}."""
        run, job = self._job_of(request, world, repo)
        return answer(self._job(request, repo, run, job))

    async def cancel(self, request: Request, world: World, repo: Repo) -> Response:
        """POST .../actions/runs/{run_id}/cancel → 202; 409 once the run has completed."""
        run = self._run_of(request, world, repo)
        if run.completed is not None:
            raise GitHubError(409, "Cannot cancel a workflow run that is completed.")
        world.cancel_run(run)
        summary = {"run": run.id, "by": world.options.user}
        world.ledger.record("github", "POST", request.url.path, summary, world.now)
        return answer({}, 202)

    # -- logs ---------------------------------------------------------------------------------

    async def job_logs(self, request: Request, world: World, repo: Repo) -> Response:
        """GET .../actions/jobs/{job_id}/logs → 302 to the job's log, once it has completed."""
        _, job = self._job_of(request, world, repo)
        if job.completed is None:
            raise GitHubError(404, "Not Found")
        return RedirectResponse(self._signed(request, "jobs", job.id), 302)

    async def run_logs(self, request: Request, world: World, repo: Repo) -> Response:
        """GET .../actions/runs/{run_id}/logs → 302 to a zip of the logs, once it has completed."""
        run = self._run_of(request, world, repo)
        if run.completed is None:
            raise GitHubError(404, "Not Found")
        return RedirectResponse(self._signed(request, "runs", run.id), 302)

    def _signed(self, request: Request, kind: str, key: int) -> str:
        expires = int(time.time()) + LINK_SECONDS
        signature = _sign(self.world.options.token, kind, key, expires)
        return f"{self._api(request)}/_logs/{kind}/{key}?se={expires}&sig={signature}"

    async def log_blob(self, request: Request) -> Response:
        """GET /_logs/{kind}/{id}?se=&sig=: what a signed log link holds, until it expires."""
        kind, key = request.path_params["kind"], request.path_params["key"]
        raw_expires = request.query_params.get("se", "")
        expires = int(raw_expires) if raw_expires.isdigit() else 0
        good = _sign(self.world.options.token, kind, key, expires)
        if not hmac.compare_digest(good, request.query_params.get("sig", "")):
            return PlainTextResponse("AuthenticationFailed: signature mismatch", 403)
        if time.time() > expires:
            return PlainTextResponse("AuthenticationFailed: the link expired", 403)
        with self.world.session() as world:
            if kind == "jobs" and (found := world.actions_job(key)) is not None:
                return Response(found[1].log(), media_type="text/plain; charset=utf-8")
            run = world.run(key) if kind == "runs" else None
            if run is None:
                return PlainTextResponse("BlobNotFound", 404)
            return Response(_zip(run), media_type="application/zip")


def _sign(secret: str, kind: str, key: int, expires: int) -> str:
    message = f"{kind}/{key}/{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _zip(run: Run) -> bytes:
    """The run's logs as GitHub zips them: `N_job.txt` per job, `job/N_step.txt` per step."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, job in enumerate(run.jobs):
            name = _UNSAFE.sub("", job.name)
            archive.writestr(f"{index}_{name}.txt", job.log())
            for step in job.steps:
                if any(number == step.number for _, number, _ in job.lines):
                    archive.writestr(
                        f"{name}/{step.number}_{_UNSAFE.sub('', step.name)}.txt",
                        job.log(step.number),
                    )
    return buffer.getvalue()


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return data


def _inputs(workflow: Workflow, given: object) -> dict[str, str]:
    """The dispatch's inputs as the workflow receives them, or GitHub's refusal."""
    if not isinstance(given, dict):
        raise GitHubError(422, "Invalid request.\n\nFor 'properties/inputs', it is not an object.")
    if len(given) > MAX_INPUTS:
        raise invalid(
            "Workflow", "inputs", "custom", f"you may only define up to {MAX_INPUTS} inputs"
        )
    unexpected = [name for name in given if name not in workflow.inputs]
    if unexpected:
        raise GitHubError(422, f"Unexpected inputs provided: {json.dumps(unexpected)}")
    values: dict[str, str] = {}
    for name, value in given.items():
        if isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            values[name] = str(value)
        else:
            raise GitHubError(
                422, f"Invalid request.\n\nFor 'properties/{name}', it is not a string."
            )
    missing = [n for n, default in workflow.inputs.items() if default is None and n not in values]
    if missing:
        raise GitHubError(422, f"Required input '{missing[0]}' not provided")
    return values


def _run_filter(query: Any) -> Callable[[Run], bool]:
    """What the runs list's query keeps."""
    actor, branch = query.get("actor"), query.get("branch")
    event, status, head_sha = query.get("event"), query.get("status"), query.get("head_sha")
    created = _created(query["created"]) if query.get("created") else None

    if status is not None and status not in STATUSES + CONCLUSIONS:
        raise invalid("WorkflowRun", "status", "invalid")

    def keep(run: Run) -> bool:
        if actor is not None and run.actor.lower() != actor.lower():
            return False
        exact = ((branch, run.branch), (event, run.event), (head_sha, run.sha))
        if any(wanted is not None and wanted != fact for wanted, fact in exact):
            return False
        if status is not None and status not in (run.status, run.conclusion):
            return False
        return created is None or created(math.floor(run.created))

    return keep


def _created(text: str) -> Callable[[float], bool]:
    """GitHub's date query: `>=T`, `>T`, `<=T`, `<T`, `A..B` (`*` for open), or a moment."""
    low, high = -math.inf, math.inf
    op = next((op for op in (">=", "<=", ">", "<") if text.startswith(op)), None)
    if op is not None:
        start, end = _moment(text[len(op) :])
        low, high = {">=": (start, high), ">": (end, high), "<=": (low, end), "<": (low, start)}[op]
    elif ".." in text:
        first, last = text.split("..", 1)
        low = low if first == "*" else _moment(first)[0]
        high = high if last == "*" else _moment(last)[1]
    else:
        low, high = _moment(text)
    return lambda t: low <= t < high


def _moment(text: str) -> tuple[float, float]:
    """The span a date or time of the query names: a day, a minute or a second."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise invalid("WorkflowRun", "created", "invalid", f"invalid date: {text}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    time_part = text.partition("T")[2]
    span = (
        timedelta(days=1)
        if not time_part
        else timedelta(seconds=1 if time_part.count(":") >= 2 else 60)
    )
    return moment.timestamp(), (moment + span).timestamp()
