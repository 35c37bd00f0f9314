"""Exactly once, proven: real `oob worker` processes killed with SIGKILL at several points.

Each test starts the sandbox in this process and a worker in another, starts a run, kills the
worker at one point of the procedure, starts another worker, and checks in the sandbox's ledger
(what the services accepted) that the run completed with one build of the release job, one
message per (message, audience) and channel, and one postmortem pull request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oob.commands import Control
from oob.config import Config, parse
from oob.durable import client
from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Run, RunRequest, RunState, Store

TIME_SCALE = 240
RELEASE = "deploys/cms-auto-deploy"


@dataclass
class Deployment:
    sandbox: SandboxServer
    config: Config
    config_path: Path
    store: Store
    url: str
    env: dict[str, str]
    home: Path
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self) -> subprocess.Popen[bytes]:
        with (self.home / f"worker-{len(self.workers)}.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "oob",
                    "--config",
                    str(self.config_path),
                    "worker",
                    "--time-scale",
                    str(TIME_SCALE),
                    "--poll-seconds",
                    "0.05",
                    "--lease-seconds",
                    "5",
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(
                w.pid == process.pid and w.heartbeat_at > w.started_at for w in self.store.workers()
            ):
                return process
            assert process.poll() is None, (self.home / "worker-0.log").read_text()
            time.sleep(0.05)
        raise AssertionError("the worker did not start")

    def start_run(self) -> Run:
        control = Control(self.store, self.url)
        return control.start(
            self.config,
            RunRequest(
                pipeline=self.config.pipeline.name,
                requester="operator",
                fix_sha=str(self.sandbox.state()["fix_sha"]),
                symptoms="editors cannot log in",
                cause="bad module update",
                fix_summary="revert the module",
                release_wait_minutes=self.config.pipeline.release_wait,
            ),
        )

    def approve(self, run: Run) -> None:
        self.until(lambda: "approval.requested" in self.kinds(run.id))
        Control(self.store, self.url).approve(run.id, "po")

    def kinds(self, run_id: str) -> list[str]:
        return [e.kind for e in self.store.events(run_id)]

    def until(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.01)
        raise AssertionError("timed out")

    def executor_of(self, run_id: str) -> subprocess.Popen[bytes]:
        """The worker process executing `run_id` now."""
        dbos = client(self.url)
        try:
            executor = dbos.retrieve_workflow(run_id).get_status().executor_id
        finally:
            dbos.destroy()
        pid = next(w.pid for w in self.store.workers() if w.executor_id == executor)
        return next(p for p in self.workers if p.pid == pid)

    def finished(self, run_id: str) -> Run:
        from oob.procedure import finished

        self.until(lambda: finished(self.store.events(run_id)), timeout=180)
        return self.store.run(run_id)

    def check_exactly_once(self) -> None:
        ledger = self.sandbox.ledger()
        triggers = [e for e in ledger if e["service"] == "jenkins" and "parameters" in e["summary"]]
        assert [e["summary"]["job"] for e in triggers] == [RELEASE]
        posts = Counter(
            (str((e["summary"].get("event_payload") or {}).get("key")), e["summary"]["channel"])
            for e in ledger
            if e["service"] == "slack" and e["path"].endswith("chat.postMessage")
        )
        assert posts, "no messages"
        assert set(posts.values()) == {1}, posts
        pulls = [e for e in ledger if e["service"] == "github" and e["path"].endswith("/pulls")]
        assert len(pulls) == 1


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    env = {**os.environ, "OOB_HOME": str(tmp_path), "OOB_DATABASE_URL": url}
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        config_path = tmp_path / "oob.toml"
        config_path.write_text(
            render_config(sandbox.url, sandbox.options.token, require_confirmation=False)
        )
        config = parse(config_path.read_text(), config_path)
        store = Store(url)
        deployment = Deployment(sandbox, config, config_path, store, url, env, tmp_path, [])
        try:
            yield deployment
        finally:
            for process in deployment.workers:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(30)
            store.close()


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def test_killed_while_waiting_for_approval(deployment: Deployment) -> None:
    first = deployment.start_worker()
    run = deployment.start_run()
    deployment.until(lambda: "approval.requested" in deployment.kinds(run.id))
    kill(first)
    deployment.start_worker()
    deployment.approve(run)
    assert deployment.finished(run.id).outcome is RunState.RESOLVED
    deployment.check_exactly_once()


def test_killed_while_notifying(deployment: Deployment) -> None:
    first = deployment.start_worker()
    run = deployment.start_run()
    deployment.approve(run)
    deployment.until(
        lambda: any(
            e.kind == "message.posted" and e.details.get("purpose") == "deploy_coming"
            for e in deployment.store.events(run.id)
        )
    )
    kill(first)
    deployment.start_worker()
    assert deployment.finished(run.id).outcome is RunState.RESOLVED
    deployment.check_exactly_once()


def test_killed_just_after_triggering(deployment: Deployment) -> None:
    first = deployment.start_worker()
    run = deployment.start_run()
    deployment.approve(run)
    deployment.until(
        lambda: any(
            e["service"] == "jenkins" and "parameters" in e["summary"]
            for e in deployment.sandbox.ledger()
        ),
        timeout=120,
    )
    kill(first)
    deployment.start_worker()
    assert deployment.finished(run.id).outcome is RunState.RESOLVED
    deployment.check_exactly_once()


def test_killed_mid_log_follow(deployment: Deployment) -> None:
    first = deployment.start_worker()
    run = deployment.start_run()
    deployment.approve(run)
    deployment.until(lambda: deployment.store.run(run.id).state is RunState.RELEASE_WAIT)
    time.sleep(1)  # a few simulated minutes into the release wait, log chunks checkpointed
    assert deployment.store.run(run.id).state is RunState.RELEASE_WAIT
    kill(first)
    deployment.start_worker()
    assert deployment.finished(run.id).outcome is RunState.RESOLVED
    deployment.check_exactly_once()
    # The release job's log was followed from where the dead worker left it: one pick.
    assert deployment.kinds(run.id).count("release.picked") == 1


@pytest.mark.postgres
def test_two_workers_share_postgres_and_the_survivor_takes_over(
    postgres_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "OOB_HOME": str(tmp_path), "OOB_DATABASE_URL": postgres_url}
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        config_path = tmp_path / "oob.toml"
        config_path.write_text(
            render_config(sandbox.url, sandbox.options.token, require_confirmation=False)
        )
        config = parse(config_path.read_text(), config_path)
        store = Store(postgres_url)
        deployment = Deployment(
            sandbox, config, config_path, store, postgres_url, env, tmp_path, []
        )
        try:
            deployment.start_worker()
            deployment.start_worker()
            run = deployment.start_run()
            deployment.approve(run)
            deployment.until(lambda: deployment.store.run(run.id).state is RunState.RELEASE_WAIT)
            executing = deployment.executor_of(run.id)
            kill(executing)
            assert deployment.finished(run.id).outcome is RunState.RESOLVED
            survivor = next(p for p in deployment.workers if p is not executing)
            assert deployment.executor_of(run.id) is survivor
            deployment.check_exactly_once()
        finally:
            for process in deployment.workers:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(30)
            store.close()
