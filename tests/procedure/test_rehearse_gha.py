"""The sandbox's scenarios under `oob rehearse --preset gha`: GitHub Actions releases, each
scenario ends in the same outcome as on Jenkins, with one workflow dispatched and no release
build triggered on Jenkins."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.rehearse import rehearse

from .test_rehearse import EXPECTED, TIME_SCALE, check_deployment, check_json


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_scenario_ends_in_its_outcome_on_actions(scenario: str, tmp_path: Path) -> None:
    result = rehearse(scenario, time_scale=TIME_SCALE, drafts=tmp_path, preset="gha")
    assert result.outcome == EXPECTED[scenario], result.reason
    effects = result.side_effects
    assert effects["workflows_dispatched"] == {"release.yml": 1}
    assert effects["jenkins_builds_triggered"] == {}
    assert effects["pull_requests_opened"] == 1
    assert result.postmortem_path is not None
    check_deployment(effects, EXPECTED[scenario])
    # The workflow's deploy job recorded its own deployment of the run's head, as GitHub does.
    if EXPECTED[scenario] != "release_mismatch":
        [bot] = [d for d in effects["deployments"] if d["by"] == "github-actions[bot]"]
        assert bot["states"][0] == "in_progress"
    check_json(result.to_json())


def test_an_actions_release_completes_correctly_with_faults(tmp_path: Path) -> None:
    from oob.sandbox.faults import FaultPlan

    # One request in five fails, the dispatch and the log links among them.
    plan = FaultPlan(rate=0.2, seed=5, slow_seconds=0.5, retry_after_seconds=1)
    result = rehearse("happy", time_scale=TIME_SCALE, drafts=tmp_path, faults=plan, preset="gha")
    assert result.outcome == "resolved", result.reason
    effects = result.side_effects
    assert effects["workflows_dispatched"] == {"release.yml": 1}
    check_deployment(effects, "resolved")
    assert effects["chat_messages"] == {
        "product_owner": 1,
        "sitewide": 1,
        "helpdesk": 3,
        "editors": 1,
        "engineers": 2,
        "operators": 1,
    }


@pytest.mark.parametrize("scenario", ["happy", "prod-deploy-fails", "wrong-commit"])
def test_a_deploy_in_a_following_workflow_run_is_followed(scenario: str, tmp_path: Path) -> None:
    # The release run's success starts a run of deploy.yml (`on: workflow_run`): the last stage
    # is that run, found after the release run's build job.
    result = rehearse(scenario, time_scale=TIME_SCALE, drafts=tmp_path, preset="gha-runs")
    assert result.outcome == EXPECTED[scenario], result.reason
    effects = result.side_effects
    assert effects["workflows_dispatched"] == {"release.yml": 1}
    check_deployment(effects, EXPECTED[scenario])
    if EXPECTED[scenario] != "release_mismatch":  # the deploy run is timed like any build
        changes = [s["change"] for s in result.reaction_latency_ms["samples"]]
        assert sum(c.startswith("deploy.yml #") for c in changes) == 2, changes
