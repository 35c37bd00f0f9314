"""The API routes `oob` calls in server mode: starting a run, overriding a status, and a run's
status with its ETag; who may call them, and what a refusal says."""

from __future__ import annotations

from oob.events import PreflightWaiting
from oob.readmodel import snapshot
from oob.store import Source
from tests.web.conftest import ONCALL_TOKEN, VIEWER_TOKEN, Dashboard, request

DEPLOY = {
    "fix": "bbb7e0e",
    "symptoms": "Editors cannot log in",
    "cause": "bad module update",
    "fix_summary": "reverted the PR",
}
OVERRIDE = {"sha": "bbb7e0e", "context": "va/tests/cypress", "reason": "flaky"}


def test_commands_need_a_person_and_their_csrf_token(dashboard: Dashboard) -> None:
    with dashboard.client() as anonymous:
        assert anonymous.post("/api/runs", json=DEPLOY).status_code == 401
        assert anonymous.post("/api/overrides", json=OVERRIDE).status_code == 401
    with dashboard.client(token=ONCALL_TOKEN) as api:
        assert api.post("/api/runs", json=DEPLOY).status_code == 403
        assert api.post("/api/overrides", json=OVERRIDE).status_code == 403
    assert dashboard.store.runs() == []
    assert dashboard.commands.calls == []


def test_a_deploy_refused_by_role_is_audited_and_says_its_exit_code(dashboard: Dashboard) -> None:
    with dashboard.client(token=VIEWER_TOKEN) as api:
        headers = {"X-CSRF-Token": api.get("/api/me").json()["csrf_token"]}
        answer = api.post("/api/runs", json=DEPLOY, headers=headers)
    assert answer.status_code == 403
    assert answer.json()["exit_code"] == 2
    assert "cms-viewer" in answer.json()["error"]
    refused = dashboard.store.events(None)[-1]
    assert (refused.kind, refused.actor, refused.source.value) == (
        "command.refused",
        "cms-viewer",
        "web",
    )
    assert dashboard.store.runs() == []


def test_a_busy_pipeline_is_refused_as_oob_deploy_refuses_it(dashboard: Dashboard) -> None:
    holder = dashboard.store.create_run(request())
    with dashboard.client(token=ONCALL_TOKEN) as api:
        headers = {"X-CSRF-Token": api.get("/api/me").json()["csrf_token"]}
        empty = api.post("/api/runs", json={**DEPLOY, "cause": " "}, headers=headers)
        busy = api.post("/api/runs", json=DEPLOY, headers=headers)
    assert (empty.status_code, empty.json()["error"]) == (400, "--cause must not be empty")
    assert busy.status_code == 409
    assert busy.json()["exit_code"] == 1
    assert f"run {holder.id} of va-cms is active" in busy.json()["error"]
    assert [r.id for r in dashboard.store.runs()] == [holder.id]


def test_a_run_answers_with_its_status_and_an_etag(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    for n in range(10):
        note(dashboard, run.id, f"waiting {n}")
    with dashboard.client(token=VIEWER_TOKEN) as api:
        first = api.get(f"/api/runs/{run.id}")
        expected = snapshot(dashboard.store, run.id, dashboard.clock.now()).to_json()
        etag = first.headers["etag"]
        again = api.get(f"/api/runs/{run.id}", headers={"If-None-Match": etag})
        every = api.get(f"/api/runs/{run.id}", params={"latest": 100})
        note(dashboard, run.id, "news")
        changed = api.get(f"/api/runs/{run.id}", headers={"If-None-Match": etag})
    assert first.status_code == 200
    assert (again.status_code, again.content) == (304, b"")
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert first.json()["status"] == expected
    assert len(first.json()["status"]["events"]) == 8
    assert len(every.json()["status"]["events"]) == len(dashboard.store.events(run.id)) - 1


def note(dashboard: Dashboard, run_id: str, summary: str) -> None:
    waiting = PreflightWaiting(reasons=("the test gate runs",))
    dashboard.store.record(run_id, waiting, summary, actor="oob", source=Source.WORKER)
