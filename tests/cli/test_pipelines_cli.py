"""`oob deploy --pipeline`, `oob runs --pipeline/--active` and `oob status --pipeline` with a
config of two pipelines, against the sandbox and a worker process, as people type them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Store
from tests.conftest import CliResult, RunCli
from tests.many import many_pipelines

TIME_SCALE = 300
TEXTS = ("--symptoms", "login broken", "--cause", "bad update", "--fix-summary", "revert")


@dataclass
class Fleet:
    config: Path
    store: Store
    fix: str


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    """A sandbox, a config of two pipelines on it (`cms` and `forms`), and a worker."""
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        config = tmp_path / "oob.toml"
        text = render_config(sandbox.url, sandbox.options.token)
        config.write_text(many_pipelines(text, {"forms": ""}, name="cms"), encoding="utf-8")
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
            deadline = time.monotonic() + 60
            while not any(w.heartbeat_at > w.started_at for w in store.workers()):
                assert time.monotonic() < deadline, "the worker did not start"
                time.sleep(0.05)
            yield Fleet(config, store, str(sandbox.state()["fix_sha"]))
        finally:
            worker.terminate()
            worker.wait(30)
            store.close()


def test_deploy_names_the_pipelines_when_it_is_not_told_which(
    run_cli: RunCli, fleet: Fleet
) -> None:
    for chosen in ((), ("--pipeline", "nope")):
        result = _deploy(run_cli, fleet, *chosen)
        assert result.code == 2
        assert "Traceback" not in result.err
        (line,) = result.err.strip().splitlines()
        assert line.endswith("pipelines: cms, forms") or "2 pipelines (cms, forms)" in line, line
    assert fleet.store.runs() == []


def test_each_pipeline_runs_its_own_deploy_and_lists_its_own_runs(
    run_cli: RunCli, fleet: Fleet
) -> None:
    forms = _deploy(run_cli, fleet, "--pipeline", "forms", "--detach")
    assert forms.code == 0, forms.err
    cms = _deploy(run_cli, fleet, "--pipeline", "cms", "--detach")
    assert cms.code == 0, cms.err
    forms_id, cms_id = forms.out.strip(), cms.out.strip()

    busy = _deploy(run_cli, fleet, "--pipeline", "forms", "--detach")
    assert busy.code == 1  # as with one pipeline: refused by the state of things, not a typo
    assert f"run {forms_id} of forms is active" in busy.err
    assert _runs(run_cli, fleet, "--pipeline", "forms") == [forms_id]
    assert _runs(run_cli, fleet, "--active") == [cms_id, forms_id]
    status = run_cli("--config", str(fleet.config), "status", "--pipeline", "forms", "--json")
    assert json.loads(status.out)["run_id"] == forms_id
    several = run_cli("--config", str(fleet.config), "status")
    assert several.code == 2
    assert "are active: name one" in several.err

    for run_id in (forms_id, cms_id):
        cancel = ("cancel", run_id, "--as", "operator", "--reason", "drill")
        assert run_cli("--config", str(fleet.config), *cancel).code == 0
    deadline = time.monotonic() + 60
    while _runs(run_cli, fleet, "--active"):
        assert time.monotonic() < deadline, "the runs did not end"
        time.sleep(0.1)
    assert sorted(_runs(run_cli, fleet)) == sorted([forms_id, cms_id])


def _deploy(run_cli: RunCli, fleet: Fleet, *args: str) -> CliResult:
    chosen = ("--fix", fleet.fix, *TEXTS, "--as", "operator", *args)
    return run_cli("--config", str(fleet.config), "deploy", *chosen)


def _runs(run_cli: RunCli, fleet: Fleet, *args: str) -> list[str]:
    result = run_cli("--config", str(fleet.config), "runs", "--json", *args)
    assert result.code == 0, result.err
    return [r["run_id"] for r in json.loads(result.out)]
