"""The world's state as JSON-ready data: what a test or a rehearsal wants to check
(`GET /_sandbox/state`, `World.state`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oob.sandbox.actions_model import Run
from oob.sandbox.jobs import Build
from oob.sandbox.ledger import iso

if TYPE_CHECKING:
    from oob.sandbox.world import World


def world_state(world: World) -> dict[str, Any]:
    """Everything a test or a rehearsal wants to check, as JSON-ready data."""
    return {
        **_time(world),
        **_code(world),
        "jobs": [
            {"path": job.spec.path, "builds": [_build_state(b) for b in reversed(job.builds)]}
            for job in world.jobs.values()
        ]
        + _actions_jobs(world),
        "releases": [{"tag": tag, "sha": sha} for tag, sha in world.releases],
        "cms": _cms(world),
        "postmortem_repo": _postmortem_repo(world),
        "pulls": _pulls(world),
        "merge_attempts": list(world.merge_attempts),
        "protection": {b: dict(r) for b, r in world.repo.protection.items()},
        "github": _github(world),
        "slack": {
            c.name: {"id": c.id, "messages": len(c.messages)} for c in world.slack.channels.values()
        },
        "requests": {
            service: {"received": n, "not_modified": world.not_modified[service]}
            for service, n in sorted(world.requests.items())
        },
        # Jenkins' notifications delivered (`oob.sandbox.notifications`): to where, how many.
        "notifications": {"url": world.notifications.url, "sent": world.notifications.sent},
    }


def _build_state(build: Build) -> dict[str, Any]:
    """One build: its result, commit, parameters, cause and times (a release's pick too)."""
    data: dict[str, Any] = {
        "number": build.number,
        "result": build.result,
        "building": build.building,
        "sha": build.sha,
        "parameters": build.parameters,
        "cause": build.causes[0]["shortDescription"] if build.causes else None,
        "started": iso(build.start),
        "ended": iso(build.end) if build.end is not None else None,
        "during_scenario": build.during_scenario,
    }
    if build.job.kind == "release":
        data["released_sha"] = build.released_sha
        data["release_tag"] = build.release_tag
    return data


def _actions_jobs(world: World) -> list[dict[str, Any]]:
    """The Actions runs (as builds of `workflow`) and their jobs (of `workflow#job`), numbered
    by the run's id, as oob's Actions adapter names them; only what ran."""
    paths: dict[str, list[dict[str, Any]]] = {}
    for run in reversed(world.runs):
        if run.started is not None:
            whole = _actions_build(run, run.conclusion, run.started, run.completed)
            paths.setdefault(run.workflow.file, []).append(whole)
        for job in run.jobs:
            if job.started is None:
                continue
            data = _actions_build(run, job.conclusion, job.started, job.completed)
            if job.name == "release":
                data["released_sha"] = run.released_sha
                data["release_tag"] = run.release_tag
            paths.setdefault(f"{run.workflow.file}#{job.name}", []).append(data)
    return [{"path": path, "builds": builds} for path, builds in paths.items()]


def _actions_build(
    run: Run, result: str | None, started: float, ended: float | None
) -> dict[str, Any]:
    return {
        "number": run.id,
        "result": result,
        "building": ended is None,
        "sha": run.sha,
        "parameters": dict(run.inputs),
        "cause": f"{run.event} by {run.actor}",
        "started": iso(started),
        "ended": iso(ended) if ended is not None else None,
        "during_scenario": True,
    }


def _time(world: World) -> dict[str, Any]:
    """The scenario, the seed and where the simulated clock stands."""
    return {
        "scenario": world.scenario.name,
        "summary": world.scenario.summary,
        "seed": world.options.seed,
        "time_scale": world.clock.time_scale,
        "manual_clock": world.clock.manual,
        "sim_time": iso(world.now),
        "sim_epoch": world.now,
        "sim_elapsed_seconds": world.now - world.t0,
    }


def _code(world: World) -> dict[str, Any]:
    """The repository, its main branch, the scenario's fix and bug, and their statuses."""
    main = world.repo.branches[world.pipeline.branch]
    return {
        "repo": world.repo.full_name,
        "branch": world.pipeline.branch,
        "required_contexts": list(world.pipeline.required_contexts),
        "fix_sha": world.fix_sha,
        "bug_sha": world.bug_sha,
        "main_sha": main,
        "combined_status": {
            "fix": world.repo.combined_state(world.fix_sha),
            "main": world.repo.combined_state(main),
        },
    }


def _cms(world: World) -> dict[str, Any]:
    """What production runs, behind the shield or not, and the releases it ran before."""
    cms = world.cms
    previous = [tag for tag, sha in world.releases if sha != cms.deployed_sha]
    return {
        "deployed_sha": cms.deployed_sha,
        "tag": cms.tag,
        "shield_up": cms.shield_up,
        "login_status": world.login_status(),
        "previous_tags": previous,
    }


def _postmortem_repo(world: World) -> dict[str, Any]:
    """The postmortems' repository: its branches and pull requests."""
    repo = world.postmortems
    return {
        "repo": repo.full_name,
        "base_branch": repo.default_branch,
        "branches": sorted(repo.branches),
        "pulls": [
            {"number": p.number, "title": p.title, "head": p.head, "base": p.base, "state": p.state}
            for p in repo.pulls
        ],
    }


def _pulls(world: World) -> list[dict[str, Any]]:
    """The code repository's pull requests, merged or not."""
    return [
        {
            "number": p.number,
            "head": p.head,
            "head_sha": world.repo.branches.get(p.head),
            "base": p.base,
            "user": p.user,
            "state": p.state,
            "merged": p.merged_at is not None,
            "merge_commit_sha": p.merge_commit_sha,
        }
        for p in world.repo.pulls
    ]


def _github(world: World) -> dict[str, Any]:
    """What the token's requests cost against GitHub's rate limit."""
    rate = world.github_rate
    return {
        "requests_counted": rate.counted,
        "requests_not_modified": rate.not_modified,
        # Not the reset: it is real time, and state is compared across runs.
        "rate_limit": {"limit": rate.limit, "remaining": rate.remaining},
    }
