"""The run's GitHub deployment (`[pipeline] deployment_environment`): made of the release branch
and queued when the release is triggered, in progress once the release carries the fix, then
success or failure; inactive when the release is called off before it deploys. A passing failure
is tried again, a refusal is told in the timeline and stops nothing. On doubles of the services
and a real DBOS."""

from __future__ import annotations

from importlib import resources

import pytest

from oob.store import RunState
from tests.procedure.doubles import RELEASE, Script
from tests.procedure.harness import Harness, approve

RECORDED = (
    (resources.files("oob") / "presets" / "va-cms.toml")
    .read_text(encoding="utf-8")
    .replace("[pipeline]\n", '[pipeline]\ndeployment_environment = "production"\n', 1)
)


def recorded(harness: Harness, run_id: str) -> list[dict[str, object]]:
    return [e.details for e in harness.store.events(run_id) if e.kind == "deployment.recorded"]


@pytest.mark.parametrize("preset_text", [RECORDED])
def test_a_resolved_run_records_its_deployment_queued_in_progress_then_success(
    harness: Harness,
) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.code.deployments().states == {run.id: ["queued", "in_progress", "success"]}
    assert harness.code.deployments().refs == {run.id: "main"}  # the release branch
    assert [(d["state"], d["error"]) for d in recorded(harness, run.id)] == [
        ("queued", ""),
        ("in_progress", ""),
        ("success", ""),
    ]


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(deployment_failures=1)])
def test_a_passing_failure_of_the_code_host_is_tried_again(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.code.deployments().states == {run.id: ["queued", "in_progress", "success"]}


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(deployments_refused=True)])
def test_a_refused_deployment_is_told_and_stops_nothing(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    errors = [d["error"] for d in recorded(harness, run.id)]
    assert errors == ["GitHub answered 403 on a deployment: Resource not accessible"] * 3


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(failing_job="deploys/cms-vagov-prod")])
def test_a_failed_deploy_ends_its_deployment_failed(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.DEPLOY_FAILED
    assert harness.code.deployments().states == {run.id: ["queued", "in_progress", "failure"]}


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(released="b" * 40)])
def test_a_release_mismatch_ends_its_deployment_inactive(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RELEASE_MISMATCH
    assert harness.code.deployments().states == {run.id: ["queued", "inactive"]}


@pytest.mark.parametrize("preset_text", [RECORDED])
@pytest.mark.parametrize("script", [Script(log_reads_before_pick=10**6)])
def test_a_cancel_in_the_release_wait_ends_its_deployment_inactive(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    harness.wait_for(run.id, lambda r: r.state is RunState.RELEASE_WAIT)
    # The deployment is queued as the release starts, before anyone may cancel it.
    assert harness.code.deployments().states == {run.id: ["queued"]}
    harness.control.cancel(run.id, "operator", "found a better fix")
    assert harness.end(run.id).outcome is RunState.CANCELLED
    assert harness.builds.stopped == [(RELEASE, 1)]
    assert harness.code.deployments().states == {run.id: ["queued", "inactive"]}


@pytest.mark.parametrize("preset_text", [RECORDED])
def test_a_run_ended_before_its_trigger_records_no_deployment(harness: Harness) -> None:
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    harness.control.deny(run.id, "po", "not now")
    assert harness.end(run.id).outcome is RunState.DENIED
    assert harness.code.deployments().states == {}
