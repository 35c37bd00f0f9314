"""The run commands in server mode: `OOB_SERVER` and `OOB_TOKEN` set, against a real `oob serve`
(with its worker) over HTTP, its services the sandbox, its users the sandbox's people (the
operator deploys, the product owner approves, the helpdesk confirms the fix)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from oob.sandbox.configfile import person_token, render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Store
from tests.conftest import CliResult, RunCli

TIME_SCALE = 300


class RunCliAs(Protocol):
    def __call__(self, person: str, *args: str) -> CliResult: ...


@dataclass
class Server:
    """A running `oob serve`: its URL, its people's tokens, its files."""

    url: str
    tokens: dict[str, str]
    config: Path
    home: Path
    log: Path
    fix: str

    def store(self) -> Store:
        return Store(f"sqlite:///{self.home / 'oob.sqlite'}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(server: Server, process: subprocess.Popen[bytes]) -> None:
    """Until the dashboard answers and its worker is up (it creates DBOS's tables)."""
    headers = {"Authorization": f"Bearer {server.tokens['po']}"}
    deadline = time.monotonic() + 90
    store = server.store()
    try:
        while True:
            assert process.poll() is None, server.log.read_text()
            assert time.monotonic() < deadline, "oob serve did not start"
            try:
                answered = httpx.get(f"{server.url}/api/me", headers=headers).status_code == 200
            except httpx.TransportError:
                answered = False
            if answered and any(w.heartbeat_at > w.started_at for w in store.workers()):
                return
            time.sleep(0.1)
    finally:
        store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("served")
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        token = sandbox.options.token
        config = home / "oob.toml"
        config.write_text(render_config(sandbox.url, token, web=True), encoding="utf-8")
        port = _free_port()
        served = Server(
            url=f"http://127.0.0.1:{port}",
            tokens={p: person_token(token, p) for p in ("operator", "po", "helpdesk")},
            config=config,
            home=home,
            log=home / "serve.log",
            fix=str(sandbox.state()["fix_sha"]),
        )
        env = {k: v for k, v in os.environ.items() if k != "OOB_DATABASE_URL"}
        command = [sys.executable, "-m", "oob", "--config", str(config), "serve"]
        options = ["--port", str(port), "--time-scale", str(TIME_SCALE)]
        with served.log.open("wb") as log:
            process = subprocess.Popen(
                [*command, *options],
                env={**env, "OOB_HOME": str(home)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_serving(served, process)
            yield served
        finally:
            process.terminate()
            process.wait(30)


@pytest.fixture
def as_person(
    server: Server, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> Iterator[RunCliAs]:
    """`oob ARGS` in server mode as one of the sandbox's people; every output is kept."""
    monkeypatch.setenv("OOB_HOME", str(server.home))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    monkeypatch.delenv("OOB_CONFIG", raising=False)
    seen: list[CliResult] = []

    def run(person: str, *args: str) -> CliResult:
        monkeypatch.setenv("OOB_SERVER", server.url)
        monkeypatch.setenv("OOB_TOKEN", server.tokens.get(person, person))
        result = run_cli(*args)
        seen.append(result)
        return result

    yield run
    _no_token_in(server, [text for r in seen for text in (r.out, r.err)])


def _no_token_in(server: Server, texts: list[str]) -> None:
    texts = [*texts, server.log.read_text(encoding="utf-8", errors="replace")]
    for token in server.tokens.values():
        assert not any(token in text for text in texts)


def _locally(server: Server, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli, *args: str) -> str:
    """`oob ARGS` on the server's own store, as someone on that machine would run it."""
    monkeypatch.delenv("OOB_SERVER")
    monkeypatch.delenv("OOB_TOKEN")
    result = run_cli("--config", str(server.config), *args)
    assert result.code in (0, 1), result.err
    return result.out


def _deploy(as_person: RunCliAs, server: Server, person: str = "operator") -> CliResult:
    return as_person(
        person,
        "deploy",
        "--fix",
        server.fix,
        "--symptoms",
        "editors cannot log in",
        "--cause",
        "bad update",
        "--fix-summary",
        "revert",
        "--detach",
    )


def test_a_run_through_the_dashboard(
    server: Server,
    as_person: RunCliAs,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    started = _deploy(as_person, server)
    assert started.code == 0, started.err
    run_id = started.out.strip()
    store = server.store()
    try:
        run = store.run(run_id)
        assert run.requester == "operator"
        requested = store.events(run_id)[0]
        assert (requested.actor, requested.source.value) == ("operator", "web")

        refused = _deploy(as_person, server, "po")  # not a deployer
        assert refused.code == 2
        assert "deploy" in refused.err

        own = as_person("operator", "approve", run_id)
        assert own.code == 2
        assert "refused" in own.err
        assert "may not approve" in own.err

        ok = as_person("po", "approve", run_id, "--note", "go")
        assert ok.code == 0, ok.err
        assert ok.out.strip() == f"approved run {run_id} as po"
        approved = next(e for e in store.events(run_id) if e.kind == "approval.approved")
        assert (approved.actor, approved.source.value) == ("po", "web")

        deadline = time.monotonic() + 120
        while "shield.down" not in [e.kind for e in store.events(run_id)]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        confirmed = as_person("helpdesk", "confirm-fix", run_id, "--note", "logged in")
        assert confirmed.code == 0, confirmed.err

        watched = as_person("helpdesk", "watch", run_id)
        assert watched.code == 0, watched.err
        assert "run ended: resolved" in watched.out
        assert watched.out.rstrip().endswith(f"run {run_id}: resolved")
    finally:
        store.close()

    # The same answers, in the same shape, as on the server's machine.
    for args in (
        ("status", run_id, "--json"),
        ("status", "--json", "--events"),
        ("status", run_id),
        ("runs", "--json"),
        ("runs",),
        ("runs", "--json", "--pipeline", "va-cms (sandbox)"),
        ("runs", "--json", "--active"),
        ("runs", "--json", "--pipeline", "nope"),
        ("status", "--pipeline", "va-cms (sandbox)", "--json"),
        ("watch", run_id),
    ):
        remote = as_person("po", *args)
        assert remote.code == 0, remote.err
        assert remote.out == _locally(server, monkeypatch, run_cli, *args), args
    assert json.loads(as_person("po", "runs", "--json").out)[0]["run_id"] == run_id
    assert json.loads(as_person("po", "runs", "--json", "--pipeline", "nope").out) == []
    assert json.loads(as_person("po", "runs", "--json", "--active").out) == []
    _no_token_in(server, [caplog.text])


def test_a_wrong_token_is_one_line(as_person: RunCliAs) -> None:
    result = as_person("wrong-token-0123", "runs")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("error: your OOB_TOKEN is not valid on OOB_SERVER http://")
    assert len(lines) == 2
    assert lines[1].startswith("hint: ")
    assert "wrong-token-0123" not in result.err + result.out


def test_as_is_refused_in_server_mode(as_person: RunCliAs) -> None:
    result = as_person("po", "approve", "any-run", "--as", "po")
    assert result.code == 2
    assert result.err.startswith("error: --as is for sandboxes; OOB_TOKEN says who you are")


def test_unknown_run_and_refused_override_say_what_locally_says(
    server: Server, as_person: RunCliAs, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = as_person("po", "status", "no-such-run")
    assert missing.code == 2
    assert "no-such-run" in missing.err
    override = ("override-status", server.fix, "--context", "nope", "--reason", "flaky")
    remote = as_person("operator", *override)
    assert remote.code == 2
    monkeypatch.delenv("OOB_SERVER")
    monkeypatch.delenv("OOB_TOKEN")
    local = run_cli("--config", str(server.config), *override, "--as", "operator")
    assert (local.code, local.err) == (remote.code, remote.err)


def test_a_server_that_does_not_answer(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OOB_SERVER", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("OOB_TOKEN", "some-token-0123")
    result = run_cli("status")
    assert result.code == 1
    assert result.err.startswith("error: cannot reach OOB_SERVER http://127.0.0.1:")
    assert len(result.err.strip().splitlines()) == 2
    assert "some-token-0123" not in result.err + result.out


@pytest.mark.parametrize("variable", ["OOB_SERVER", "OOB_TOKEN"])
def test_one_variable_without_the_other(
    run_cli: RunCli, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("OOB_SERVER", raising=False)
    monkeypatch.delenv("OOB_TOKEN", raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:9" if variable == "OOB_SERVER" else "t0k3n")
    result = run_cli("runs")
    assert result.code == 2
    assert result.err.startswith(f"error: {variable} is set but ")
    assert "t0k3n" not in result.err
