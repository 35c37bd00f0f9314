"""`GET /metrics`: Prometheus's text format, read from the store at each scrape, for dashboard
users only unless `[web] metrics_public`; the CLI starts without the Prometheus client."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oob.config import Config, parse
from oob.store import RunState
from tests.web.conftest import TOKENS_WEB, VIEWER_TOKEN, Dashboard, MakeDashboard, request
from tests.web.test_app import build, deploying_run, ended_run, signed_in, worker_event

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scraped(text: str) -> Samples:
    """Every sample of a scrape, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_are_for_dashboard_users(dashboard: Dashboard) -> None:
    with dashboard.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 401
    with dashboard.client(token="a guess") as guessing:
        assert guessing.get("/metrics").status_code == 401
    with dashboard.client(token=VIEWER_TOKEN) as api:
        answer = api.get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=")
    with signed_in(dashboard, VIEWER_TOKEN) as browser:
        assert "# TYPE oob_runs gauge" in browser.get("/metrics").text


def test_metrics_can_be_public(
    make_dashboard: MakeDashboard, preset_text: str, tmp_path: Path, web_config: Config
) -> None:
    web = TOKENS_WEB.replace("[web]\n", "[web]\nmetrics_public = true\n", 1)
    public = make_dashboard(parse(preset_text + web, tmp_path / "oob.toml"))
    with public.client() as anonymous:
        assert anonymous.get("/metrics").status_code == 200
        assert anonymous.get("/api/me").status_code == 401  # only the metrics


def test_metrics_count_the_fleet_from_the_store(dashboard: Dashboard) -> None:
    store, clock = dashboard.store, dashboard.clock
    for outcome in (RunState.RESOLVED, RunState.RESOLVED, RunState.DENIED):
        ended_run(store, clock, outcome)
    # A run that went through approval in 3 minutes, then could not tell helpdesk nor lift
    # the merge hold.
    active = deploying_run(store, clock)
    worker_event(store, active, "step.started", "approval started", step="approval")
    clock.at += timedelta(minutes=3)
    worker_event(store, active, "step.finished", "approval done", step="approval")
    worker_event(
        store,
        active,
        "message.undelivered",
        "could not tell helpdesk",
        message="deploy_coming",
        channel="#cms-helpdesk",
        key="k1",
        command=f"oob notify {active} deploy_coming",
    )
    worker_event(
        store,
        active,
        "hold.not_lifted",
        "merging is still held",
        mode="status",
        error="GitHub answered 502",
        command="oob hold release",
    )
    queued = store.create_run(request(pipeline="va-gov"))  # recorded, not taken by a worker
    with dashboard.client(token=VIEWER_TOKEN) as api:
        samples = scraped(api.get("/metrics").text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("oob_runs", pipeline="va-cms", state="deploying") == 1
    assert value("oob_runs", pipeline="va-cms", state="awaiting_approval") == 0
    assert value("oob_runs", pipeline="va-gov", state="awaiting_approval") == 1
    assert value("oob_runs_ended_total", pipeline="va-cms", outcome="resolved") == 2
    assert value("oob_runs_ended_total", pipeline="va-cms", outcome="denied") == 1
    assert value("oob_phase_seconds_count", phase="approval") == 1
    assert value("oob_phase_seconds_sum", phase="approval") == 180
    assert value("oob_messages_undelivered", pipeline="va-cms") == 1
    assert value("oob_messages_undelivered", pipeline="va-gov") == 0
    assert value("oob_merge_holds_not_lifted", pipeline="va-cms") == 1
    assert value("oob_queue_depth") == 1
    # Read at each scrape, from the store: what any process wrote since is in the next one.
    store.transition(queued.id, RunState.CLOSING)
    store.transition(queued.id, RunState.CANCELLED)
    with dashboard.client(token=VIEWER_TOKEN) as api:
        samples = scraped(api.get("/metrics").text)
    assert value("oob_queue_depth") == 0
    assert value("oob_runs", pipeline="va-gov", state="awaiting_approval") == 0
    assert value("oob_runs_ended_total", pipeline="va-gov", outcome="cancelled") == 1


@pytest.mark.parametrize("command", [["--help"], ["status"]])
def test_the_cli_starts_without_the_prometheus_client(
    command: list[str], preset_file: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "OOB_HOME": str(tmp_path / "home")}
    env.pop("OOB_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oob", "--config", str(preset_file), *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "oob" in done.stderr  # -X importtime lists every module imported, on stderr
    assert "prometheus_client" not in done.stderr


def test_metrics_tell_how_fast_runs_reacted_and_who_waits_for_a_release_slot(
    dashboard: Dashboard,
) -> None:
    store, clock = dashboard.store, dashboard.clock
    run = deploying_run(store, clock)  # its release job ended at +15 min, recorded at once
    started = clock.now()
    clock.at += timedelta(minutes=9)  # the full pipeline ended at +7 min: recorded 2 min late
    job = build("cms/cms-full-pipeline", 7, started, minutes=7)
    worker_event(store, run, "build.finished", "cms/cms-full-pipeline #7 ended", **job)
    waiting = store.create_run(request(pipeline="va-gov"))
    store.transition(waiting.id, RunState.PREFLIGHT)
    store.transition(waiting.id, RunState.QUEUED)
    worker_event(
        store, waiting.id, "capacity.queued", "queued", server="ci.example", limit=2, ahead=3
    )
    with dashboard.client(token=VIEWER_TOKEN) as api:
        samples = scraped(api.get("/metrics").text)
    reaction = {k[0]: v for k, v in samples.items() if k[1] == (("pipeline", "va-cms"),)}
    assert reaction["oob_build_end_reaction_seconds_sum"] >= 120
    assert samples[("oob_release_queue", (("server", "ci.example"),))] == 1
    assert samples[("oob_runs", (("pipeline", "va-gov"), ("state", "queued")))] == 1
