"""How the sandbox's GitHub shows Actions and deployments: workflows, runs, jobs and their
steps, deployments and their statuses, as GitHub's REST API answers them (after GitHub's
official REST description, version 2022-11-28)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from oob.sandbox.actions_model import Deployment, DeploymentStatus, Job, Run, Workflow
from oob.sandbox.github_shapes import Shapes, login_of, when
from oob.sandbox.repo import Repo

RUNNER_GROUP = (2, "GitHub Actions")
LABELS = ["ubuntu-latest"]


class ActionsShapes(Shapes):
    """GitHub's JSON for the world's workflows, runs, jobs and deployments."""

    def _repo_api(self, request: Request, repo: Repo) -> str:
        return f"{self._api(request)}/repos/{repo.full_name}"

    def _workflow(self, request: Request, repo: Repo, workflow: Workflow) -> dict[str, Any]:
        html = f"{self._html(request)}/{repo.full_name}"
        return {
            "id": workflow.id,
            "node_id": f"W_{workflow.id}",
            "name": workflow.name,
            "path": workflow.path,
            "state": "active",
            "created_at": when(workflow.created),
            "updated_at": when(workflow.created),
            "url": f"{self._repo_api(request, repo)}/actions/workflows/{workflow.id}",
            "html_url": f"{html}/blob/{repo.default_branch}/{workflow.path}",
            "badge_url": f"{html}/workflows/{workflow.name}/badge.svg",
        }

    def _run(self, request: Request, repo: Repo, run: Run) -> dict[str, Any]:
        api = f"{self._repo_api(request, repo)}/actions/runs/{run.id}"
        commit = repo.commits[run.sha]
        person = {"name": commit.author, "email": commit.email}
        actor = self._user(request, run.actor)
        suite = run.id * 3 + 1
        return {
            "id": run.id,
            "name": run.workflow.name,
            "node_id": f"WFR_{run.id}",
            "check_suite_id": suite,
            "check_suite_node_id": f"CS_{suite}",
            "head_branch": run.branch,
            "head_sha": run.sha,
            "path": run.workflow.path,
            "display_title": run.title,
            "run_number": run.number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion,
            "workflow_id": run.workflow.id,
            "url": api,
            "html_url": f"{self._html(request)}/{repo.full_name}/actions/runs/{run.id}",
            "pull_requests": [],
            "created_at": when(run.created),
            "updated_at": when(run.updated),
            "actor": actor,
            "run_attempt": 1,
            "referenced_workflows": [],
            "run_started_at": when(run.started if run.started is not None else run.created),
            "triggering_actor": actor,
            "jobs_url": f"{api}/jobs",
            "logs_url": f"{api}/logs",
            "check_suite_url": f"{self._repo_api(request, repo)}/check-suites/{suite}",
            "artifacts_url": f"{api}/artifacts",
            "cancel_url": f"{api}/cancel",
            "rerun_url": f"{api}/rerun",
            "previous_attempt_url": None,
            "workflow_url": f"{self._repo_api(request, repo)}/actions/workflows/{run.workflow.id}",
            "head_commit": {
                "id": commit.sha,
                "tree_id": commit.tree_sha,
                "message": commit.message,
                "timestamp": when(commit.date),
                "author": person,
                "committer": person,
            },
            "repository": self._repo(request, repo),
            "head_repository": self._repo(request, repo),
        }

    def _job(self, request: Request, repo: Repo, run: Run, job: Job) -> dict[str, Any]:
        api = self._repo_api(request, repo)
        taken = job.runner is not None
        return {
            "id": job.id,
            "run_id": run.id,
            "workflow_name": run.workflow.name,
            "head_branch": run.branch,
            "run_url": f"{api}/actions/runs/{run.id}",
            "run_attempt": 1,
            "node_id": f"CR_{job.id}",
            "head_sha": run.sha,
            "url": f"{api}/actions/jobs/{job.id}",
            "html_url": f"{self._html(request)}/{repo.full_name}/actions/runs/{run.id}"
            f"/job/{job.id}",
            "status": job.status,
            "conclusion": job.conclusion,
            "created_at": when(job.created),
            "started_at": when(job.started if job.started is not None else job.created),
            "completed_at": when(job.completed) if job.completed is not None else None,
            "name": job.name,
            "steps": [
                {
                    "name": step.name,
                    "status": step.status,
                    "conclusion": step.conclusion,
                    "number": step.number,
                    "started_at": when(step.started) if step.started is not None else None,
                    "completed_at": when(step.completed) if step.completed is not None else None,
                }
                for step in job.steps
            ],
            "check_run_url": f"{api}/check-runs/{job.id}",
            "labels": LABELS,
            "runner_id": (job.id % 1000 + 1) if taken else None,
            "runner_name": job.runner,
            "runner_group_id": RUNNER_GROUP[0] if taken else None,
            "runner_group_name": RUNNER_GROUP[1] if taken else None,
        }

    def _deployment(self, request: Request, repo: Repo, deployment: Deployment) -> dict[str, Any]:
        url = f"{self._repo_api(request, repo)}/deployments/{deployment.id}"
        return {
            "url": url,
            "id": deployment.id,
            "node_id": f"DE_{deployment.id}",
            "sha": deployment.sha,
            "ref": deployment.ref,
            "task": deployment.task,
            "payload": deployment.payload,
            "original_environment": deployment.environment,
            "environment": deployment.environment,
            "description": deployment.description,
            "creator": self._user(request, login_of(deployment.creator)),
            "created_at": when(deployment.created),
            "updated_at": when(deployment.updated),
            "statuses_url": f"{url}/statuses",
            "repository_url": self._repo_api(request, repo),
            "transient_environment": deployment.transient,
            "production_environment": deployment.production,
        }

    def _deployment_status(
        self, request: Request, repo: Repo, deployment: Deployment, status: DeploymentStatus
    ) -> dict[str, Any]:
        url = f"{self._repo_api(request, repo)}/deployments/{deployment.id}"
        return {
            "url": f"{url}/statuses/{status.id}",
            "id": status.id,
            "node_id": f"DES_{status.id}",
            "state": status.state,
            "creator": self._user(request, login_of(status.creator)),
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "created_at": when(status.created),
            "updated_at": when(status.created),
            "deployment_url": url,
            "repository_url": self._repo_api(request, repo),
            "environment_url": status.environment_url,
            "log_url": status.log_url,
        }
