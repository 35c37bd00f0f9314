"""The workflow's branches, on in-memory doubles of the ports and a real DBOS on SQLite."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from oob.commands import Control
from oob.ports import Build
from oob.procedure import Readiness
from oob.store import RunRequest, RunState, Store
from tests.procedure.doubles import FIX, RELEASE, Script
from tests.procedure.harness import Harness, approve, make_config


def test_happy_run_resolves_with_each_message_once(harness: Harness) -> None:
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    harness.control.approve(run.id, "po", "go")
    ended = harness.end(run.id)
    assert ended.outcome is RunState.RESOLVED, harness.kinds(run.id)
    assert harness.builds.triggered[RELEASE] == 1
    assert set(harness.chat.purposes().values()) == {1}
    assert set(harness.chat.purposes()) == {
        "approval_request:product_owner",
        "deploy_coming:sitewide",
        "deploy_coming:helpdesk",
        "deploy_coming:editors",
        "hold_merges:engineers",
        "release_started:operators",
        "deploy_complete:helpdesk",
        "resolved:helpdesk",
        "resume_merging:engineers",
    }
    assert harness.postmortems == [run.id]


def test_denied_run_tells_the_product_owner_only(harness: Harness) -> None:
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    harness.control.deny(run.id, "po", "wait for the daily deploy")
    ended = harness.end(run.id)
    assert ended.outcome is RunState.DENIED
    assert harness.builds.triggered[RELEASE] == 0
    assert set(harness.chat.purposes()) == {"approval_request:product_owner"}
    denied = next(e for e in harness.store.events(run.id) if e.kind == "approval.denied")
    assert denied.actor == "po"
    assert denied.details["reason"] == "wait for the daily deploy"
    assert harness.postmortems == []


def test_requester_cannot_approve_own_run(harness: Harness) -> None:
    from oob.errors import PermissionDenied

    run = harness.start()
    with pytest.raises(PermissionDenied):
        harness.control.approve(run.id, "operator")
    with pytest.raises(PermissionDenied):
        harness.control.approve(run.id, "helpdesk")
    harness.control.cancel(run.id, "operator", "wrong fix")
    assert harness.end(run.id).outcome is RunState.CANCELLED
    assert "request_withdrawn:product_owner" in harness.chat.purposes()


def test_abandon_frees_the_pipeline_from_a_run_that_cannot_finish(harness: Harness) -> None:
    from oob.errors import PermissionDenied, ProcedureError

    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    with pytest.raises(PermissionDenied):
        harness.control.abandon(run.id, "po", "stuck")
    with pytest.raises(ProcedureError, match="still executing") as info:
        harness.control.abandon(run.id, "operator", "stuck")
    assert info.value.hint is not None
    assert "oob cancel" in info.value.hint
    assert harness.store.run(run.id).active

    ended = harness.control.abandon(run.id, "operator", "the worker hit a bug", force=True)
    assert ended.outcome is RunState.CANCELLED
    [event] = [e for e in harness.store.events(run.id) if e.kind == "run.abandoned"]
    assert event.actor == "operator"
    assert event.details["reason"] == "the worker hit a bug"
    assert event.details["state"] == "awaiting_approval"
    from dbos import DBOS

    assert DBOS.retrieve_workflow(run.id).get_status().status == "CANCELLED"
    with pytest.raises(ProcedureError, match="has ended"):
        harness.control.abandon(run.id, "operator", "again")
    second = harness.start()  # the pipeline is free again
    harness.wait_for(second.id, lambda r: "approval.requested" in harness.kinds(r.id))
    harness.control.cancel(second.id, "operator", "only checking the pipeline is free")
    assert harness.end(second.id).outcome is RunState.CANCELLED


def test_a_lost_trigger_response_finds_the_build_instead_of_triggering_again(
    harness: Harness, script: Script
) -> None:
    # Jenkins queued the release job but the answer was lost: the step runs again, and must
    # find the build it started rather than release twice.
    script.trigger_response_lost = True
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.builds.triggered[RELEASE] == 1
    assert len(harness.builds.made[RELEASE]) == 1


def test_second_deploy_is_refused_while_one_is_active(harness: Harness) -> None:
    from oob.store import RunBusy

    run = harness.start()
    with pytest.raises(RunBusy) as err:
        harness.start()
    assert run.id in err.value.message
    harness.control.cancel(run.id, "operator", "test")
    harness.end(run.id)


@pytest.mark.parametrize("script", [Script(log_reads_before_pick=10**6)])
def test_cancel_in_the_release_wait_stops_the_job_and_tells_everyone(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    harness.wait_for(run.id, lambda r: r.state is RunState.RELEASE_WAIT)
    harness.control.cancel(run.id, "operator", "found a better fix")
    ended = harness.end(run.id)
    assert ended.outcome is RunState.CANCELLED
    assert harness.builds.stopped == [(RELEASE, 1)]
    purposes = harness.chat.purposes()
    for told in ("sitewide", "helpdesk", "editors"):
        assert purposes[f"called_off:{told}"] == 1
    assert purposes["resume_merging:engineers"] == 1
    assert "hold.released" in harness.kinds(run.id)


@pytest.mark.parametrize("script", [Script(released="b" * 40)])
def test_release_without_the_fix_is_a_mismatch(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    ended = harness.end(run.id)
    assert ended.outcome is RunState.RELEASE_MISMATCH
    purposes = harness.chat.purposes()
    # Operators and engineers share #sitewide-program: one message names both.
    assert purposes["release_mismatch:operators+engineers"] == 1
    assert purposes["resume_merging:engineers"] == 1
    picked = next(e for e in harness.store.events(run.id) if e.kind == "release.picked")
    assert picked.details["contains_fix"] is False


@pytest.mark.parametrize("script", [Script(failing_job="deploys/cms-vagov-prod")])
def test_failed_prod_deploy_ends_deploy_failed(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    ended = harness.end(run.id)
    assert ended.outcome is RunState.DEPLOY_FAILED
    assert harness.chat.purposes()["deploy_failed:operators+engineers"] == 1
    assert harness.postmortems == [run.id]


@pytest.mark.parametrize("script", [Script(fix_cures=False)])
def test_fix_that_does_not_work_ends_fix_not_verified(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    ended = harness.end(run.id)
    assert ended.outcome is RunState.FIX_NOT_VERIFIED
    purposes = harness.chat.purposes()
    assert purposes["deploy_complete:helpdesk"] == 1
    assert purposes["fix_not_verified:helpdesk"] == 1
    assert "resolved:helpdesk" not in purposes


# Verification that would wait for days: only a person's judgement can end it in a test.
SLOW_VERIFICATION = (
    (resources.files("oob") / "presets" / "va-cms.toml")
    .read_text(encoding="utf-8")
    .replace("timeout_minutes = 30", "timeout_minutes = 100000")
)


@pytest.mark.parametrize("preset_text", [SLOW_VERIFICATION])
@pytest.mark.parametrize("script", [Script(fix_cures=False)])
def test_a_person_rejects_the_fix_and_the_run_ends_at_once(harness: Harness) -> None:
    from oob.errors import ProcedureError

    run = harness.start()
    with pytest.raises(ProcedureError, match="not in production yet"):
        harness.control.reject_fix(run.id, "helpdesk", "too early")
    approve(harness, run)
    harness.wait_for(run.id, lambda r: r.state is RunState.VERIFYING)
    harness.control.reject_fix(run.id, "helpdesk", "editors still get HTTP 500")
    ended = harness.end(run.id)
    assert ended.outcome is RunState.FIX_NOT_VERIFIED
    [event] = [e for e in harness.store.events(run.id) if e.kind == "verify.rejected"]
    assert event.actor == "helpdesk"
    assert event.details["reason"] == "editors still get HTTP 500"
    assert harness.chat.purposes()["fix_not_verified:helpdesk"] == 1
    assert "resume_merging:engineers" in harness.chat.purposes()


@pytest.mark.parametrize(
    "script",
    [
        Script(merge_during_wait=True),
        # The merge lands just before the log names the release: no poll comes in between
        # (seen in the soak: a worker killed before the trigger, the recovered run found the
        # release line at its first look, and the merge went unreported).
        Script(merge_during_wait=True, log_reads_before_pick=1),
    ],
)
def test_merge_during_the_hold_is_reported_once(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    harness.end(run.id)
    purposes = harness.chat.purposes()
    assert purposes["merge_detected:operators+engineers"] == 1  # one channel, one message
    assert harness.kinds(run.id).count("merge.detected") == 1


@pytest.mark.parametrize("merge_check_every", [1000])
@pytest.mark.parametrize("script", [Script(merge_during_wait=True, log_reads_before_pick=1)])
def test_a_merge_before_the_release_is_named_is_reported_whatever_the_polls(
    harness: Harness,
) -> None:
    """When the log names the released commit, oob has looked at main since the hold began:
    what landed may be what is released (seen in the soak: a worker killed before the trigger;
    the run, taken over, found the release named and the deploy done in a few looks, and never
    reported the engineer's merge)."""
    run = harness.start()
    approve(harness, run)
    harness.end(run.id)
    assert harness.kinds(run.id).count("merge.detected") == 1
    kinds = harness.kinds(run.id)
    assert kinds.index("merge.detected") < kinds.index("release.picked")


@pytest.mark.parametrize(
    "readiness",
    [
        [
            Readiness(False, ("post-deploy tests still running, about 12 min left",)),
            Readiness(False, ("post-deploy tests still running, about 12 min left",)),
            Readiness(False, ("va/tests/cypress is failure",)),
            Readiness(True),
        ]
    ],
)
def test_preflight_waits_saying_why_until_ready(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    waiting = [e.summary for e in harness.store.events(run.id) if e.kind == "preflight.waiting"]
    assert waiting == [
        "waiting: post-deploy tests still running, about 12 min left",
        "waiting: va/tests/cypress is failure",
    ]


def test_status_snapshot_lists_steps_and_outcome(harness: Harness) -> None:
    from oob.readmodel import snapshot

    run = harness.start()
    approve(harness, run)
    harness.end(run.id)
    view = snapshot(harness.store, run.id, harness.store.clock.now()).to_json()
    assert view["outcome"] == "resolved"
    assert view["eta_minutes"] is None
    statuses = {s["name"]: s["status"] for s in view["steps"]}
    assert statuses["approval"] == "done"
    assert statuses["verify"] == "done"
    assert [s["status"] for s in view["stages"]] == ["SUCCESS"] * 4


def test_runs_of_another_version_are_reported_not_run(harness: Harness) -> None:
    from dbos import EnqueueOptions

    from oob.durable import QUEUE, client
    from oob.procedure import WORKFLOW_NAME
    from oob.worker import pending_other_versions

    options: EnqueueOptions = {
        "queue_name": QUEUE,
        "workflow_name": WORKFLOW_NAME,
        "workflow_id": "from-an-older-oob",
        "app_version": "0.0.1",
    }
    dbos = client(harness.control.url)
    try:
        dbos.enqueue(options, "from-an-older-oob")
    finally:
        dbos.destroy()
    time.sleep(0.2)  # several queue polls: this worker must leave it alone
    assert pending_other_versions() == ["from-an-older-oob"]


def test_live_view_shows_stages_steps_and_events(harness: Harness) -> None:
    from rich.console import Console

    from oob.live import follow, render
    from oob.readmodel import snapshot

    run = harness.start()
    approve(harness, run)
    harness.end(run.id)
    screen = Console(record=True, width=140, force_terminal=True)
    screen.print(render(snapshot(harness.store, run.id, harness.store.clock.now())))
    text = screen.export_text()
    assert "deploys/cms-vagov-prod" in text
    assert "resolved" in text
    assert "postmortem" in text

    plain = Console(record=True, width=200, force_terminal=False)
    follow(harness.store, run.id, plain, refresh_seconds=0.01)
    lines = plain.export_text().splitlines()
    assert len(lines) == len(harness.store.events(run.id))
    assert lines[-1].endswith("postmortem done")
    assert " po (cli) approved by po" in "\n".join(lines)


def test_a_run_that_cannot_be_queued_frees_the_pipeline(preset_text: str, tmp_path: Path) -> None:
    from oob.errors import ProcedureError

    config = make_config(preset_text, tmp_path)
    url = f"sqlite:///{tmp_path / 'no-dbos.sqlite'}"  # DBOS never launched on it: no tables
    store = Store(url)
    request = RunRequest(
        pipeline="va-cms",
        requester="operator",
        fix_sha=FIX,
        symptoms="s",
        cause="c",
        fix_summary="f",
    )
    with pytest.raises(ProcedureError, match="could not be queued"):
        Control(store, url).start(config, request)
    (run,) = store.runs()
    assert run.outcome is RunState.FAILED  # oob could not go on; nobody cancelled it
    assert store.active_run("va-cms") is None
    store.close()


VA_CMS = (resources.files("oob") / "presets" / "va-cms.toml").read_text(encoding="utf-8")
WITH_DASHBOARD = (
    VA_CMS
    + '\n[web]\nidentity = "sso"\ntrusted_proxies = ["127.0.0.1/32"]\n'
    + 'public_url = "https://oob.example.org"\n'
)


@pytest.mark.parametrize("preset_text", [WITH_DASHBOARD])
def test_the_approval_request_links_to_the_run_s_page(harness: Harness) -> None:
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    (text,) = [t for k, (_, t) in harness.chat.posted.items() if ":approval_request:" in k]
    assert f"*Follow it:* https://oob.example.org/runs/{run.id}" in text
    harness.control.deny(run.id, "po", "not today")
    harness.end(run.id)


WITH_BUTTONS = VA_CMS.replace(
    "[services.slack]\n", '[services.slack]\nsigning_secret_env = "OOB_SLACK_SIGNING_SECRET"\n'
)


@pytest.mark.parametrize("preset_text", [WITH_BUTTONS])
def test_buttons_are_settled_whoever_decided_so_nobody_taps_a_stale_one(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)  # on the command line: no click settles the approval request
    assert harness.end(run.id).outcome is RunState.RESOLVED
    asked = {key.split(":")[2]: actions for key, actions in harness.chat.buttons.items()}
    assert asked == {
        "approval_request": ("approve", "deny"),
        "release_started": ("cancel",),
        "deploy_complete": ("confirm-fix", "reject-fix"),
    }
    footers = [footer for _, _, footer in harness.chat.settled]
    assert len(footers) == 3  # each message once
    assert footers[0].startswith("*Approved* by po <!date^")
    assert footers[1].startswith("Too late to cancel: the release picked ")
    assert footers[2] == "No longer open: the run ended resolved."


def test_without_a_signing_secret_no_message_carries_buttons(harness: Harness) -> None:
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    assert harness.chat.buttons == {}
    assert harness.chat.settled == []


def _staging(job: str, building: bool) -> Build:
    return Build(
        job=job,
        number=1,
        url=f"http://jenkins/job/{job}/1/",
        building=building,
        result=None if building else "SUCCESS",
        started_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
        duration_seconds=0 if building else 60,
        estimated_seconds=60,
        sha=FIX,
    )


TESTING, GATE = "testing/cms", "testing/cms-post-deploy-tests-staging"


@pytest.mark.parametrize(
    "readiness",
    [
        [
            Readiness(
                False, ("testing/cms #1 tests the fix",), TESTING, None, _staging(TESTING, True)
            ),
            Readiness(
                False, ("testing/cms #1 tests the fix",), TESTING, None, _staging(TESTING, True)
            ),
            Readiness(False, ("the post-deploy tests run",), GATE, None, _staging(GATE, True)),
            Readiness(True),
        ]
    ],
)
def test_preflight_follows_the_fix_through_staging_build_by_build(harness: Harness) -> None:
    """While pre-flight waits, the run shows (and reacts to) each build carrying the fix to the
    gate as it starts and ends, once each."""
    for job in (TESTING, GATE):
        harness.builds.made[job] = [_staging(job, building=False)]
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED
    events = harness.store.events(run.id)
    kinds = [e.kind for e in events]
    staged = [e.summary for e in events if e.summary.startswith("testing/")]
    assert staged == [
        "testing/cms #1 started",
        "testing/cms #1 ended SUCCESS",
        "testing/cms-post-deploy-tests-staging #1 started",
        "testing/cms-post-deploy-tests-staging #1 ended SUCCESS",
    ]
    last = max(i for i, e in enumerate(events) if e.summary.startswith("testing/"))
    assert last < kinds.index("preflight.passed")


def test_a_pause_that_no_command_ends_reads_no_decisions(harness: Harness) -> None:
    """Seen in the fleet benchmark: every pause of a run read the decisions taken, a DBOS step
    of its own (160 of a happy run's 961 steps) although nobody had decided anything. A decision
    wakes the run, which reads them then (and once in a while anyway)."""
    from collections import Counter

    from oob.durable import client

    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    harness.control.approve(run.id, "po", "go")
    assert harness.end(run.id).outcome is RunState.RESOLVED
    dbos = client(harness.store.url)
    try:
        steps = Counter(s["function_name"] for s in dbos.list_workflow_steps(run.id))
    finally:
        dbos.destroy()
    assert steps["DBOS.recv"] >= 12, steps  # it paused
    assert steps["oob.decisions"] * 4 <= steps["DBOS.recv"], steps
