"""`oob sandbox` for someone new to it: the help lists the scenarios, the config it writes is
never written over by surprise, and `oob serve` on that config lets the simulated people in."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from oob.sandbox.configfile import PEOPLE, person_token
from oob.sandbox.scenario import load_scenario, scenario_names
from tests.conftest import RunCli


def test_help_lists_every_scenario_with_its_summary(run_cli: RunCli) -> None:
    result = run_cli("sandbox", "--help")
    assert result.code == 0
    lines = result.out.splitlines()
    for name in scenario_names():
        [line] = [line for line in lines if line.strip().startswith(f"{name} ")]
        first_words = " ".join(load_scenario(name).summary.split()[:3])
        assert first_words in line


def test_write_config_refuses_to_overwrite_without_force(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("# my own config\n", encoding="utf-8")
    result = run_cli("sandbox", "--port", "0", "--write-config", str(path))
    assert result.code == 2
    assert f"{path} exists" in result.err
    assert "--force" in result.err
    assert path.read_text(encoding="utf-8") == "# my own config\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_written_config_serves_the_dashboard_to_the_simulated_people(tmp_path: Path) -> None:
    config = tmp_path / "sandbox.toml"
    env = {**os.environ, "OOB_HOME": str(tmp_path / "home")}
    env.pop("OOB_DATABASE_URL", None)
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "oob", "sandbox", "--port", "0", "--write-config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    serve: subprocess.Popen[str] | None = None
    try:
        assert sandbox.stdout is not None
        printed: list[str] = []
        while not printed or not printed[-1].startswith("Ctrl-C stops"):
            printed.append(sandbox.stdout.readline())
            assert printed[-1], printed  # the sandbox ended before saying it serves
        [sign_in] = [line for line in printed if "dashboard:" in line]
        token = person_token("sandbox-token", "operator")
        assert f"serve, then sign in as operator with token {token}" in sign_in
        port = _free_port()
        command = [sys.executable, "-m", "oob", "--config", str(config), "serve", "--no-worker"]
        serve = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        transport = httpx.HTTPTransport(retries=50)
        with httpx.Client(transport=transport, timeout=10) as client:
            for person in PEOPLE:
                headers = {"Authorization": f"Bearer {person_token('sandbox-token', person)}"}
                me = client.get(f"http://127.0.0.1:{port}/api/me", headers=headers)
                assert me.status_code == 200, me.text
                assert me.json()["name"] == person
            wrong = client.get(
                f"http://127.0.0.1:{port}/api/me", headers={"Authorization": "Bearer sandbox-token"}
            )
            assert wrong.status_code == 401
    finally:
        for process in (serve, sandbox):
            if process is not None:
                process.send_signal(signal.SIGINT)
                process.communicate(timeout=60)
