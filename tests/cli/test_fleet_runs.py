"""Runs of two pipelines at once against the sandbox's fleet (`oob sandbox --pipelines`), each
talking to its own world: its repository, its Jenkins, its Slack; one `oob worker` for both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from oob.commands import Control
from oob.config import Config, load
from oob.sandbox.configfile import render_fleet_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Store
from oob.web.slack import interactions_for, slack_app
from tests.conftest import RunCli
from tests.web.conftest import serving

TIME_SCALE = 300
TEXTS = ("--symptoms", "login broken", "--cause", "bad update", "--fix-summary", "revert")
PIPELINES = ["p001", "p002"]


def test_each_run_talks_to_its_own_pipeline_s_world(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    options = Options(time_scale=TIME_SCALE)
    with SandboxServer(options, scenarios=["happy", "happy"]) as fleet:
        config = tmp_path / "oob.toml"
        config.write_text(render_fleet_config(fleet.url, options.token, PIPELINES))
        store = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}")
        command = [sys.executable, "-m", "oob", "--config", str(config), "worker"]
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [*command, "--time-scale", str(TIME_SCALE), "--poll-seconds", "0.05"],
                env={**os.environ},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _until(lambda: any(w.heartbeat_at > w.started_at for w in store.workers()))
            runs = {}
            for name in PIPELINES:
                fix = str(fleet.state(name)["fix_sha"])
                asked = ("deploy", "--pipeline", name, "--fix", fix, *TEXTS, "--as", "operator")
                started = run_cli("--config", str(config), *asked, "--detach")
                assert started.code == 0, started.err
                runs[name] = started.out.strip()
            # both runs at once, each asking its own pipeline's product owner
            for run_id in runs.values():
                _until(lambda r=run_id: "approval.requested" in [e.kind for e in store.events(r)])
            assert {r.pipeline for r in store.runs(active=True)} == set(PIPELINES)
            for name, run_id in runs.items():
                other = runs["p002" if name == "p001" else "p001"]
                posted = [str(e["summary"]) for e in fleet.ledger(name) if e["service"] == "slack"]
                assert any(run_id in text for text in posted), (name, posted)
                assert not any(other in text for text in posted), (name, posted)
                assert fleet.world_of(name).requests["github"] > 0  # its fix, its statuses
            _click_in_its_own_slack(fleet, load(config), store, runs["p002"])
            for run_id in runs.values():
                cancel = ("cancel", run_id, "--as", "operator", "--reason", "drill")
                assert run_cli("--config", str(config), *cancel).code == 0
            _until(lambda: not store.runs(active=True))
        finally:
            worker.terminate()
            worker.wait(30)
            store.close()


def _click_in_its_own_slack(
    fleet: SandboxServer, config: Config, store: Store, run_id: str
) -> None:
    """A click on p002's run in p002's Slack is answered there (one Slack app for the fleet)."""
    interactions = interactions_for(config, store, Control(store, store.url))
    assert interactions is not None
    with serving(slack_app(interactions)) as base:
        app = {"interactivity_url": f"{base}/slack/interactions"}
        httpx.post(f"{fleet.url}/p002/_sandbox/slack/app", json=app).raise_for_status()
        click = {"user": "helpdesk", "run": run_id, "action": "oob:approve"}
        answer = httpx.post(f"{fleet.url}/p002/_sandbox/slack/click", json=click, timeout=30)
        assert answer.json()["status"] == 200, answer.text

        def told() -> list[str]:
            asked = {"user": "helpdesk"}
            seen = httpx.get(f"{fleet.url}/p002/_sandbox/slack/ephemeral", params=asked)
            return [str(e["text"]) for e in seen.json()["ephemeral"]]

        _until(told)
    assert told()[0].startswith("Not done: refused")  # helpdesk may not approve


def _until(done: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)
