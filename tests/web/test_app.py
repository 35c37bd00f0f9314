"""The dashboard's pages and JSON API over a real socket, against runs written to the store."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from oob.config import Config, parse
from oob.errors import PermissionDenied, ProcedureError
from oob.store import RunState, Source, Store
from tests.web.conftest import (
    ONCALL_TOKEN,
    PO_TOKEN,
    VIEWER_TOKEN,
    Dashboard,
    FixedClock,
    MakeDashboard,
    request,
)

JENKINS = "http://jenkins.example/job/deploys/job/cms-auto-deploy/7/"
PERMALINK = "https://slack.example/archives/C1/p1"


def worker_event(store: Store, run_id: str, kind: str, summary: str, **details: Any) -> None:
    """An event as the procedure's worker writes it."""
    store.append_event(
        run_id, actor="oob", source=Source.WORKER, kind=kind, summary=summary, details=details
    )


def build(job: str, number: int, started: datetime, minutes: float | None = None) -> dict[str, Any]:
    """The details of a build event: started, or finished after `minutes` with success."""
    details: dict[str, Any] = {
        "job": job,
        "number": number,
        "url": f"http://jenkins.example/job/{job.replace('/', '/job/')}/{number}/",
        "started_at": started.isoformat(),
    }
    if minutes is not None:
        details |= {"result": "SUCCESS", "duration_seconds": minutes * 60}
    return details


def deploying_run(store: Store, clock: FixedClock) -> str:
    """A run 25 minutes into its deploy: the release job done, the full pipeline running."""
    run = store.create_run(request())
    for state in (RunState.PREFLIGHT, RunState.NOTIFYING, RunState.RELEASE_WAIT):
        store.transition(run.id, state)
    store.append_event(
        run.id,
        actor="cms-product-owner",
        source=Source.WEB,
        kind="approval.approved",
        summary="cms-product-owner approved",
    )
    worker_event(
        store,
        run.id,
        "message.posted",
        "told helpdesk in #cms-helpdesk: deploy coming",
        channel="#cms-helpdesk",
        permalink=PERMALINK,
        audience="helpdesk",
    )
    start = clock.now() - timedelta(minutes=25)
    release = "deploys/cms-auto-deploy"
    worker_event(
        store, run.id, "build.started", f"{release} #7 started", **build(release, 7, start)
    )
    worker_event(
        store,
        run.id,
        "build.finished",
        f"{release} #7 ended SUCCESS",
        **build(release, 7, start, minutes=16),
    )
    store.transition(run.id, RunState.RELEASING)
    store.transition(run.id, RunState.DEPLOYING)
    full = "cms/cms-full-pipeline"
    worker_event(
        store,
        run.id,
        "build.started",
        f"{full} #3 started",
        **build(full, 3, start + timedelta(minutes=17)),
    )
    return run.id


def to_verifying(store: Store, run_id: str) -> None:
    """Take a new run along the whole path to verifying the fix."""
    for state in (
        RunState.PREFLIGHT,
        RunState.NOTIFYING,
        RunState.RELEASE_WAIT,
        RunState.RELEASING,
        RunState.DEPLOYING,
        RunState.VERIFYING,
    ):
        store.transition(run_id, state)


def full_pipeline_finished(store: Store, clock: FixedClock, run_id: str) -> None:
    """The worker records the end of `deploying_run`'s full pipeline, after 7.5 minutes."""
    full = "cms/cms-full-pipeline"
    started = clock.now() - timedelta(minutes=8)
    worker_event(
        store,
        run_id,
        "build.finished",
        f"{full} #3 ended SUCCESS",
        **build(full, 3, started, minutes=7.5),
    )


def ended_run(store: Store, clock: FixedClock, outcome: RunState, **changes: str) -> str:
    run = store.create_run(request(**changes))
    store.transition(run.id, RunState.CLOSING)
    clock.at += timedelta(minutes=42)
    store.transition(run.id, outcome)
    return run.id


@contextmanager
def signed_in(dashboard: Dashboard, token: str) -> Iterator[httpx.Client]:
    """A browser-like client that signed in through the login form."""
    with dashboard.client(follow_redirects=False) as client:
        form = client.get("/login")
        answer = client.post(
            "/login", data={"csrf_token": csrf_of(form.text), "token": token, "next": "/"}
        )
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found[1]


# --- identity -----------------------------------------------------------------------------------


def test_nobody_is_anonymous(dashboard: Dashboard) -> None:
    run_id = deploying_run(dashboard.store, dashboard.clock)
    with dashboard.client(follow_redirects=False) as client:
        page = client.get(f"/runs/{run_id}")
        assert page.status_code == 303
        assert page.headers["location"] == f"/login?next=/runs/{run_id}"
        assert client.get("/api/runs").status_code == 401
        action = client.post(f"/api/runs/{run_id}/actions/cancel", json={"reason": "x"})
        assert action.status_code == 401
    assert dashboard.commands.calls == []


def test_tokens_sign_in_and_wrong_ones_do_not(dashboard: Dashboard) -> None:
    with dashboard.client(follow_redirects=False) as client:
        form = client.get("/login")
        bad = client.post(
            "/login", data={"csrf_token": csrf_of(form.text), "token": "guess", "next": "/"}
        )
        assert bad.status_code == 401
        assert "oob_session" not in client.cookies
        # The login form's token is bound to the browser's cookie: a form posted from
        # elsewhere (no cookie) is refused even with the right user token.
        elsewhere = dashboard.client(follow_redirects=False)
        forged = elsewhere.post(
            "/login", data={"csrf_token": csrf_of(form.text), "token": PO_TOKEN}
        )
        assert forged.status_code == 403
        elsewhere.close()
    with signed_in(dashboard, PO_TOKEN) as client:
        assert "Signed in as <strong>cms-product-owner</strong>" in client.get("/").text
    with signed_in(dashboard, ONCALL_TOKEN) as client:  # checked against its hash
        assert "Signed in as <strong>cms-oncall</strong>" in client.get("/").text
    with dashboard.client(token=VIEWER_TOKEN) as api:
        assert api.get("/api/me").json()["name"] == "cms-viewer"
    with dashboard.client(token="nope") as api:
        assert api.get("/api/me").status_code == 401


def test_a_tampered_session_is_refused(dashboard: Dashboard) -> None:
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        cookie = client.cookies["oob_session"]
        payload, signature = cookie.split(".")
        import base64
        import json

        body = json.loads(base64.urlsafe_b64decode(payload))
        body["n"] = "cms-product-owner"
        forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
        client.cookies.set("oob_session", f"{forged}.{signature}")
        assert client.get("/").status_code == 401


def test_a_session_expires(dashboard: Dashboard) -> None:
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        assert client.get("/").status_code == 200
        dashboard.clock.at += timedelta(hours=13)
        assert client.get("/").status_code == 401


def _sso(preset_text: str, tmp_path: Path, proxies: str) -> Config:
    web = f'[web]\nidentity = "sso"\ntrusted_proxies = [{proxies}]\n'
    return parse(preset_text + web, tmp_path / "oob.toml")


def test_sso_header_is_believed_only_from_the_proxy(
    make_dashboard: MakeDashboard, preset_text: str, tmp_path: Path
) -> None:
    header = {"X-Forwarded-Email": "cms-product-owner"}
    behind = make_dashboard(_sso(preset_text, tmp_path, '"127.0.0.0/8"'))
    with behind.client() as client:
        assert client.get("/api/me", headers=header).json()["name"] == "cms-product-owner"
        assert client.get("/api/me").status_code == 401
        assert client.get("/").status_code == 401
        assert client.get("/login").status_code == 404  # no token sign-in behind SSO
    # The same header from an address that is not the proxy: someone is bypassing it.
    bypassed = make_dashboard(_sso(preset_text, tmp_path, '"10.0.0.1"'))
    with bypassed.client() as client:
        answer = client.get("/api/me", headers=header)
        assert answer.status_code == 403
        assert "only accepted from the SSO proxy" in answer.json()["error"]
        assert client.get("/", headers=header).status_code == 403


# --- pages --------------------------------------------------------------------------------------


def test_runs_list_shows_active_first_then_history(dashboard: Dashboard) -> None:
    store, clock = dashboard.store, dashboard.clock
    ended_run(store, clock, RunState.DENIED, requester="alice", symptoms="Content release stuck")
    ended_run(store, clock, RunState.RESOLVED, requester="bob", symptoms="Login broken")
    active = deploying_run(store, clock)
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        page = client.get("/").text
    assert page.index(f'href="/runs/{active}"') < page.index("History")
    history = page[page.index("History") :]
    assert history.index("Login broken") < history.index("Content release stuck")
    for text in ("Resolved", "Denied", "bob", "alice"):
        assert text in history
    assert "42 min" in history  # lead time of the ended runs


def test_run_page_says_whom_the_run_waits_for_and_what_it_could_not_deliver(
    dashboard: Dashboard,
) -> None:
    run = dashboard.store.create_run(request())
    worker_event(
        dashboard.store,
        run.id,
        "message.undelivered",
        "could not tell engineers in #cms-engineering (resume merging): Slack is down",
        command=f"oob notify {run.id} resume_merging",
        key="k",
        channel="#cms-engineering",
    )
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        page = client.get(f"/runs/{run.id}").text
    assert "Waiting for the product owner (cms-product-owner) to approve" in page
    assert f"<code>oob approve {run.id}</code>" in page
    assert f"<code>oob notify {run.id} resume_merging</code>" in page


def test_run_page_shows_the_whole_picture(dashboard: Dashboard) -> None:
    run_id = deploying_run(dashboard.store, dashboard.clock)
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        page = client.get(f"/runs/{run_id}").text
    for text in (
        "Editors cannot log in",
        "all CMS editors",
        "bad module update",
        "reverted the PR",
        "bbb7e0e809e1",
        "Deploying to production",
    ):
        assert text in page
    # release job: 15 min estimate, 16 min actual; full pipeline 7 min, 8 min so far (past
    # its estimate: counts as about to finish); then releases/cms 1 + prod 7 = 8 min left.
    assert "estimate 15 min · actual 16 min · SUCCESS" in page
    assert "estimate 7 min · actual 8 min so far" in page
    assert "Service restored in about <strong data-eta>8 min</strong>" in page
    assert f'<a href="{JENKINS}">deploys/cms-auto-deploy #7</a>' in page
    assert f'href="{JENKINS}consoleText"' in page
    assert f'<a href="{PERMALINK}">told helpdesk in #cms-helpdesk: deploy coming</a>' in page
    assert "cms-product-owner approved" in page


def test_eta_before_the_release_is_the_whole_release_path(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    with dashboard.client(token=VIEWER_TOKEN) as api:
        view = api.get(f"/api/runs/{run.id}").json()
    assert view["state"] == "awaiting_approval"
    assert view["eta_minutes"] == 15 + 7 + 1 + 7
    assert [s["actual_minutes"] for s in view["stages"]] == [None] * 4


def test_actions_follow_the_roles(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    offered = {}
    for token in (PO_TOKEN, ONCALL_TOKEN, VIEWER_TOKEN):
        with signed_in(dashboard, token) as client:
            page = client.get(f"/runs/{run.id}").text
            offered[token] = re.findall(r'data-action="([\w-]+)"', page)
    assert offered[PO_TOKEN] == ["approve", "deny", "cancel"]
    # The requester approves nothing of their own; as a status overrider, may force a status.
    assert offered[ONCALL_TOKEN] == ["override-status", "cancel"]
    assert offered[VIEWER_TOKEN] == []
    with dashboard.client(token=VIEWER_TOKEN) as api:
        assert api.get(f"/api/runs/{run.id}").json()["actions"] == []


def test_an_action_goes_to_the_command_with_its_actor(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(dashboard, PO_TOKEN) as client:
        page = client.get(f"/runs/{run.id}").text
        answer = client.post(
            f"/runs/{run.id}/actions/approve",
            data={"csrf_token": csrf_of(page), "note": "go ahead"},
        )
        assert answer.status_code == 303
        assert client.get(answer.headers["location"]).text.count("You approved the deploy.") == 1
    assert dashboard.commands.calls == [
        ("approve", run.id, "cms-product-owner", "go ahead", Source.WEB)
    ]


def test_a_fix_confirmer_reports_that_the_fix_does_not_work(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    to_verifying(dashboard.store, run.id)
    with signed_in(dashboard, ONCALL_TOKEN) as client:
        page = client.get(f"/runs/{run.id}").text
        assert re.findall(r'data-action="([\w-]+)"', page) == ["confirm-fix", "reject-fix"]
        answer = client.post(
            f"/runs/{run.id}/actions/reject-fix",
            data={"csrf_token": csrf_of(page), "reason": "editors still get HTTP 500"},
        )
        assert answer.status_code == 303
    assert dashboard.commands.calls == [
        ("reject", run.id, "cms-oncall", "editors still get HTTP 500", Source.WEB)
    ]


def test_forged_actions_are_refused(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(dashboard, ONCALL_TOKEN) as other:
        others_token = csrf_of(other.get(f"/runs/{run.id}").text)
    with signed_in(dashboard, PO_TOKEN) as client:
        path = f"/runs/{run.id}/actions/approve"
        assert client.post(path, data={}).status_code == 403
        assert client.post(path, data={"csrf_token": "forged"}).status_code == 403
        # Someone else's token is no good either: tokens are bound to their user and session.
        assert client.post(path, data={"csrf_token": others_token}).status_code == 403
    with dashboard.client() as anonymous:
        assert anonymous.post(path, data={"csrf_token": others_token}).status_code in (401, 303)
    with dashboard.client(token=PO_TOKEN) as api:
        api_path = f"/api/runs/{run.id}/actions/approve"
        assert api.post(api_path, json={}).status_code == 403
        assert (
            api.post(api_path, json={}, headers={"X-CSRF-Token": others_token}).status_code == 403
        )
    assert dashboard.commands.calls == []


def test_api_actions_with_the_csrf_token(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    with dashboard.client(token=PO_TOKEN) as api:
        me = api.get("/api/me").json()
        assert me["may"] == ["approve", "deny", "cancel"]
        headers = {"X-CSRF-Token": me["csrf_token"]}
        path = f"/api/runs/{run.id}/actions/deny"
        assert api.post(path, json={"reason": " "}, headers=headers).status_code == 400
        answer = api.post(path, json={"reason": "not now"}, headers=headers)
        assert answer.status_code == 200
        assert answer.json()["run"]["run_id"] == run.id
    assert dashboard.commands.calls == [
        ("deny", run.id, "cms-product-owner", "not now", Source.WEB)
    ]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (PermissionDenied("cms-viewer may not approve a deploy"), 403),
        (ProcedureError("run is not waiting for approval"), 409),
    ],
)
def test_a_refused_command_says_why(dashboard: Dashboard, error: Exception, status: int) -> None:
    run = dashboard.store.create_run(request())
    dashboard.commands.refuse = error  # type: ignore[assignment]
    with dashboard.client(token=PO_TOKEN) as api:
        headers = {"X-CSRF-Token": api.get("/api/me").json()["csrf_token"]}
        answer = api.post(f"/api/runs/{run.id}/actions/approve", json={}, headers=headers)
        assert answer.status_code == status
        assert answer.json()["error"] == str(error)
    with signed_in(dashboard, PO_TOKEN) as client:
        page = client.get(f"/runs/{run.id}").text
        answer = client.post(f"/runs/{run.id}/actions/approve", data={"csrf_token": csrf_of(page)})
        assert answer.status_code == status
        assert str(error) in answer.text


def test_unknown_runs(dashboard: Dashboard) -> None:
    with dashboard.client(token=VIEWER_TOKEN) as api:
        assert api.get("/api/runs/nope").status_code == 404
        assert api.get("/api/runs/nope/events").status_code == 404
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        assert client.get("/runs/nope").status_code == 404


# --- live updates, API, safety ------------------------------------------------------------------


def test_the_stream_sends_the_sections_and_ends_with_the_run(dashboard: Dashboard) -> None:
    run_id = ended_run(dashboard.store, dashboard.clock, RunState.CANCELLED)
    with (
        signed_in(dashboard, VIEWER_TOKEN) as client,
        client.stream("GET", f"/runs/{run_id}/stream") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block]
    assert events[0].startswith("event: sections\ndata: ")
    assert "Cancelled" in events[0]
    assert events[-1] == "event: end\ndata: {}"


def test_events_api_pages_by_id(dashboard: Dashboard) -> None:
    run_id = deploying_run(dashboard.store, dashboard.clock)
    with dashboard.client(token=VIEWER_TOKEN) as api:
        events = api.get(f"/api/runs/{run_id}/events").json()["events"]
        assert [e["kind"] for e in events][:2] == ["approval.approved", "message.posted"]
        assert events[0]["actor"] == "cms-product-owner"
        assert events[0]["source"] == "web"
        later = api.get(f"/api/runs/{run_id}/events", params={"after": events[1]["id"]}).json()
        assert later["events"] == events[2:]
        runs = api.get("/api/runs").json()["runs"]
        assert [r["run_id"] for r in runs] == [run_id]


def test_openapi_describes_the_api(dashboard: Dashboard) -> None:
    with dashboard.client() as client:
        spec = client.get("/api/openapi.json").json()
    assert {
        "/api/me",
        "/api/overrides",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/events",
        "/api/runs/{run_id}/actions/{action}",
    } == set(spec["paths"])
    assert "X-CSRF-Token" in spec["info"]["description"]


def test_secrets_never_reach_a_page(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OOB_JENKINS_TOKEN", "jenkins-secret-42")
    run_id = deploying_run(dashboard.store, dashboard.clock)
    with signed_in(dashboard, PO_TOKEN) as client:
        answers = [
            client.get(p)
            for p in (
                "/",
                f"/runs/{run_id}",
                "/api/runs",
                f"/api/runs/{run_id}",
                "/api/me",
                f"/api/runs/{run_id}/events",
            )
        ]
    for answer in answers:
        assert answer.status_code == 200
        for secret in (PO_TOKEN, ONCALL_TOKEN, VIEWER_TOKEN, "jenkins-secret-42"):
            assert secret not in answer.text
        assert "default-src 'self'" in answer.headers["content-security-policy"]


def test_session_cookie_is_http_only_and_same_site(dashboard: Dashboard) -> None:
    with dashboard.client(follow_redirects=False) as client:
        form = client.get("/login")
        answer = client.post(
            "/login", data={"csrf_token": csrf_of(form.text), "token": PO_TOKEN, "next": "//evil"}
        )
    assert answer.headers["location"] == "/"  # never sent off-site after signing in
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("oob_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie


def test_a_status_override_is_for_the_fix_commit(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(dashboard, ONCALL_TOKEN) as client:
        page = client.get(f"/runs/{run.id}").text
        assert "<option>va/tests/cypress</option>" in page
        path = f"/runs/{run.id}/actions/override-status"
        csrf = csrf_of(page)
        empty = client.post(path, data={"csrf_token": csrf, "context": "va/tests/cypress"})
        assert empty.status_code == 400
        answer = client.post(
            path,
            data={"csrf_token": csrf, "context": "va/tests/cypress", "reason": "flaky login test"},
        )
        assert answer.status_code == 303
    assert dashboard.commands.calls == [
        ("override", run.fix_sha, "cms-oncall", "va/tests/cypress: flaky login test", Source.WEB)
    ]


# --- sign-in first, one shape of a run, the forms' limits, signing out --------------------------


def test_anonymous_requests_are_refused_before_their_body_is_read(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    path = f"/api/runs/{run.id}/actions/approve"
    with dashboard.client(follow_redirects=False) as anonymous:
        assert anonymous.post(path).status_code == 401  # no body at all: not a 422
        assert anonymous.post(path, content=b"{not json").status_code == 401
        assert anonymous.post(path, json={"note": "x" * 5000}).status_code == 401
        assert anonymous.post(path, json={"note": "x"}).json() == {"error": "not signed in"}
        page = anonymous.post(f"/runs/{run.id}/actions/approve")
        assert page.status_code == 303
        assert page.headers["location"] == f"/login?next=/runs/{run.id}/actions/approve"
    with dashboard.client(token="nope") as stranger:
        assert stranger.post(path, content=b"{not json").status_code == 401
    with dashboard.client(token=PO_TOKEN) as api:  # signed in: then the CSRF token, the body
        assert api.post(path, content=b"{not json").status_code == 403
        headers = {"X-CSRF-Token": api.get("/api/me").json()["csrf_token"]}
        assert api.post(path, content=b"{not json", headers=headers).status_code == 422
    assert dashboard.commands.calls == []


def test_the_api_shows_a_run_as_the_cli_does(dashboard: Dashboard) -> None:
    from oob.readmodel import run_json

    run_id = deploying_run(dashboard.store, dashboard.clock)
    cli = run_json(dashboard.store.run(run_id))
    with dashboard.client(token=PO_TOKEN) as api:
        listed = api.get("/api/runs").json()["runs"][0]
        one = api.get(f"/api/runs/{run_id}").json()
        spec = api.get("/api/openapi.json").json()
    for shown in (listed, one):
        assert {k: shown[k] for k in cli} == cli
        assert "id" not in shown
    # The description says so: the models name every field the answers carry.
    models = spec["components"]["schemas"]
    assert set(models["RunOut"]["properties"]) == set(listed)
    assert set(models["RunDetailOut"]["properties"]) == set(one)
    ok = spec["paths"]["/api/runs"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/RunsOut")
    refused = spec["paths"]["/api/runs/{run_id}/actions/{action}"]["post"]["responses"]
    assert "401" in refused


def test_a_text_over_the_limit_is_refused_on_the_page_that_says_so(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(dashboard, PO_TOKEN) as client:
        csrf = csrf_of(client.get(f"/runs/{run.id}").text)
        answer = client.post(
            f"/runs/{run.id}/actions/deny", data={"csrf_token": csrf, "reason": "x" * 2001}
        )
        assert answer.status_code == 400
        assert "The reason is too long: at most 2,000 characters; this one has 2,001." in (
            answer.text
        )
        # The form comes back open, its field marked and tied to the message.
        assert '<details class="action" data-action="deny" open>' in answer.text
        assert 'aria-invalid="true" aria-describedby="error"' in answer.text
        assert 'id="error" role="alert"' in answer.text
        note = client.post(
            f"/runs/{run.id}/actions/approve", data={"csrf_token": csrf, "note": "é" * 2001}
        )
        assert note.status_code == 400
        assert "The note is too long" in note.text
    assert dashboard.commands.calls == []


def test_a_form_that_cannot_be_read_is_refused_with_a_message(dashboard: Dashboard) -> None:
    run = dashboard.store.create_run(request())
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with signed_in(dashboard, PO_TOKEN) as client:
        csrf = csrf_of(client.get(f"/runs/{run.id}").text).encode()
        path = f"/runs/{run.id}/actions/deny"
        for body in (b"csrf_token=" + csrf + b"&reason=\xff\xfe", b"reason=%FF&csrf_token=" + csrf):
            answer = client.post(path, content=body, headers=form)
            assert answer.status_code == 400
            assert "its text must be UTF-8" in answer.text
        huge = client.post(path, content=b"reason=" + b"x" * 200_000, headers=form)
        assert huge.status_code == 413
        assert "This form is too large" in huge.text
    with dashboard.client() as browser:
        login = browser.post("/login", content=b"token=\xff", headers=form)
        assert login.status_code == 400
        assert "its text must be UTF-8" in login.text
    assert dashboard.commands.calls == []


def test_signing_out_ends_the_session_on_the_server(dashboard: Dashboard) -> None:
    with signed_in(dashboard, PO_TOKEN) as client:
        cookie = client.cookies["oob_session"]
        csrf = csrf_of(client.get("/").text)
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    # Someone who kept a copy of the cookie gets nothing with it.
    with dashboard.client(follow_redirects=False) as copy:
        copy.cookies.set("oob_session", cookie)
        page = copy.get("/")
        assert page.status_code == 401
        assert "you signed out of this session" in page.text
        assert copy.get("/api/me").status_code == 401
    with signed_in(dashboard, PO_TOKEN) as again:  # signing in again works
        assert again.get("/").status_code == 200


@pytest.mark.parametrize("action", ["deny", "cancel", "reject-fix", "override-status"])
def test_a_reason_is_required_on_every_way_in(dashboard: Dashboard, action: str) -> None:
    run = dashboard.store.create_run(request())
    with signed_in(dashboard, PO_TOKEN) as client:
        csrf = csrf_of(client.get(f"/runs/{run.id}").text)
        page = client.post(
            f"/runs/{run.id}/actions/{action}",
            data={"csrf_token": csrf, "reason": "  ", "context": "va/tests/cypress"},
        )
        assert page.status_code == 400
        assert f"{action} needs a reason" in page.text
    with dashboard.client(token=PO_TOKEN) as api:
        headers = {"X-CSRF-Token": api.get("/api/me").json()["csrf_token"]}
        for body in ({}, {"reason": "\n"}):
            answer = api.post(f"/api/runs/{run.id}/actions/{action}", json=body, headers=headers)
            assert answer.status_code == 400
            assert answer.json()["error"] == f"{action} needs a reason"
    assert dashboard.commands.calls == []
