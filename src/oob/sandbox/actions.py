"""GitHub Actions inside the sandbox's world: the release workflow's runs, and deployments.

The repository has one `workflow_dispatch` workflow, `release.yml`, the Actions twin of the
Jenkins release job: its `release` job waits `release_wait` minutes, picks the newest commit of
main whose combined status is success, logs it and tags it; its `build` job builds it, and its
`deploy` job then deploys that release to the `production` environment (raising the CMS's deploy
shield while it runs), which makes GitHub record a deployment with its statuses, as an
environment does. In the `workflows` layout (`Options.actions_layout`) the deploy is instead the
run of `deploy.yml` (`on: workflow_run`) that the release run's success starts. A dispatch
creates a run queued for a runner; a cancel ends what runs a few seconds later, `cancelled`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from oob.sandbox.actions_model import Deployment, DeploymentStatus, Job, Run, Step, Workflow
from oob.sandbox.builds import wait_minutes
from oob.sandbox.ledger import Ledger
from oob.sandbox.options import Options
from oob.sandbox.production import Cms
from oob.sandbox.repo import Repo
from oob.sandbox.scenario import Pipeline, Scenario
from oob.sandbox.simulation import Simulation

ACTIONS_BOT = "github-actions[bot]"
RELEASE_WORKFLOW = "release.yml"
DEPLOY_WORKFLOW = "deploy.yml"  # the `workflows` layout's deploy, on `workflow_run`
WORKFLOW_RUN_LAG = 3.0  # seconds from a run's success to the run it triggers
RUNNERS = ("GitHub Actions 1000001234", "GitHub Actions 1000001235", "GitHub Actions 1000001236")
RUNNER_PICKUP = 4.0  # seconds from a job's queueing to a runner taking it
DISPATCH_LAG = 2.0  # seconds before a run dispatched without run details is listed
CANCEL_LAG = 3.0  # seconds from a cancel request to the run's `cancelled` conclusion
SET_UP, CHECKOUT = 2.0, 3.0  # seconds of the first two steps of every job
RELEASE_STEPS = (
    "Set up job",
    "Run actions/checkout@v4",
    "Wait",
    "Pick release commit",
    "Tag release",
    "Complete job",
)
BUILD_STEPS = ("Set up job", "Run actions/checkout@v4", "Build the release", "Complete job")
DEPLOY_STEPS = ("Set up job", "Run actions/checkout@v4", "Deploy to production", "Complete job")


class Actions(Simulation):
    """The world's GitHub Actions and deployments; the world gives it the rest it reads."""

    options: Options
    pipeline: Pipeline
    scenario: Scenario
    repo: Repo
    cms: Cms
    ledger: Ledger
    after_release: list[tuple[float, Callable[[], None]]]
    _replaying: bool
    _release_candidate: Callable[[], tuple[str | None, int]]
    _tag_release: Callable[[str], str]
    _release_begins: Callable[[], None]

    def _open_actions(self, created: float) -> None:
        """The release workflow (added at `created`), no run yet, no deployment yet."""
        self.workflows = {
            RELEASE_WORKFLOW: Workflow(
                id=61_234_567,
                name="Release",
                file=RELEASE_WORKFLOW,
                inputs={"release_wait": "60", "oob_run": ""},
                run_name="Release {oob_run}",
                created=created,
            ),
            DEPLOY_WORKFLOW: Workflow(
                id=61_234_568,
                name="Deploy",
                file=DEPLOY_WORKFLOW,
                inputs={},
                run_name="Deploy",
                created=created,
                dispatchable=False,
            ),
        }
        self.runs: list[Run] = []
        self.deployments: list[Deployment] = []
        self._run_ids: Iterator[int] = itertools.count(13_200_450_001, 7)
        self._job_ids: Iterator[int] = itertools.count(36_918_220_001, 3)
        self._deployment_ids: Iterator[int] = itertools.count(2_004_118_001)
        self._deployment_status_ids: Iterator[int] = itertools.count(19_412_330_001)

    def workflow(self, key: str) -> Workflow | None:
        """The workflow a URL names by id or by file name."""
        return next((w for w in self.workflows.values() if key in (str(w.id), w.file)), None)

    def run(self, run_id: int) -> Run | None:
        """The run with id `run_id`, once it exists."""
        return next((r for r in self.runs if r.id == run_id), None)

    def actions_job(self, job_id: int) -> tuple[Run, Job] | None:
        """The job with id `job_id` and its run."""
        for run in self.runs:
            for job in run.jobs:
                if job.id == job_id:
                    return run, job
        return None

    # -- dispatching --------------------------------------------------------------------------

    def dispatch(
        self, workflow: Workflow, branch: str, inputs: dict[str, str], actor: str, *, lag: float
    ) -> int:
        """Start a run of `workflow` on the head of `branch` for `actor`; listed after `lag`
        seconds. Returns the run's id (known at once, as GitHub's run details give it)."""
        run_id = next(self._run_ids)
        values = {
            name: inputs.get(name, default or "") for name, default in workflow.inputs.items()
        }
        sha = self.repo.branches[branch]
        number = sum(1 for r in self.runs if r.workflow.id == workflow.id) + 1

        def create() -> None:
            run = Run(
                run_id, number, workflow, "workflow_dispatch", actor, branch, sha, values,
                workflow.title(values), self._at, self._at,
            )  # fmt: skip
            self.runs.append(run)
            self._queue_job(run, "release", RELEASE_STEPS, self._start_release_job)

        if lag > 0:
            self._schedule(self._at + lag, create)
        else:
            create()
        return run_id

    def _queue_job(
        self, run: Run, name: str, steps: tuple[str, ...], start: Callable[[Run, Job], None]
    ) -> Job:
        job = Job(
            next(self._job_ids),
            run.id,
            name,
            self._at,
            [Step(n, s) for n, s in enumerate(steps, 1)],
            environment="production" if name == "deploy" else None,
        )
        run.jobs.append(job)
        run.updated = self._at
        self._schedule(self._at + RUNNER_PICKUP, lambda: self._take(run, job, start))
        return job

    def _take(self, run: Run, job: Job, start: Callable[[Run, Job], None]) -> None:
        """A runner takes the job: its set-up and checkout steps, then the job's own."""
        if job.completed is not None:
            return
        job.started = self._at
        job.runner = self._rng("runner", job.id).choice(RUNNERS)
        if run.started is None:
            run.started = self._at
        run.updated = self._at
        setup = job.steps[0]
        setup.started = self._at
        job.write(self._at, 1, "Current runner version: '2.321.0'", f"Runner name: '{job.runner}'")
        at = self._at + SET_UP
        setup.completed, setup.conclusion = at, "success"
        checkout = job.steps[1]
        checkout.started = at
        job.write(
            at, 2, "##[group]Run actions/checkout@v4", f"Syncing repository: {self.repo.full_name}"
        )
        job.write(at, 2, f"Checking out the ref: {run.sha}", "##[endgroup]")
        checkout.completed, checkout.conclusion = at + CHECKOUT, "success"

        def begin() -> None:
            if job.completed is None:
                start(run, job)

        self._schedule(at + CHECKOUT, begin)

    # -- the release job ----------------------------------------------------------------------

    def _start_release_job(self, run: Run, job: Job) -> None:
        if not self._replaying:
            self._release_begins()
        wait_step = job.step("Wait")
        wait_step.started = self._at
        raw = run.inputs.get("release_wait", "")
        wait = wait_minutes(raw)
        if wait is None:
            job.write(
                self._at, 3, f"##[error]release_wait must be a number of minutes, not {raw!r}"
            )
            self._end_job(run, job, "failure")
            return
        job.write(self._at, 3, f"Waiting {raw} min before picking the release commit")
        wait_step.completed, wait_step.conclusion = self._at + wait * 60, "success"
        self._schedule(self._at + wait * 60, lambda: self._pick_release(run, job))

    def _pick_release(self, run: Run, job: Job) -> None:
        if job.completed is not None:
            return
        pick = job.step("Pick release commit")
        pick.started = self._at
        sha, looked = self._release_candidate()
        if sha is None:
            job.write(
                self._at,
                4,
                f"##[error]No commit among the last {looked} of main has combined status success",
            )
            self._end_job(run, job, "failure")
            return
        job.write(self._at, 4, f"Commit status: success : {sha}")
        pick.completed, pick.conclusion = self._at, "success"
        tag = self._tag_release(sha)
        run.released_sha, run.release_tag = sha, tag
        step = job.step("Tag release")
        step.started = self._at
        job.write(
            self._at, 5, f"+ git tag -a {tag} {sha} -m 'Release {tag}'", f"Release tag: {tag}"
        )
        tail = 60.0 * self._rng("release-tail", run.id).uniform(0.92, 1.08)
        step.completed, step.conclusion = self._at + tail, "success"
        self._schedule(self._at + tail, lambda: self._end_job(run, job, "success"))

    # -- the build job ------------------------------------------------------------------------

    def _start_build_job(self, run: Run, job: Job) -> None:
        """Build the tagged release, for as long as the Jenkins pipeline's build after the
        release job takes."""
        step = job.step("Build the release")
        step.started = self._at
        job.write(self._at, 3, f"Building {run.release_tag} ({run.released_sha})")
        spec = self.pipeline.job(self.pipeline.release_job.downstream or "")
        minutes = (spec.estimate_minutes if spec else 5.0) * self._rng("build", run.id).uniform(
            0.92, 1.08
        )

        def built() -> None:
            if job.completed is None:
                job.write(self._at, 3, f"Built {run.release_tag}")
                self._end_job(run, job, "success")

        self._schedule(self._at + minutes * 60, built)

    # -- the deploy job -----------------------------------------------------------------------

    def _start_deploy_job(self, run: Run, job: Job) -> None:
        step = job.step("Deploy to production")
        step.started = self._at
        self.cms.deploys_running += 1
        tag = run.release_tag or ""
        job.write(self._at, 3, f"Deploying {tag} to production", "Deploy shield raised")
        # An environment's job: GitHub records a deployment of the run's commit.
        job.deployment = self.create_deployment(
            run.sha,
            ref=run.branch,
            task="deploy",
            environment="production",
            payload="",
            description=None,
            creator=ACTIONS_BOT,
        )
        self.deployment_status(job.deployment, "in_progress", "", self._job_page(job), ACTIONS_BOT)
        spec = next(j for j in self.pipeline.jobs if j.kind == "deploy")
        minutes = spec.estimate_minutes * self._rng("deploy", run.id).uniform(0.92, 1.08)
        failed = not self._replaying and self.scenario.results.get(spec.path) == "FAILURE"

        def finish() -> None:
            if job.completed is not None:
                return
            if failed:
                job.write(self._at, 3, "##[error]Process completed with exit code 2.")
            else:
                self.cms.deployed_sha, self.cms.tag = run.released_sha, tag or None
                self.cms.deployed_at = self._at
                job.write(self._at, 3, f"Deployed {tag} to prod")
            self._end_job(run, job, "failure" if failed else "success")

        self._schedule(self._at + minutes * 60, finish)

    def _job_page(self, job: Job) -> str:
        page = f"{self.options.public_url}/web/github/{self.repo.full_name}/actions/runs"
        return f"{page}/{job.run_id}/job/{job.id}"

    # -- endings ------------------------------------------------------------------------------

    def _end_job(self, run: Run, job: Job, conclusion: str) -> None:
        """The job ends with `conclusion`: its step in progress too, the steps not run are
        skipped; the next job is queued after a success, else the run ends."""
        current = job.current
        if current is not None:
            current.completed, current.conclusion = self._at, conclusion
        if job.deployment is not None:
            self.cms.deploys_running -= 1
            job.write(self._at, 3, "Deploy shield lowered")
            state = "success" if conclusion == "success" else "failure"
            self.deployment_status(job.deployment, state, "", self._job_page(job), ACTIONS_BOT)
        for step in job.steps:
            if step.completed is None:
                step.completed = self._at
                step.conclusion = "success" if step.name == "Complete job" else "skipped"
                step.started = step.started or self._at
        job.write(self._at, len(job.steps), "Cleaning up orphan processes")
        job.completed, job.conclusion = self._at, conclusion
        run.updated = self._at
        if conclusion == "success" and job.name == "release":
            self._queue_job(run, "build", BUILD_STEPS, self._start_build_job)
            return
        if conclusion == "success" and job.name == "build":
            if self.options.actions_layout == "jobs":
                self._queue_job(run, "deploy", DEPLOY_STEPS, self._start_deploy_job)
                return
            self._schedule(self._at + WORKFLOW_RUN_LAG, lambda: self._deploy_run(run))
        run.completed, run.conclusion = self._at, conclusion

    def _deploy_run(self, upstream: Run) -> None:
        """`deploy.yml` runs on the release run's success (`on: workflow_run`), on its commit,
        and deploys the release it tagged (an artifact, on GitHub)."""
        workflow = self.workflows[DEPLOY_WORKFLOW]
        number = sum(1 for r in self.runs if r.workflow.id == workflow.id) + 1
        run = Run(
            next(self._run_ids), number, workflow, "workflow_run", upstream.actor,
            upstream.branch, upstream.sha, {}, workflow.title({}), self._at, self._at,
            released_sha=upstream.released_sha, release_tag=upstream.release_tag,
        )  # fmt: skip
        self.runs.append(run)
        self._queue_job(run, "deploy", DEPLOY_STEPS, self._start_deploy_job)

    def cancel_run(self, run: Run) -> None:
        """Ask the run to stop; what runs ends `cancelled` a few seconds later."""
        run.cancelling = True
        run.updated = self._at

        def cancelled() -> None:
            if run.completed is not None:
                return
            for job in run.jobs:
                if job.completed is None:
                    if job.current is not None:
                        job.write(
                            self._at, job.current.number, "##[error]The operation was canceled."
                        )
                    self._end_job(run, job, "cancelled")
            run.completed, run.conclusion = self._at, "cancelled"

        self._schedule(self._at + CANCEL_LAG, cancelled)

    # -- deployments --------------------------------------------------------------------------

    def create_deployment(
        self,
        sha: str,
        *,
        ref: str,
        task: str,
        environment: str,
        payload: dict[str, object] | str,
        description: str | None,
        creator: str,
        transient: bool = False,
        production: bool | None = None,
    ) -> Deployment:
        """Record a deployment of `sha`."""
        deployment = Deployment(
            next(self._deployment_ids), sha, ref, task, environment, payload, description,
            creator, self._at, transient,
            environment == "production" if production is None else production,
        )  # fmt: skip
        self.deployments.append(deployment)
        summary = {"id": deployment.id, "sha": sha, "environment": environment, "by": creator}
        path = f"/repos/{self.repo.full_name}/deployments"
        self.ledger.record("github", "POST", path, summary, self._at)
        return deployment

    def deployment_status(
        self,
        deployment: Deployment,
        state: str,
        description: str,
        target_url: str,
        creator: str,
        *,
        log_url: str = "",
        environment_url: str = "",
        auto_inactive: bool = True,
    ) -> DeploymentStatus:
        """Post a status; a success makes the environment's earlier deployments inactive."""
        status = DeploymentStatus(
            next(self._deployment_status_ids), state, description, deployment.environment,
            target_url, log_url or target_url, environment_url, creator, self._at,
        )  # fmt: skip
        deployment.statuses.append(status)
        if state == "success" and auto_inactive and not deployment.transient:
            for other in self.deployments:
                latest = other.statuses[-1].state if other.statuses else None
                same = other.environment == deployment.environment
                if other is not deployment and same and latest == "success":
                    self.deployment_status(other, "inactive", "", "", creator, auto_inactive=False)
        summary = {"deployment": deployment.id, "state": state, "target_url": target_url}
        path = f"/repos/{self.repo.full_name}/deployments/{deployment.id}/statuses"
        self.ledger.record("github", "POST", path, summary, self._at)
        return status
