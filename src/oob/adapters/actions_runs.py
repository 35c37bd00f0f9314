"""What oob reads of GitHub Actions' workflow runs: a run as the build server port's `Build`, and
which run of a dispatch is ours.

A dispatch that answers 204 names no run, and several people may dispatch the same workflow in
the same second; GitHub shows no run's inputs. So oob passes a correlation input (the oob run's
id) that the workflow shows in its run's name (`run-name: Release ${{ inputs.oob_run }}`) or in
a step's name, and looks for it among the runs of that workflow, branch, actor and time, as
GitHub's users do. The value must stand as a word of its own: `r-1` is not in `Release r-10`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from oob.ports import Build

# Each conclusion as the port names results (Jenkins' words).
RESULTS = {
    "success": "SUCCESS",
    "neutral": "SUCCESS",
    "failure": "FAILURE",
    "timed_out": "FAILURE",
    "action_required": "FAILURE",
    "startup_failure": "FAILURE",
    "cancelled": "ABORTED",
    "skipped": "NOT_BUILT",
    "stale": "NOT_BUILT",
}
# The time GitHub writes at the start of each line of a job's log (and a BOM on the first).
_STAMP = re.compile(rb"^(?:\xef\xbb\xbf)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")


def moment(value: object) -> datetime | None:
    """A GitHub timestamp (`2026-02-01T10:00:00Z`), or None."""
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def build_of(path: str, run: dict[str, Any]) -> Build:
    """A workflow run as the port's `Build`: numbered by the run's id."""
    created = moment(run.get("created_at")) or datetime.fromtimestamp(0, UTC)
    started = moment(run.get("run_started_at")) or created
    building = run.get("status") != "completed"
    conclusion = run.get("conclusion")
    ended = moment(run.get("updated_at")) or started
    actor = run.get("actor") or {}
    return Build(
        job=path,
        number=int(run["id"]),
        url=str(run.get("html_url") or ""),
        building=building,
        result=None if building else RESULTS.get(str(conclusion), "FAILURE"),
        started_at=started,
        duration_seconds=0.0 if building else max(0.0, (ended - started).total_seconds()),
        estimated_seconds=None,
        sha=run.get("head_sha"),
        causes=(str(actor.get("login") or ""),) if actor else (),
        queue_id=int(run["id"]),
    )


def job_build(path: str, run: dict[str, Any], jobs: list[dict[str, Any]]) -> Build:
    """The job `path` names (`workflow#job`) of a run as the port's `Build`, numbered by the
    run's id; a job not listed yet is one still to start. Its causes name the run's earlier
    jobs as its upstream builds (`release.yml#release run 42`)."""
    workflow, _, name = path.partition("#")
    whole = build_of(path, run)
    index = next((i for i, j in enumerate(jobs) if j.get("name") == name), None)
    if index is None:
        return Build(path, whole.number, whole.url, True, None, whole.started_at, 0.0, None,
                     whole.sha, causes=whole.causes, queue_id=whole.number)  # fmt: skip
    job = jobs[index]
    started = moment(job.get("started_at")) or whole.started_at
    ended = moment(job.get("completed_at"))
    building = job.get("status") != "completed"
    upstream = tuple(f"{workflow}#{j.get('name')} run {whole.number}" for j in jobs[:index])
    return Build(
        job=path,
        number=whole.number,
        url=str(job.get("html_url") or whole.url),
        building=building,
        result=None if building else RESULTS.get(str(job.get("conclusion")), "FAILURE"),
        started_at=started,
        duration_seconds=0.0 if building or ended is None else (ended - started).total_seconds(),
        estimated_seconds=None,
        sha=whole.sha,
        causes=whole.causes + upstream,
        queue_id=whole.number,
    )


def carries(text: object, correlation: str) -> bool:
    """True when `correlation` stands in `text` as a word of its own."""
    if not isinstance(text, str) or not correlation:
        return False
    return re.search(rf"(?<![\w.-]){re.escape(correlation)}(?![\w.-])", text) is not None


def ordered(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's jobs in the order they were created (ids grow), so an index into them holds."""
    return sorted(jobs, key=lambda job: int(job.get("id") or 0))


def step_names(jobs: list[dict[str, Any]]) -> list[str]:
    """The names of every step of `jobs`."""
    return [str(step.get("name") or "") for job in jobs for step in job.get("steps") or []]


def unstamped(line: bytes) -> bytes:
    """A log line without the time GitHub wrote before it."""
    return _STAMP.sub(b"", line, count=1)
