"""The runs page: each pipeline's runs counted by where they are, kept up to date live."""

from __future__ import annotations

import json
import re

from oob.store import RunState
from tests.web.conftest import VIEWER_TOKEN, Dashboard, request
from tests.web.test_app import deploying_run, ended_run, signed_in


def counted(html: str, pipeline: str) -> dict[str, int]:
    """The counts the runs page shows for `pipeline`, by group."""
    section = html[html.index(f'data-pipeline="{pipeline}"') :]
    section = section[: section.index("</section>")]
    found = re.findall(r'data-group="(\w+)"><span class="count">(\d+)</span>', section)
    return {group: int(count) for group, count in found}


def test_the_runs_page_counts_each_pipelines_runs_by_where_they_are(
    dashboard: Dashboard,
) -> None:
    store, clock = dashboard.store, dashboard.clock
    for outcome in (RunState.RESOLVED, RunState.RESOLVED, RunState.DENIED):
        ended_run(store, clock, outcome)
    active = deploying_run(store, clock)
    other = store.create_run(request(pipeline="va-gov"))
    store.transition(other.id, RunState.PREFLIGHT)
    with signed_in(dashboard, VIEWER_TOKEN) as client:
        page = client.get("/").text
    now = {
        "awaiting_approval": 0,
        "preflight": 0,
        "queued": 0,
        "releasing": 0,
        "verifying": 0,
        "closing": 0,
    }
    assert counted(page, "va-cms") == {**now, "releasing": 1, "resolved": 2, "denied": 1}
    assert counted(page, "va-gov") == {**now, "preflight": 1}
    # Each active run is listed under its pipeline, before the history.
    cms = page.index('data-pipeline="va-cms"')
    assert cms < page.index(f'href="/runs/{active}"') < page.index('data-pipeline="va-gov"')
    assert page.index('data-pipeline="va-gov"') < page.index(f'href="/runs/{other.id}"')
    assert page.index(f'href="/runs/{other.id}"') < page.index('id="history-h"')


def test_the_runs_page_follows_the_fleet_live(dashboard: Dashboard) -> None:
    store = dashboard.store
    with (
        signed_in(dashboard, VIEWER_TOKEN) as client,
        client.stream("GET", "/stream") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        updates = (json.loads(line[6:]) for line in stream.iter_lines() if line.startswith("data:"))
        first = next(updates)
        assert set(first) == {"fleet", "history"}
        assert "No deploy has run yet." in first["fleet"]
        run = store.create_run(request())  # a run starts: the next update counts it
        second = next(updates)
        assert set(second) == {"fleet"}  # only what changed
        assert counted(second["fleet"], "va-cms")["awaiting_approval"] == 1
        assert f'href="/runs/{run.id}"' in second["fleet"]
        store.transition(run.id, RunState.CLOSING)
        store.transition(run.id, RunState.CANCELLED)
        ended = next(u for u in updates if "history" in u)
        assert f'href="/runs/{run.id}"' in ended["history"]
