"""Runs started together spread over the workers sharing PostgreSQL: each worker executes at most
`[workers] max_runs` runs at once (DBOS's per-worker limit of the runs' queue); the others wait,
queued, for a worker with room. Without it the first worker to look took every queued run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from oob.commands import Control
from oob.config import parse
from oob.durable import client
from oob.sandbox.configfile import render_fleet_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import RunRequest, RunState, Store

PIPELINES = ["p001", "p002", "p003", "p004"]


def test_runs_queued_together_spread_over_the_workers(postgres_url: str, tmp_path: Path) -> None:
    options = Options(time_scale=60)
    with SandboxServer(options, scenarios=["happy"] * len(PIPELINES)) as fleet:
        path = tmp_path / "oob.toml"
        fleet_config = render_fleet_config(fleet.url, options.token, PIPELINES)
        path.write_text(fleet_config + "\n[workers]\nmax_runs = 2\n")
        config = parse(path.read_text(), path)
        store = Store(postgres_url)
        control = Control(store, store.url)
        env = {**os.environ, "OOB_HOME": str(tmp_path), "OOB_DATABASE_URL": postgres_url}
        command = [sys.executable, "-m", "oob", "--config", str(path), "worker"]
        workers: list[subprocess.Popen[bytes]] = []
        runs: list[str] = []
        try:
            workers.append(_worker(command, env, tmp_path / "first.log"))
            _until(lambda: any(w.heartbeat_at > w.started_at for w in store.workers()))
            for name in PIPELINES:  # four runs at once, one worker looking at the queue
                runs.append(control.start(config.for_pipeline(name), _request(fleet, name)).id)
            _until(lambda: sum(_executor(postgres_url, r) is not None for r in runs) >= 2)
            time.sleep(2)  # the first worker looks at the queue again, alone
            workers.append(_worker(command, env, tmp_path / "second.log"))
            for run_id in runs:
                _until(lambda r=run_id: store.run(r).state is RunState.AWAITING_APPROVAL)
            executors = Counter(_executor(postgres_url, run_id) for run_id in runs)
            assert sorted(executors.values()) == [2, 2], executors
        finally:
            for process in workers:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
            store.close()


def _request(fleet: SandboxServer, name: str) -> RunRequest:
    return RunRequest(
        pipeline=name,
        requester="operator",
        fix_sha=str(fleet.state(name)["fix_sha"]),
        symptoms="editors cannot log in",
        cause="a bad module update",
        fix_summary="revert it",
        affects="all editors",
    )


def _worker(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [*command, "--time-scale", "60", "--poll-seconds", "0.05"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _executor(url: str, run_id: str) -> str | None:
    """The worker executing run `run_id` (DBOS's record), None while it is queued."""
    dbos = client(url)
    try:
        status = dbos.retrieve_workflow(run_id).get_status()
    finally:
        dbos.destroy()
    return None if status.status == "ENQUEUED" else status.executor_id


def _until(done: Callable[[], object], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)
