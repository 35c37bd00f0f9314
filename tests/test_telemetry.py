"""Traces of runs over OTLP/HTTP: off by default, exported by DBOS to a real receiver where an
endpoint is named (the config's `[telemetry]`, or the environment for `oob rehearse`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from oob.config import parse
from oob.errors import ConfigError
from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Store
from oob.telemetry import ENDPOINT_ENV, Telemetry, traces
from tests.conftest import RunCli
from tests.procedure.test_run_cmds import wait_ready

TIME_SCALE = 600
OOB = [sys.executable, "-m", "oob"]
# A run's step spans, as DBOS names them after oob's steps, whatever the scenario.
STEPS = {"oob.load", "oob.record", "oob.post"}


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: it keeps each request to /v1/traces, decoded."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.content_types: set[str] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1/traces"

    def spans(self) -> list[tuple[dict[str, str], Any]]:
        """Every span received, with its resource's attributes."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope.spans]
        return found


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)
        self.server.content_types.add(self.headers["Content-Type"])
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _attributes(pairs: Any) -> dict[str, str]:
    return {a.key: a.value.string_value for a in pairs}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    quiet = {k: v for k, v in os.environ.items() if not k.startswith(("OOB_", "OTEL_"))}
    return {**quiet, "OOB_HOME": str(tmp_path / "home"), **extra}


def test_a_rehearsal_sends_its_run_and_steps_to_the_environments_endpoint(
    receiver: Receiver, tmp_path: Path
) -> None:
    env = _env(tmp_path, **{ENDPOINT_ENV: receiver.endpoint})
    done = subprocess.run(
        [*OOB, "rehearse", "--scenario", "quick", "--json", "--time-scale", str(TIME_SCALE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    run_id = json.loads(done.stdout)["run_id"]
    assert receiver.content_types == {"application/x-protobuf"}
    spans = receiver.spans()
    runs = [span for _, span in spans if span.name == "oob.run"]
    assert len(runs) == 1
    run = runs[0]
    assert _attributes(run.attributes)["operationUUID"] == run_id
    assert {resource.get("service.name") for resource, _ in spans} == {"oob"}
    steps = [s for _, s in spans if s.parent_span_id == run.span_id]
    assert STEPS | {"oob.trigger", "oob.postmortem"} <= {s.name for s in steps}
    assert {s.trace_id for s in steps} == {run.trace_id}
    assert {_attributes(s.attributes)["operationUUID"] for s in steps} == {run_id}


def test_a_worker_sends_the_configs_attributes_and_keeps_stderr_clean(
    receiver: Receiver, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(tmp_path, OTEL_BSP_SCHEDULE_DELAY="50")  # the SDK's batch: every 50 ms
    monkeypatch.setenv("OOB_HOME", env["OOB_HOME"])
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'oob.sqlite'}")
    with SandboxServer(Options(scenario="happy", time_scale=TIME_SCALE)) as sandbox:
        config = tmp_path / "oob.toml"
        telemetry = f'\n[telemetry]\notlp_traces_endpoint = "{receiver.endpoint}"\n'
        attributes = '[telemetry.attributes]\n"deployment.environment" = "drill"\n'
        config.write_text(
            render_config(sandbox.url, sandbox.options.token) + telemetry + attributes
        )
        command = [*OOB, "--config", str(config), "worker", "--time-scale", str(TIME_SCALE)]
        with (tmp_path / "err").open("w+") as err:
            worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
            try:
                wait_ready(store, worker.pid)
                started = run_cli(
                    *("--config", str(config), "deploy", "--detach", "--as", "operator"),
                    *("--fix", str(sandbox.state()["fix_sha"]), "--symptoms", "login broken"),
                    *("--cause", "bad update", "--fix-summary", "revert"),
                )
                assert started.code == 0, started.err
                run_id = started.out.strip()
                deadline = time.monotonic() + 60
                # The product owner is asked: the run's first steps are done, and sent.
                while not {s.name for _, s in receiver.spans()} >= STEPS:
                    assert time.monotonic() < deadline, store.events(run_id)
                    time.sleep(0.05)
            finally:
                worker.kill()
                worker.wait(60)
            err.seek(0)
            assert err.read() == ""
    store.close()
    steps = [span for _, span in receiver.spans() if span.name in STEPS]
    assert {s.name for s in steps} == STEPS
    for span in steps:
        seen = _attributes(span.attributes)
        assert seen["operationUUID"] == run_id
        assert seen["deployment.environment"] == "drill"


# Python's own answer when a package is not installed, for the modules the `otel` extra brings.
ABSENT = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("opentelemetry.sdk", "opentelemetry.exporter")):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Absent())
from oob.cli import main
main(sys.argv[1:])
"""


def test_traces_asked_without_the_exporter_installed_is_one_line_and_exit_2(
    tmp_path: Path, preset_file: Path
) -> None:
    with preset_file.open("a") as file:
        file.write('\n[telemetry]\notlp_traces_endpoint = "http://collector:4318/v1/traces"\n')
    done = subprocess.run(
        [sys.executable, "-c", ABSENT, "--config", str(preset_file), "worker"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: traces go to http://collector:4318/v1/traces, but opentelemetry-sdk is not "
        "installed: pip install 'oob[otel]'"
    ]
    assert not (tmp_path / "home").exists()  # nothing started


def test_an_endpoint_that_is_no_url_is_refused(
    monkeypatch: pytest.MonkeyPatch, preset_text: str, tmp_path: Path, run_cli: RunCli
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "collector:4318")
    monkeypatch.setenv("OOB_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match=f"{ENDPOINT_ENV} is not an http"):
        traces(None)
    refused = run_cli("rehearse", "--json")
    assert refused.code == 2
    assert refused.err.splitlines() == [
        f"error: {ENDPOINT_ENV} is not an http(s) URL: 'collector:4318'"
    ]
    bad = preset_text + '\n[telemetry]\notlp_traces_endpoint = "collector:4318"\n'
    with pytest.raises(ConfigError, match="otlp_traces_endpoint"):
        parse(bad, tmp_path / "oob.toml")


def test_the_configs_endpoint_comes_before_the_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENDPOINT_ENV, "http://from-env:4318/v1/traces")
    named = Telemetry(otlp_traces_endpoint="http://collector:4318/v1/traces", attributes={"a": "b"})
    asked = traces(named)
    assert asked is not None
    assert (asked.endpoint, asked.attributes) == ("http://collector:4318/v1/traces", {"a": "b"})
    from_env = traces(Telemetry())
    assert from_env is not None
    assert from_env.endpoint == "http://from-env:4318/v1/traces"


def test_off_by_default_nothing_of_opentelemetry_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENDPOINT_ENV, raising=False)
    assert traces(None) is None
    assert traces(Telemetry(attributes={"a": "b"})) is None
    probe = (
        "import sys\nfrom oob.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
        "    pass\nprint(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "[]"
