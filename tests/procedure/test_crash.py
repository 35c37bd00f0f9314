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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oob.commands import Control
from oob.config import Config, parse
from oob.durable import client
from oob.procedure import Phase
from oob.sandbox.configfile import render_config
from oob.sandbox.faults import FaultPlan
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

    def check_exactly_once(self, since: int = 0) -> None:
        """One release build, one post per (message, channel), one pull request: in the ledger
        after its first `since` entries."""
        ledger = self.sandbox.ledger()[since:]
        triggers = [e for e in ledger if e["service"] == "jenkins" and "parameters" in e["summary"]]
        assert [e["summary"]["job"] for e in triggers] == [RELEASE]
        posted_once(ledger)


def posted_once(ledger: list[dict[str, Any]]) -> None:
    """One post per (message, channel), and one postmortem pull request."""
    posts = Counter(
        (str((e["summary"].get("event_payload") or {}).get("key")), e["summary"]["channel"])
        for e in ledger
        if e["service"] == "slack" and e["path"].endswith("chat.postMessage")
    )
    assert posts, "no messages"
    assert set(posts.values()) == {1}, posts
    pulls = [e for e in ledger if e["service"] == "github" and e["path"].endswith("/pulls")]
    assert len(pulls) == 1


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, faults: FaultPlan
) -> Iterator[Deployment]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with deployed(tmp_path, url, Options(scenario="happy", time_scale=TIME_SCALE), faults) as made:
        yield made


@contextmanager
def deployed(
    home: Path, url: str, options: Options, faults: FaultPlan, preset: str = "va-cms"
) -> Iterator[Deployment]:
    """A sandbox with `options`, its config of `preset` and a store at `url`; workers started
    meanwhile are stopped at the end."""
    env = {**os.environ, "OOB_HOME": str(home), "OOB_DATABASE_URL": url}
    with SandboxServer(options, faults=faults) as sandbox:
        config_path = home / "oob.toml"
        token = sandbox.options.token
        config_path.write_text(
            render_config(sandbox.url, token, require_confirmation=False, preset=preset)
        )
        config = parse(config_path.read_text(), config_path)
        store = Store(url)
        deployment = Deployment(sandbox, config, config_path, store, url, env, home, [])
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


def killed_as_taken(
    deployment: Deployment,
    process: subprocess.Popen[bytes],
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGKILL `process` as the sandbox takes its request to a path holding `path`, before any
    answer reaches it. Watching for that moment from outside missed it once the sandbox answered
    at once (TCP_NODELAY): a run finds what its lost request made within milliseconds."""
    ledger = deployment.sandbox.world.ledger
    record = ledger.record

    def record_then_kill(*args: Any) -> None:
        record(*args)
        if path in args[2]:
            process.send_signal(signal.SIGKILL)

    monkeypatch.setattr(ledger, "record", record_then_kill)


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


def steps_by_phase(deployment: Deployment, run_id: str) -> list[tuple[str, str, int]]:
    """The run's completed steps from DBOS's own records, oldest first, each with the phase it
    belongs to: (phase, step name, function id). The n-th `oob.record` step wrote the timeline
    event keyed `RUN#n`, so the phase is that of the latest `step.started` written so far."""
    dbos = client(deployment.url)
    try:
        steps = dbos.list_workflow_steps(run_id, load_output=False)
    finally:
        dbos.destroy()
    started = {
        int(e.key.rsplit("#", 1)[1]): str(e.details["step"])
        for e in deployment.store.events(run_id)
        if e.kind == "step.started" and e.key and e.key.rsplit("#", 1)[1].isdigit()
    }
    found, records, phase = [], 0, "start"
    for step in sorted(steps, key=lambda s: s["function_id"]):
        name = step["function_name"]
        if step["completed_at_epoch_ms"] is None or not name.startswith("oob."):
            continue
        if name == "oob.record":
            records += 1
            phase = started.get(records, phase)
        found.append((phase, name, step["function_id"]))
    return found


def boundaries(reference: list[tuple[str, str, int]], per_phase: int = 2) -> list[tuple[str, str]]:
    """Up to `per_phase` distinct steps of each phase, in the order they first completed."""
    chosen: list[tuple[str, str]] = []
    for phase, name, _ in reference:
        if (phase, name) not in chosen and sum(p == phase for p, _ in chosen) < per_phase:
            chosen.append((phase, name))
    return chosen


@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_killed_at_every_step_boundary_each_effect_happens_once(deployment: Deployment) -> None:
    # A completed run tells, from DBOS's records, where the step boundaries are.
    worker = deployment.start_worker()
    reference = deployment.start_run()
    deployment.approve(reference)
    assert deployment.finished(reference.id).outcome is RunState.RESOLVED
    targets = boundaries(steps_by_phase(deployment, reference.id))
    phases = {phase for phase, _ in targets}
    assert len(targets) >= 12, targets
    assert {"approval", "preflight", "notify", "trigger", "release_wait", "deploy"} <= phases
    assert {"shield", "verify", "resolve", "postmortem"} <= phases
    since = len(deployment.sandbox.ledger())

    # The same procedure again, the worker killed with SIGKILL at each boundary in turn. A
    # boundary this run passed without (a poll it did not need) is skipped, and counted.
    run = deployment.start_run()
    order = [p.value for p in Phase]
    killed, skipped = [], []
    for phase, name in targets:

        def reached(phase: str = phase, name: str = name) -> bool:
            kinds = deployment.kinds(run.id)
            waiting = "approval.requested" in kinds and "approval.approved" not in kinds
            if waiting and phase != "approval":
                Control(deployment.store, deployment.url).approve(run.id, "po")
            seen = steps_by_phase(deployment, run.id)
            return (phase, name) in {(p, n) for p, n, _ in seen} or any(
                p in order and order.index(p) > order.index(phase) for p, _, _ in seen
            )

        deployment.until(reached, timeout=180)
        if (phase, name) not in {(p, n) for p, n, _ in steps_by_phase(deployment, run.id)}:
            skipped.append((phase, name))
            continue
        kill(worker)
        killed.append((phase, name))
        worker = deployment.start_worker()
    assert len(killed) >= 12, (killed, skipped)
    print(f"killed at {len(killed)} step boundaries: {killed}; skipped {skipped}")
    assert deployment.finished(run.id).outcome is RunState.RESOLVED
    deployment.check_exactly_once(since)


@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_a_config_edited_between_a_crash_and_the_recovery_changes_nothing_of_the_run(
    deployment: Deployment,
) -> None:
    first = deployment.start_worker()
    run = deployment.start_run()
    deployment.until(lambda: "approval.requested" in deployment.kinds(run.id))
    kill(first)
    # Someone edits oob.toml: another release job, another log pattern, another channel.
    text = deployment.config_path.read_text(encoding="utf-8")
    edited = (
        text.replace(RELEASE, "deploys/somebody-elses-job")
        .replace("Commit status", "Released commit")
        .replace('slack = "#cms-product"', 'slack = "#nobody-reads-this"')
    )
    assert edited != text
    deployment.config_path.write_text(edited, encoding="utf-8")
    deployment.start_worker()
    deployment.approve(run)
    assert deployment.finished(run.id).outcome is RunState.RESOLVED
    deployment.check_exactly_once()
    channels = {
        e["summary"]["channel"]
        for e in deployment.sandbox.ledger()
        if e["service"] == "slack" and e["path"].endswith("chat.postMessage")
    }
    assert "nobody-reads-this" not in {c.lstrip("#") for c in channels}


@pytest.mark.parametrize("faults", [FaultPlan(lose_first=("buildWithParameters",))])
@pytest.mark.parametrize("deployment", ["sqlite"], indirect=True)
def test_killed_after_the_trigger_took_effect_but_before_its_answer(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Jenkins queues the release build, its answer is lost on the way back, and the worker is
    # killed as Jenkins takes it: the next worker must neither trigger a second build nor lose
    # the first (Jenkins folds an identical queued trigger).
    first = deployment.start_worker()
    run = deployment.start_run()
    killed_as_taken(deployment, first, "buildWithParameters", monkeypatch)
    deployment.approve(run)

    def triggered_unanswered() -> bool:
        lost = [
            e
            for e in deployment.sandbox.ledger()
            if e["service"] == "jenkins" and "parameters" in e["summary"] and e.get("response_lost")
        ]
        facts = deployment.store.run(run.id).facts
        return bool(lost) and facts.get("trigger_sent") and "queue_id" not in facts

    deployment.until(triggered_unanswered)
    kill(first)
    deployment.start_worker()
    assert deployment.finished(run.id).outcome is RunState.RESOLVED
    deployment.check_exactly_once()
