"""Every sandbox scenario under `oob rehearse` ends in its right outcome, each side effect once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from oob.rehearse import rehearse
from oob.sandbox.scenario import scenario_names

TIME_SCALE = 600  # ten simulated minutes a real second

EXPECTED = {
    "happy": "resolved",
    "flaky-cypress": "resolved",
    "tests-pending": "resolved",
    "main-moved": "resolved",
    "pr-during-hold": "resolved",
    "wrong-commit": "release_mismatch",
    "prod-deploy-fails": "deploy_failed",
    "fix-ineffective": "fix_not_verified",
}


# Scenarios of a misconfigured setup (a disabled job, a Slack app not invited or without a
# scope): for `oob doctor` and preflight drills, not rehearsed to an outcome here.
MISCONFIGURED = {"release-disabled", "slack-not-invited", "slack-missing-scope"}
# The happy path with jobs of seconds, to measure oob at `--time-scale 1` (tested below).
QUICK = "quick"


def test_every_scenario_is_covered() -> None:
    assert set(scenario_names()) == set(EXPECTED) | MISCONFIGURED | {QUICK}


RELEASE_JOBS = ("cms-auto-deploy", "cms-full-pipeline", "releases/cms", "cms-vagov-prod")
STAGING_JOBS = ("cms-vagov-staging", "deploy-live-staging", "post-deploy-tests-staging")
# What the run waits on (issue 17): a build it follows starting or ending, the release job
# naming its commit, the shield, editors' login answering, a person's decision.
WAITED_ON = re.compile(
    r".+ #\d+ (started|ended|named its commit)|the deploy shield is (up|down)"
    r"|editor login answers|approval\.approved|verify\.confirmed"
)


def test_quick_samples_every_change_the_run_waits_on(tmp_path: Path) -> None:
    result = rehearse(QUICK, time_scale=TIME_SCALE, drafts=tmp_path)
    assert result.outcome == "resolved", result.reason
    check_samples(result.reaction_latency_ms["samples"], RELEASE_JOBS)
    check_json(result.to_json())


def test_happy_follows_the_fix_through_staging_and_samples_at_least_20_changes(
    tmp_path: Path,
) -> None:
    """`happy`'s fix merged a minute before the run: the run follows it through staging, then
    the release, and waits on at least 20 changes (it had 14: its fix had passed staging)."""
    result = rehearse("happy", time_scale=120, drafts=tmp_path)
    assert result.outcome == "resolved", result.reason
    samples = result.reaction_latency_ms["samples"]
    assert len(samples) >= 20, [s["change"] for s in samples]
    check_samples(samples, STAGING_JOBS + RELEASE_JOBS)


def check_samples(samples: list[dict[str, Any]], jobs: tuple[str, ...]) -> None:
    """Each sample is a change the run waited on; each of `jobs`' builds started and ended,
    the release line, the shield, editors' login and both decisions are among them."""
    changes = [s["change"] for s in samples]
    assert all(WAITED_ON.fullmatch(c) for c in changes), changes
    for job in jobs:  # each build the run followed, from its start to its end
        assert sum(job in c and c.endswith(("started", "ended")) for c in changes) == 2, changes
    assert sum("named its commit" in c for c in changes) == 1
    assert {"the deploy shield is up", "the deploy shield is down", "editor login answers"} <= set(
        changes
    )
    assert {"approval.approved", "verify.confirmed"} <= set(changes)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_scenario_ends_in_its_outcome(scenario: str, tmp_path: Path) -> None:
    result = rehearse(scenario, time_scale=TIME_SCALE, drafts=tmp_path)
    assert result.outcome == EXPECTED[scenario], result.reason
    assert result.resolved is (EXPECTED[scenario] == "resolved")
    effects = result.side_effects
    assert effects["jenkins_builds_triggered"] == {"deploys/cms-auto-deploy": 1}
    assert effects["pull_requests_opened"] == 1
    assert result.postmortem_path is not None
    assert Path(result.postmortem_path).is_file()
    # The hold is always released, and the people told the deploy was coming hear how it ended.
    messages = effects["chat_messages"]
    assert messages["engineers"] >= 2
    if result.resolved:
        assert messages["helpdesk"] == 3  # deploy coming, deploy complete, resolved
    else:
        assert messages["operators"] >= 1  # the loud alert
    if scenario == "flaky-cypress":  # resolved after the simulated operator's override
        assert effects["statuses_posted"] == 1
        text = Path(str(result.postmortem_path)).read_text(encoding="utf-8")
        assert "va/tests/cypress" in text
    assert result.steps[0]["name"] == "approval"
    check_deployment(result.side_effects, EXPECTED[scenario])
    check_json(result.to_json())
    # Jenkins told the rehearsal's hook of the release (its start, completion, finalization)
    assert effects["jenkins_notifications"] >= 3


# The states of the run's GitHub deployment per outcome: queued when the release is triggered,
# in progress once the release check passes, then the final state.
DEPLOYMENT = {
    "resolved": ["queued", "in_progress", "success"],
    "fix_not_verified": ["queued", "in_progress", "success"],  # deployed; the fix did not work
    "deploy_failed": ["queued", "in_progress", "failure"],
    "release_mismatch": ["queued", "inactive"],  # the release was called off before deploying
}


def check_deployment(effects: dict[str, Any], outcome: str) -> None:
    """oob recorded one deployment to production, with the states of its outcome."""
    ours = [d for d in effects["deployments"] if d["by"] == "oob"]
    assert [(d["environment"], d["states"]) for d in ours] == [("production", DEPLOYMENT[outcome])]


def check_json(result: dict[str, Any]) -> None:
    """The object `oob rehearse --json` prints has the documented keys and sane figures."""
    assert set(result) == {
        "run_id",
        "scenario",
        "outcome",
        "steps",
        "sim_seconds",
        "wall_seconds",
        "critical_path_sim_seconds",
        "reaction_latency_ms",
        "side_effects",
        "postmortem_path",
        "reason",
    }
    assert set(result["reaction_latency_ms"]) == {"p50", "p95", "max", "samples"}
    assert result["reaction_latency_ms"]["p50"] is not None
    samples = result["reaction_latency_ms"]["samples"]
    assert all(set(x) == {"change", "changed_at", "acted_at", "ms"} for x in samples)
    assert all(x["acted_at"] >= x["changed_at"] for x in samples)
    per_minute = result["side_effects"]["requests_per_minute"]
    assert set(per_minute) >= {"jenkins", "github", "slack"}  # the CMS only once deployed
    assert all(v["requests"] > 0 for v in per_minute.values())
    assert set(result["side_effects"]) == {
        "jenkins_builds_triggered",
        "workflows_dispatched",
        "deployments",
        "chat_messages",
        "slack_interactions",
        "chat_messages_updated",
        "statuses_posted",
        "pull_requests_opened",
        "merges",
        "merge_hold_statuses",
        "github_requests_counted",
        "requests_per_minute",
        "jenkins_notifications",
    }
    assert result["side_effects"]["github_requests_counted"] > 0
    # The run cannot be faster than its jobs, in simulated time.
    assert result["sim_seconds"] >= result["critical_path_sim_seconds"] > 0
    for step in result["steps"]:
        assert set(step) == {"name", "started_at", "ended_at", "status"}


def test_run_completes_correctly_with_faults(tmp_path: Path) -> None:
    from oob.sandbox.faults import FaultPlan

    # One request in five fails: proxy errors, dropped connections, 429s, slow answers (short
    # here), and responses lost after the effect took place.
    plan = FaultPlan(rate=0.2, seed=5, slow_seconds=0.5, retry_after_seconds=1)
    result = rehearse("happy", time_scale=TIME_SCALE, drafts=tmp_path, faults=plan)
    assert result.outcome == "resolved"
    effects = result.side_effects
    assert effects["jenkins_builds_triggered"] == {"deploys/cms-auto-deploy": 1}
    assert effects["chat_messages"] == {
        "product_owner": 1,
        "sitewide": 1,
        "helpdesk": 3,
        "editors": 1,
        "engineers": 2,
        "operators": 1,  # the release build started (its Cancel button)
    }
    assert effects["pull_requests_opened"] == 1


@pytest.mark.parametrize("scenario", ["happy", QUICK])
def test_a_rehearsal_estimates_each_job_as_its_sandbox_runs_it(
    scenario: str, tmp_path: Path
) -> None:
    """Seen: `happy` runs staging at a tenth of the pipeline's minutes (`quick` every job in
    seconds), while the rehearsal's plan kept the pipeline's estimates: its ETA said 1 h 25
    for a run of minutes."""
    import httpx

    from oob.rehearse import _sandbox_config
    from oob.sandbox.server import SandboxServer
    from oob.sandbox.world import Options

    with SandboxServer(Options(scenario=scenario, time_scale=0)) as sandbox:
        config = _sandbox_config(sandbox, tmp_path)
        auth = ("oob", sandbox.options.token)
        for stage in config.pipeline.stages:
            if stage.job is None:
                continue
            path = "".join(f"/job/{part}" for part in stage.job.split("/"))
            job = httpx.get(f"{sandbox.url}/jenkins{path}/api/json", auth=auth).json()
            estimate = (
                job["lastBuild"]
                and httpx.get(f"{job['lastBuild']['url']}api/json", auth=auth).json()[
                    "estimatedDuration"
                ]
            )
            assert stage.estimate_minutes * 60_000 == pytest.approx(estimate, abs=1), stage.job
