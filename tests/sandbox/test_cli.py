"""`oob sandbox` and the config it writes."""

from __future__ import annotations

import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import httpx
import pytest

from oob.config import load
from oob.sandbox.configfile import render_config
from tests.conftest import RunCli

from .conftest import Clients


def test_rendered_config_validates_and_points_at_the_sandbox(
    tmp_path: Path, clients: Clients
) -> None:
    path = tmp_path / "oob.toml"
    path.write_text(render_config(clients.sandbox.url, "sandbox-token"), encoding="utf-8")
    config = load(path)
    base = clients.sandbox.url
    assert config.services.jenkins.url == f"{base}/jenkins/"
    assert config.services.github.api_url == f"{base}/github"
    assert config.services.slack is not None
    assert config.services.slack.api_url == f"{base}/slack/api/"
    assert config.verify.shield_url == f"{base}/cms/user/login"
    assert config.roles.deployers == ["operator"]
    assert config.roles.approvers == ["po"]
    assert config.roles.fix_confirmers == ["helpdesk"]
    assert config.roles.allow_asserted_identity is True
    assert config.sandbox is not None
    assert config.secret(config.services.github) == "sandbox-token"
    assert config.postmortem.repository == clients.sandbox.state()["postmortem_repo"]["repo"]
    assert config.postmortem.base_branch == "master"
    assert config.pipeline.trigger.job == "deploys/cms-auto-deploy"
    # Every Jenkins stage of the config is a job the sandbox knows.
    for stage in config.pipeline.stages:
        if stage.job:
            assert clients.jenkins.get_job_name(stage.job) == stage.job.rsplit("/", 1)[-1]
    assert "# SANDBOX ONLY" in path.read_text()


def test_unknown_scenario_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli("sandbox", "--scenario", "nope", "--port", "0")
    assert result.code == 2
    assert "unknown scenario" in result.err


def test_oob_sandbox_serves_and_writes_its_config(tmp_path: Path) -> None:
    config = tmp_path / "oob.toml"
    command = [sys.executable, "-m", "oob", "sandbox", "--port", "0", "--time-scale", "0"]
    command += ["--scenario", "wrong-commit", "--write-config", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("oob sandbox on http://127.0.0.1:")
        url = first.split()[3]
        state = httpx.get(f"{url}/_sandbox/state", timeout=5).json()
        assert state["scenario"] == "wrong-commit"
        assert state["manual_clock"] is True
        assert load(config).services.jenkins.url == f"{url}/jenkins/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_oob_sandbox_stops_even_started_with_ctrl_c_ignored(sent: signal.Signals) -> None:
    # A script's background job inherits SIGINT ignored; Python then leaves it so, and the
    # sandbox used to go on serving through Ctrl-C.
    command = [sys.executable, "-m", "oob", "sandbox", "--port", "0", "--time-scale", "0"]
    ignoring = partial(signal.signal, signal.SIGINT, signal.SIG_IGN)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=ignoring)  # noqa: PLW1509 - the test is that inheritance
    try:
        assert process.stdout is not None
        while not process.stdout.readline().startswith("Ctrl-C stops"):
            assert process.poll() is None, "the sandbox ended before it served"
        process.send_signal(sent)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def test_oob_sandbox_plays_an_older_github_and_writes_a_gha_config(tmp_path: Path) -> None:
    config = tmp_path / "oob.toml"
    command = [sys.executable, "-m", "oob", "sandbox", "--port", "0", "--time-scale", "0"]
    command += ["--preset", "gha", "--actions-dispatch", "no-content"]
    command += ["--write-config", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[3]
        dispatch = httpx.post(
            f"{url}/github/repos/department-of-veterans-affairs/va.gov-cms/actions/workflows/"
            "release.yml/dispatches",
            headers={"Authorization": "Bearer sandbox-token"},
            json={"ref": "main", "inputs": {"oob_run": "r-1"}, "return_run_details": True},
            timeout=5,
        )
        assert dispatch.status_code == 204
        assert load(config).pipeline.trigger.job == "release.yml#release"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
