"""The build server port on GitHub Actions' REST API: a workflow file is the "job", a workflow
run the "build", numbered by its id. A path `workflow#job` names one job of the workflow's runs:
its build is that job of a run, numbered by the run's id, and its log that job's; a stage after
the release job in the same run is followed so.

`trigger` dispatches the workflow (`workflow_dispatch`) with its inputs, the correlation input
among them, and learns the run from the answer (200 with `return_run_details`, GitHub since
February 2026). A GitHub Enterprise Server without run details answers 204 (or refuses the
parameter: then it is sent again without, a 422 having dispatched nothing); oob then finds its
run by workflow, branch, actor, creation time and the correlation input (`actions_runs`). When a
dispatch's answer is lost, the run is looked for before anything is sent again, and `find`
serves a resumed run the same way: one run per dispatch.

A run's log is its jobs' logs, each available once the job has completed (a 302 to a signed
link, read as it streams); offsets into a run's log count its completed jobs. `stop` cancels.
Requests, conditional GETs, rate limits and errors are `oob.adapters.github_api`'s.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from oob.adapters import tls
from oob.adapters.actions_runs import (
    build_of,
    carries,
    job_build,
    ordered,
    step_names,
    unstamped,
)
from oob.adapters.github_api import GitHubApi
from oob.adapters.retry import RetryingClient, RetryPolicy, default_classifier, json_message
from oob.adapters.streams import lines
from oob.clock import Clock, SystemClock
from oob.errors import GitHubError
from oob.ports import Build, JobInfo, LogChunk, LogScan, QueuedBuild

# How far before a dispatch its run is looked for: clocks of oob and GitHub may differ.
CLOCK_SKEW = timedelta(minutes=2)
# How many of a workflow's newest runs `builds` reads the jobs of, for a job's builds.
JOB_RUNS = 5


def _names(jobs: list[dict[str, Any]]) -> set[str]:
    return {str(job.get("name")) for job in jobs}


def workflow_of(path: str) -> str:
    """The workflow file of a path: `release.yml` of `release.yml#deploy`."""
    return path.partition("#")[0]


class ActionsBuildServer:
    """`oob.ports.BuildServer` on the workflows of one repository."""

    def __init__(
        self,
        api_url: str,
        repository: str,
        token: str,
        *,
        token_env: str,
        timeout_seconds: float,
        branch: str = "main",
        correlation_input: str = "oob_run",
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 2.0,
        find_seconds: float = 60.0,
    ) -> None:
        """`branch` is the ref dispatched; `correlation_input` the input the workflow shows in
        its run's name or a step's; `find_seconds` how long (real seconds) a run dispatched
        without run details may take to be listed."""
        self.repository = repository
        self.branch = branch
        self.correlation_input = correlation_input
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._poll_seconds = poll_seconds
        self._find_seconds = find_seconds
        self._policy = policy or RetryPolicy()
        self._api = GitHubApi(
            api_url.rstrip("/") + "/",
            token,
            token_env=token_env,
            timeout_seconds=timeout_seconds,
            policy=self._policy,
            transport=transport,
            clock=self._clock,
        )
        # Log links are signed: they take no token (and a storage host may refuse one).
        self._links = RetryingClient(
            httpx.Client(timeout=timeout_seconds, transport=transport, verify=tls.context()),
            policy=self._policy,
            classify=default_classifier(self._clock),
            error=GitHubError,
            setting="services.github.api_url",
        )
        self._run_details = True
        self._login: str | None = None

    def close(self) -> None:
        """Close the connection pools."""
        self._api.close()
        self._links.close()

    def for_repository(
        self, repository: str, branch: str, correlation_input: str
    ) -> ActionsBuildServer:
        """This API with this token, for the workflows of `repository` dispatched on `branch`:
        the same clients (connection pools, rate-limit state); close only this one."""
        bound = copy.copy(self)
        bound.repository, bound.branch = repository, branch
        bound.correlation_input = correlation_input
        return bound

    def __repr__(self) -> str:
        return f"ActionsBuildServer({self.repository!r})"

    # --- the port -------------------------------------------------------------------------

    def job(self, path: str) -> JobInfo:
        """The workflow file `path` (e.g. `release.yml`): its page, whether it is active."""
        data = self._api.json("GET", self._workflow(path), what=f"workflow {workflow_of(path)}")
        return JobInfo(
            path=path,
            url=str(data.get("html_url") or ""),
            buildable=data.get("state") == "active",
            parameters=(),
        )

    def trigger(self, path: str, parameters: dict[str, str]) -> QueuedBuild:
        """Dispatch the workflow once with `parameters` as its inputs; the run it started."""
        correlation = parameters.get(self.correlation_input, "")
        if not correlation:
            raise GitHubError(
                f"a dispatch of {path} needs its correlation input {self.correlation_input}",
                hint="this is a bug in oob: the run's id goes there",
            )
        since = self._clock.now() - CLOCK_SKEW
        run_id = self._dispatch(path, parameters, correlation, since)
        return QueuedBuild(job=path, queue_id=run_id, build_number=run_id)

    def queued(self, path: str, queue_id: int) -> QueuedBuild:
        """A run exists from its dispatch on: it may be followed and cancelled at once."""
        run = self._run(queue_id)
        cancelled = run.get("conclusion") == "cancelled"
        return QueuedBuild(job=path, queue_id=queue_id, build_number=queue_id, cancelled=cancelled)

    def build(self, path: str, number: int) -> Build:
        """The run with id `number`, or its job `path` names (`workflow#job`)."""
        return self._build_of(path, self._run(number))

    def builds(self, path: str, limit: int = 20) -> list[Build]:
        """Recent runs of the workflow (or their job `path` names), newest first; for a job,
        the runs' jobs are read too, so only the newest `JOB_RUNS` runs are looked at."""
        workflow, _, name = path.partition("#")
        count = min(limit, JOB_RUNS) if name else limit
        runs = self._runs(workflow, {"per_page": min(100, max(1, count))})[:count]
        if not name:
            return [build_of(path, run) for run in runs]
        listed = ((run, self._jobs(int(run["id"]))) for run in runs)
        return [job_build(path, r, jobs) for r, jobs in listed if name in _names(jobs)]

    def _build_of(self, path: str, run: dict[str, Any]) -> Build:
        if "#" not in path:
            return build_of(path, run)
        return job_build(path, run, self._jobs(int(run["id"])))

    def find(self, path: str, parameters: dict[str, str], since: datetime) -> Build | None:
        """The run a dispatch of `path` with `parameters` started at or after `since`, if it
        is listed yet: ours by the correlation input, dispatched by us on our branch."""
        correlation = parameters.get(self.correlation_input, "")
        params = {
            "event": "workflow_dispatch",
            "branch": self.branch,
            "actor": self._me(),
            "created": f">={since - CLOCK_SKEW:%Y-%m-%dT%H:%M:%SZ}",
            "per_page": 100,
        }
        runs = self._runs(path, params)
        for run in runs:
            if carries(run.get("display_title"), correlation):
                return self._build_of(path, run)
        for run in runs:  # the name does not show it: a step's may
            if any(carries(name, correlation) for name in step_names(self._jobs(run["id"]))):
                return self._build_of(path, run)
        return None

    def log(self, path: str, number: int, start: int = 0) -> LogChunk:
        """The logs of the run's completed jobs from job `start` on, in order."""
        jobs, done = self._progress(path, number)
        text, index = [], start
        for job in jobs[start:]:
            body = self._job_log(job) if job.get("status") == "completed" else None
            if body is None:
                break
            text += [unstamped(line).decode("utf-8", "replace") + "\n" for line in body]
            index += 1
        return LogChunk("".join(text), index, more=not (done and index == len(jobs)))

    def follow_log(self, path: str, number: int, start: int = 0) -> Iterator[str]:
        """The run's log line by line as its jobs complete, until the run ends."""
        while True:
            chunk = self.log(path, number, start)
            yield from chunk.text.splitlines()
            if not chunk.more:
                return
            if chunk.next_start == start:
                self._sleep(self._poll_seconds)
            start = chunk.next_start

    def scan_log(self, path: str, number: int, pattern: str, start: int = 0) -> LogScan:
        """The first line `pattern` matches in the logs of the run's completed jobs from job
        `start` on, each read as it streams, without the time GitHub writes before a line."""
        regex = re.compile(pattern)
        jobs, done = self._progress(path, number)
        index = start
        for job in jobs[start:]:
            body = self._job_log(job) if job.get("status") == "completed" else None
            if body is None:
                break
            index += 1
            for raw in body:
                line = unstamped(raw).decode("utf-8", "replace").rstrip("\r")
                if regex.search(line):
                    return LogScan(line, index, more=not (done and index == len(jobs)))
        return LogScan(None, index, more=not (done and index == len(jobs)))

    def stop(self, path: str, number: int) -> None:
        """Cancel the run (GitHub ends it `cancelled`); a completed run is left alone."""
        url = f"{self._repo()}/actions/runs/{number}/cancel"
        response = self._api.request("POST", url)
        if response.status_code == 409:
            return
        self._api.ok(response, f"the cancel of run {number}")

    # --- beyond the port: for `oob doctor` ------------------------------------------------

    def whoami(self) -> str:
        """The login the token belongs to (raises on bad credentials)."""
        return self._me()

    # --- helpers --------------------------------------------------------------------------

    def _repo(self) -> str:
        return f"repos/{self.repository}"

    def _workflow(self, path: str) -> str:
        return f"{self._repo()}/actions/workflows/{quote(workflow_of(path), safe='')}"

    def _me(self) -> str:
        if self._login is None:
            self._login = str(self._api.json("GET", "user", what="the token's user")["login"])
        return self._login

    def _run(self, run_id: int) -> dict[str, Any]:
        return self._api.json("GET", f"{self._repo()}/actions/runs/{run_id}", what=f"run {run_id}")

    def _runs(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        data = self._api.json(
            "GET", f"{self._workflow(path)}/runs", params=params, what=f"the runs of {path}"
        )
        runs = data.get("workflow_runs")
        return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []

    def _jobs(self, run_id: int) -> list[dict[str, Any]]:
        url = f"{self._repo()}/actions/runs/{run_id}/jobs"
        data = self._api.json(
            "GET", url, params={"per_page": 100}, what=f"the jobs of run {run_id}"
        )
        jobs = data.get("jobs")
        return ordered([j for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else [])

    def _progress(self, path: str, run_id: int) -> tuple[list[dict[str, Any]], bool]:
        """The run's jobs in order (or the one `path` names), and whether they are all there
        and done. The run is read first: a run completed then has all its jobs listed after."""
        done = self._run(run_id).get("status") == "completed"
        jobs = self._jobs(run_id)
        name = path.partition("#")[2]
        if name:
            jobs = [j for j in jobs if j.get("name") == name]
            done = done or any(j.get("status") == "completed" for j in jobs)
        return jobs, done

    def _job_log(self, job: dict[str, Any]) -> Iterator[bytes] | None:
        """The lines of a completed job's log as they stream; None while GitHub has none yet."""
        url = f"{self._repo()}/actions/jobs/{job['id']}/logs"
        response = self._api.request("GET", url)
        if response.status_code == 404:
            return None
        if response.status_code != 302 or "location" not in response.headers:
            self._api.ok(response, f"the log of job {job.get('name')}")
            raise GitHubError(f"GitHub sent no link to the log of job {job.get('name')}")
        return self._read_link(response.headers["location"], str(job.get("name")))

    def _read_link(self, link: str, name: str) -> Iterator[bytes]:
        response = self._links.request("GET", link, stream=True)
        try:
            if response.status_code != 200:
                response.read()
                raise GitHubError(
                    f"the log of job {name} answered {response.status_code}: "
                    f"{json_message(response) or response.reason_phrase}",
                    transient=True,
                )
            yield from lines(response.iter_bytes())
        finally:
            response.close()

    def _dispatch(
        self, path: str, inputs: dict[str, str], correlation: str, since: datetime
    ) -> int:
        body: dict[str, Any] = {"ref": self.branch, "inputs": inputs}
        if self._run_details:
            body["return_run_details"] = True
        url = f"{self._workflow(path)}/dispatches"
        try:
            response = self._api.request("POST", url, json=body, idempotent=False)
        except GitHubError:
            # The dispatch may have been received before the connection broke: look first.
            found = self._await(path, inputs, since, patience=self._find_seconds)
            if found is None:
                raise
            return found.number
        status = response.status_code
        if status == 200:
            return int(self._api.ok(response, f"the dispatch of {path}")["workflow_run_id"])
        if status == 204:
            found = self._await(path, inputs, since, patience=self._find_seconds)
            if found is None:
                raise GitHubError(
                    f"GitHub dispatched {path} but no run of it shows {self.correlation_input}="
                    f"{correlation} within {self._find_seconds:g} s",
                    hint=f"the workflow's run-name (or a step's name) must show "
                    f"${{{{ inputs.{self.correlation_input} }}}}",
                )
            return found.number
        if status == 422 and self._run_details and "return_run_details" in json_message(response):
            self._run_details = False  # nothing was dispatched: send it again without
            return self._dispatch(path, inputs, correlation, since)
        if status >= 500:
            found = self._await(path, inputs, since, patience=self._find_seconds)
            if found is not None:
                return found.number
        self._api.ok(response, f"the dispatch of {path}")
        raise GitHubError(f"GitHub answered {status} to the dispatch of {path}")

    def _await(
        self, path: str, inputs: dict[str, str], since: datetime, *, patience: float
    ) -> Build | None:
        """Our run of `path`, once listed, within `patience` real seconds."""
        deadline = time.monotonic() + patience
        while True:
            found = self.find(path, inputs, since)
            if found is not None or time.monotonic() >= deadline:
                return found
            self._sleep(self._poll_seconds)
