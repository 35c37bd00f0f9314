"""`oob serve`: refuses without a [web] table or the services' tokens; serves the dashboard
and executes runs until interrupted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Store
from tests.conftest import RunCli
from tests.web.conftest import TOKENS_WEB, VIEWER_TOKEN


def test_serve_needs_a_web_table(run_cli: RunCli, preset_file: Path) -> None:
    result = run_cli("--config", str(preset_file), "serve")
    assert result.code == 2
    assert "needs a [web] table" in result.err


def test_serve_with_a_worker_needs_the_services_tokens(
    run_cli: RunCli, preset_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "oob.toml"
    config.write_text(preset_text + TOKENS_WEB, encoding="utf-8")
    result = run_cli("--config", str(config), "serve")
    assert result.code == 2
    assert "_TOKEN is not set" in result.err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_the_dashboard_and_a_worker_until_interrupted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "OOB_HOME": str(home), "OOB_TEST_WEB_VIEWER": VIEWER_TOKEN}
    for name in ("OOB_DATABASE_URL", "OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        env.pop(name, None)
    port = _free_port()
    with SandboxServer(Options()) as sandbox:
        config = tmp_path / "oob.toml"
        web = TOKENS_WEB.replace("cms-viewer", "viewer")
        config.write_text(render_config(sandbox.url, sandbox.options.token) + web, "utf-8")
        command = [sys.executable, "-m", "oob", "--config", str(config), "serve"]
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            assert f"oob dashboard on http://127.0.0.1:{port}/" in process.stdout.readline()
            assert "session_key_env is not set" in process.stdout.readline()
            assert "executing runs" in process.stdout.readline()
            # uvicorn binds as the worker starts: retry the connection until it listens.
            transport = httpx.HTTPTransport(retries=50)
            with httpx.Client(transport=transport, timeout=10) as client:
                headers = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
                me = client.get(f"http://127.0.0.1:{port}/api/me", headers=headers)
            assert me.json()["name"] == "viewer"
            store = Store(f"sqlite:///{home / 'oob.sqlite'}")
            try:
                assert [w.pid for w in store.workers()] == [process.pid]
            finally:
                store.close()
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
