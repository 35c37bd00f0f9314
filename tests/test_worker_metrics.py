"""`oob worker --metrics-port`: the worker's retries and failures by service, for Prometheus."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import stamina
from prometheus_client import CollectorRegistry, generate_latest

from oob.adapters.retry import RetryPolicy, Tally, call
from oob.worker_metrics import TallyCollector


def test_retries_and_failures_are_counted_by_service() -> None:
    tally = Tally()
    answers = iter([ConnectionError("reset"), "ok"])

    def flaky() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def never() -> str:
        raise ConnectionError("down")

    with stamina.set_testing(True, attempts=3):
        from oob.adapters import retry

        counted, retry.TALLY = retry.TALLY, tally
        try:
            assert call(flaky, policy=RetryPolicy(), transient=lambda _e: True, service="jenkins")
            with contextlib.suppress(ConnectionError):
                call(never, policy=RetryPolicy(), transient=lambda _e: True, service="slack")
        finally:
            retry.TALLY = counted
    assert tally.retries == {"jenkins": 1, "slack": 2}
    assert tally.failures == {"slack": 1}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TallyCollector(tally))
    text = generate_latest(registry).decode()
    assert 'oob_service_retries_total{service="jenkins"} 1.0' in text
    assert 'oob_service_failures_total{service="slack"} 1.0' in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_oob_worker_serves_its_metrics_on_the_port_asked(tmp_path: Path, preset_file: Path) -> None:
    port = _free_port()
    tokens = dict.fromkeys(("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"), "t")
    env = {**os.environ, **tokens, "OOB_HOME": str(tmp_path)}
    env.pop("OOB_DATABASE_URL", None)
    command = [sys.executable, "-m", "oob", "--config", str(preset_file), "worker"]
    worker = subprocess.Popen(
        [*command, "--metrics-port", str(port), "--exit-when-idle", "30"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "no metrics were served"
                time.sleep(0.1)
        assert page.status_code == 200
        assert "# TYPE oob_service_retries_total counter" in page.text
    finally:
        worker.terminate()
        worker.wait(30)
