"""The usual way, for comparison: a release followed by a python-jenkins loop polling every 10 s.

What teams script today instead of oob: `curl` the fix's combined status on GitHub, trigger the
release job with python-jenkins, then poll the queue item and each build of the chain to
production every 10 seconds until the production deploy ends. Run against the sandbox, with the
same scenario and time scale as a rehearsal, it reports the same figures as `oob rehearse
--json`: reaction latency per change (when the loop saw each build start and end) and the
requests each service received per minute of the run.

Run: .venv/bin/python bench/baseline.py [--scenario NAME] [--time-scale N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import jenkins

from oob.reaction import epoch, percentiles, sample
from oob.sandbox.scenario import load_pipeline, load_scenario
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options

EVERY = 10.0  # seconds of the run's clock between two looks, as the scripts sleep


def baseline(scenario: str, time_scale: float) -> dict[str, Any]:
    """Release the fix the usual way against a fresh sandbox: latency and requests."""
    with SandboxServer(Options(scenario=scenario, time_scale=time_scale)) as sandbox:
        now = sandbox.world.clock.now
        state = sandbox.state()
        begun = now()
        curl_status(sandbox, state["repo"], state["fix_sha"])
        seen = follow_chain(sandbox, scenario, EVERY / time_scale, now)
        ended = now()
        state = sandbox.state()
    minutes = max((ended - begun) / 60, 1 / 60)
    samples = _samples(state, seen, time_scale)
    return {
        "scenario": scenario,
        "sim_seconds": round(ended - begun, 1),
        "reaction_latency_ms": {**percentiles([s["ms"] for s in samples]), "samples": samples},
        "requests_per_minute": {
            service: {
                "requests": round(n["received"] / minutes, 2),
                "not_modified": round(n["not_modified"] / minutes, 2),
            }
            for service, n in state["requests"].items()
        },
    }


def curl_status(sandbox: SandboxServer, repo: str, sha: str) -> str:
    """The fix's combined status, as an operator's `curl` reads it."""
    url = f"{sandbox.url}/github/repos/{repo}/commits/{sha}/status"
    header = f"Authorization: token {sandbox.options.token}"
    done = subprocess.run(
        ["curl", "-sf", "-H", header, url], capture_output=True, text=True, check=True
    )
    return str(json.loads(done.stdout)["state"])


def follow_chain(
    sandbox: SandboxServer, scenario: str, pause: float, now: Callable[[], float]
) -> dict[str, float]:
    """Trigger the release job, then follow each build down to production: when the loop saw
    each build start and end (the sandbox's clock), by `job #n started|ended`."""
    server = jenkins.Jenkins(
        f"{sandbox.url}/jenkins", username="oob", password=sandbox.options.token, timeout=30
    )
    pipeline = load_pipeline()
    job = pipeline.release_job.path
    wait = load_scenario(scenario).release_wait or 15
    last = {j.path: server.get_job_info(j.path)["lastBuild"]["number"] for j in pipeline.jobs}
    item = server.build_job(job, {"release_wait": f"{wait:g}"})
    seen: dict[str, float] = {}
    while not (executable := server.get_queue_item(item).get("executable")):
        time.sleep(pause)
    number: int | None = executable["number"]
    while job and number is not None:
        seen[f"{job} #{number} started"] = now()
        while server.get_build_info(job, number)["building"]:
            time.sleep(pause)
        seen[f"{job} #{number} ended"] = now()
        job = (pipeline.job(job) or pipeline.release_job).downstream or ""
        number = _next_build(server, job, last.get(job, 0), pause) if job else None
    return seen


def _next_build(server: jenkins.Jenkins, job: str, before: int, pause: float) -> int:
    while (build := server.get_job_info(job)["lastBuild"]) is None or build["number"] <= before:
        time.sleep(pause)
    return int(build["number"])


def _samples(state: dict[str, Any], seen: dict[str, float], time_scale: float) -> list[Any]:
    """Each build start and end the loop saw, with when it saw it."""
    samples = []
    for job in state["jobs"]:
        for build in job["builds"]:
            for what, at in (("started", build["started"]), ("ended", build["ended"])):
                change = f"{job['path']} #{build['number']} {what}"
                if change in seen and at:
                    samples.append(sample(change, epoch(at), seen[change], time_scale))
    return sorted(samples, key=lambda s: s["changed_at"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-scale", type=float, default=60)
    parser.add_argument("--scenario", default="happy")
    args = parser.parse_args()
    print(json.dumps(baseline(args.scenario, args.time_scale), indent=2))


if __name__ == "__main__":
    main()
