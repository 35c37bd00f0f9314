"""The run commands end to end: a worker process, the sandbox, and `oob` as people type it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oob.procedure import finished
from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import RunState, Store
from tests.conftest import RunCli

TIME_SCALE = 300


def deploy_args(config: Path, fix: str) -> tuple[str, ...]:
    """`oob deploy` of `fix` by the operator, as people type it."""
    return (
        "--config",
        str(config),
        "deploy",
        "--fix",
        fix,
        "--symptoms",
        "login broken",
        "--cause",
        "bad update",
        "--fix-summary",
        "revert",
        "--as",
        "operator",
    )


def wait_ready(store: Store, pid: int) -> None:
    """Until the worker `pid` has launched (its second beat comes after DBOS is up)."""
    deadline = time.monotonic() + 60
    while not any(w.pid == pid and w.heartbeat_at > w.started_at for w in store.workers()):
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.05)


def test_deploy_approve_confirm_watch_status(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        config = tmp_path / "oob.toml"
        config.write_text(render_config(sandbox.url, sandbox.options.token))
        store = Store(url)
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "oob",
                    "--config",
                    str(config),
                    "worker",
                    "--time-scale",
                    str(TIME_SCALE),
                    "--poll-seconds",
                    "0.05",
                ],
                env={**os.environ},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_ready(store, worker.pid)
            fix = str(sandbox.state()["fix_sha"])
            deploy = deploy_args(config, fix)
            started = run_cli(*deploy, "--detach")
            assert started.code == 0, started.err
            run_id = started.out.strip()
            assert store.run(run_id).requester == "operator"

            busy = run_cli(*deploy, "--detach")
            assert busy.code == 1
            assert run_id in busy.err

            own = run_cli("--config", str(config), "approve", run_id, "--as", "operator")
            assert own.code == 2
            assert "may not approve" in own.err

            ok = run_cli("--config", str(config), "approve", run_id, "--as", "po", "--note", "go")
            assert ok.code == 0, ok.err

            deadline = time.monotonic() + 120
            while "shield.down" not in [e.kind for e in store.events(run_id)]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            confirm = run_cli("--config", str(config), "confirm-fix", run_id, "--as", "helpdesk")
            assert confirm.code == 0, confirm.err

            watched = run_cli("--config", str(config), "watch", run_id)
            assert watched.code == 0
            assert "approved by po" in watched.out
            assert "run ended: resolved" in watched.out
            assert finished(store.events(run_id))

            status = run_cli("--config", str(config), "status", run_id, "--json")
            assert status.code == 0
            view = json.loads(status.out)
            assert view["run_id"] == run_id
            assert view["state"] == view["outcome"] == RunState.RESOLVED.value
            assert {"steps", "eta_minutes", "stages"} <= set(view)

            listed = json.loads(run_cli("--config", str(config), "runs", "--json").out)
            assert [r["run_id"] for r in listed] == [run_id]

            late = run_cli(
                "--config",
                str(config),
                "cancel",
                run_id,
                "--as",
                "operator",
                "--reason",
                "too late",
            )
            assert late.code == 2  # refused by the policy
            assert "the release job already picked its commit" in late.err
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
            store.close()


def test_unknown_run_and_forbidden_identity_are_bad_input(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preset_file: Path
) -> None:
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    missing = run_cli("--config", str(preset_file), "status", "nope")
    assert missing.code == 2
    assert "no run 'nope'" in missing.err
    asserted = run_cli("--config", str(preset_file), "approve", "nope", "--as", "po")
    assert asserted.code == 2
    assert "--as is not allowed" in asserted.err


def test_deploy_starts_a_background_worker_when_none_is_live(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        config = tmp_path / "oob.toml"
        config.write_text(render_config(sandbox.url, sandbox.options.token))
        store = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}")
        try:
            started = run_cli(*deploy_args(config, str(sandbox.state()["fix_sha"])), "--detach")
            assert started.code == 0, started.err
            run_id = started.out.strip()
            assert len(store.workers()) == 1  # the background worker deploy started
            deadline = time.monotonic() + 60
            while "approval.requested" not in [e.kind for e in store.events(run_id)]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            cancelled = run_cli(
                "--config", str(config), "cancel", run_id, "--as", "operator", "--reason", "drill"
            )
            assert cancelled.code == 0, cancelled.err
            # The workflow records `run.ended`, then stores the outcome: wait for both.
            while store.run(run_id).active or not finished(store.events(run_id)):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert store.run(run_id).outcome is RunState.CANCELLED
        finally:
            for worker in store.workers():
                os.kill(worker.pid, signal.SIGTERM)
            store.close()


def test_a_worker_told_to_stop_leaves_at_once_while_its_run_waits_for_a_person(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen: SIGTERM to a worker whose run waited for approval left it running for over 30 s
    (the run's thread waits a minute between two reads of the decisions). It leaves now; the
    run stays active for another worker to take over."""
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        config = tmp_path / "oob.toml"
        config.write_text(render_config(sandbox.url, sandbox.options.token))
        store = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}")
        command = [sys.executable, "-m", "oob", "--config", str(config), "worker"]
        worker = subprocess.Popen(
            [*command, "--time-scale", str(TIME_SCALE)], stdout=subprocess.PIPE, text=True
        )
        try:
            wait_ready(store, worker.pid)
            started = run_cli(*deploy_args(config, str(sandbox.state()["fix_sha"])), "--detach")
            run_id = started.out.strip()
            deadline = time.monotonic() + 60
            while "approval.requested" not in [e.kind for e in store.events(run_id)]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            worker.send_signal(signal.SIGTERM)
            out, _ = worker.communicate(timeout=20)
            assert worker.returncode == 0
            assert "worker stopped; its runs go on in another worker" in out
            assert store.run(run_id).state is RunState.AWAITING_APPROVAL  # nothing lost
        finally:
            if worker.poll() is None:
                worker.kill()
            store.close()
