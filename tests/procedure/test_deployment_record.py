"""The run's GitHub deployment (`[pipeline] deployment_environment`): in progress once the
release carries the fix, then success or failure; a passing failure is tried again, a refusal
is told in the timeline and stops nothing. On doubles of the services and a real DBOS."""

from __future__ import annotations

from importlib import resources

import pytest

from oob.store import RunState
from tests.procedure.doubles import Script
from tests.procedure.harness import Harness, approve

RECORDED = (
    (resources.files("oob") / "presets" / "va-cms.toml")
    .read_text(encoding="utf-8")
    .replace("[pipeline]\n", '[pipeline]\ndeployment_environment = "production"\n', 1)
)


def recorded(harness: Harness, run_id: str) -> list[dict[str, object]]:
    return [e.details for e in harness.store.events(run_id) if e.kind == "deployment.recorded"]


@pytest.mark.parametrize("preset_text", [RECORDED])
def test_a_resolved_run_records_its_deployment_in_progress_then_success(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.code.deployments().states == {run.id: ["in_progress", "success"]}
    assert [(d["state"], d["error"]) for d in recorded(harness, run.id)] == [
        ("in_progress", ""),
        ("success", ""),
    ]


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(deployment_failures=1)])
def test_a_passing_failure_of_the_code_host_is_tried_again(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.code.deployments().states == {run.id: ["in_progress", "success"]}


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(deployments_refused=True)])
def test_a_refused_deployment_is_told_and_stops_nothing(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    errors = [d["error"] for d in recorded(harness, run.id)]
    assert errors == ["GitHub answered 403 on a deployment: Resource not accessible"] * 2


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(failing_job="deploys/cms-vagov-prod")])
def test_a_failed_deploy_ends_its_deployment_failed(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.DEPLOY_FAILED
    assert harness.code.deployments().states == {run.id: ["in_progress", "failure"]}
