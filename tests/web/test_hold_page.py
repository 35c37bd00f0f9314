"""A merge hold that could not be lifted is loud on the dashboard's run page (issue 18): it says
merging is still held and gives the command that lifts it, until the hold is lifted."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from oob.events import KIND_HOLD_LIFTED, KIND_HOLD_NOT_LIFTED, KIND_HOLD_STARTED
from oob.store import RunState, Source, Store
from tests.web.conftest import VIEWER_TOKEN, Dashboard, request
from tests.web.test_app import signed_in

NOT_LIFTED = "the merge hold could not be lifted: GitHub answered 502 Bad Gateway"


def worker_event(store: Store, run_id: str, kind: str, summary: str, **details: object) -> None:
    store.append_event(
        run_id, actor="oob", source=Source.WORKER, kind=kind, summary=summary, details=details
    )


def run_whose_hold_was_not_lifted(dashboard: Dashboard) -> str:
    """A resolved run whose closing could not lift its `merge_hold = "status"` hold, as
    `oob.procedure.closing.lift_hold` records it."""
    store = dashboard.store
    run = store.create_run(request())
    for state in (RunState.PREFLIGHT, RunState.NOTIFYING):
        store.transition(run.id, state)
    worker_event(
        store,
        run.id,
        KIND_HOLD_STARTED,
        "merges held (status): 1 open pull request(s) carry a pending oob/merge-hold; "
        "engineers asked to hold merges",
        baseline="a" * 40,
        mode="status",
        held=[{"number": 7, "sha": "c" * 40, "url": "http://pull/7", "author": "engineer"}],
    )
    store.transition(run.id, RunState.CLOSING)
    worker_event(
        store,
        run.id,
        KIND_HOLD_NOT_LIFTED,
        NOT_LIFTED,
        mode="status",
        error="GitHub answered 502 Bad Gateway",
        command=f"oob hold release {run.id}",
    )
    dashboard.clock.at += timedelta(minutes=42)
    store.transition(run.id, RunState.RESOLVED)
    return run.id


def text_of(page: str) -> str:
    """The page's text as a reader sees it: tags dropped, whitespace folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_run_page_says_merging_is_still_held_and_how_to_lift_it(dashboard: Dashboard) -> None:
    run_id = run_whose_hold_was_not_lifted(dashboard)
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        answer = client.get(f"/runs/{run_id}")
    assert answer.status_code == 200
    page = answer.text
    assert f"<code>oob hold release {run_id}</code>" in page
    said = text_of(page)
    assert "Merging is still held" in said
    assert NOT_LIFTED in said
    assert f"Lift the hold with oob hold release {run_id}" in said
    # The hold is no message left to send.
    assert f"Send it with oob hold release {run_id}" not in said


def test_run_page_says_nothing_of_the_hold_once_it_is_lifted(dashboard: Dashboard) -> None:
    run_id = run_whose_hold_was_not_lifted(dashboard)
    dashboard.store.append_event(
        run_id,
        actor="cms-oncall",
        source=Source.CLI,
        kind=KIND_HOLD_LIFTED,
        summary="merge hold lifted: pull request #7 (ccccccc): oob/merge-hold set to success",
        details={"mode": "status", "changed": ["pull request #7 (ccccccc): set to success"]},
    )
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        page = client.get(f"/runs/{run_id}").text
    assert "Merging is still held" not in text_of(page)
    assert f"<code>oob hold release {run_id}</code>" not in page
