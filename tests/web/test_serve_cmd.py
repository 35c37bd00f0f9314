"""`oob serve`: refuses without a [web] table; serves the dashboard until interrupted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunCli
from tests.web.conftest import TOKENS_WEB, VIEWER_TOKEN


def test_serve_needs_a_web_table(run_cli: RunCli, preset_file: Path) -> None:
    result = run_cli("--config", str(preset_file), "serve")
    assert result.code == 2
    assert "needs a [web] table" in result.err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_the_dashboard_until_interrupted(
    preset_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "oob.toml"
    config.write_text(preset_text + TOKENS_WEB, encoding="utf-8")
    env = {**os.environ, "OOB_HOME": str(tmp_path / "home"), "OOB_TEST_WEB_VIEWER": VIEWER_TOKEN}
    env.pop("OOB_DATABASE_URL", None)
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "oob", "--config", str(config), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert f"oob dashboard on http://127.0.0.1:{port}/" in process.stdout.readline()
        # The line comes just before uvicorn binds: retry the connection until it listens.
        transport = httpx.HTTPTransport(retries=50)
        with httpx.Client(transport=transport, timeout=10) as client:
            headers = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
            me = client.get(f"http://127.0.0.1:{port}/api/me", headers=headers)
        assert me.json()["name"] == "cms-viewer"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
