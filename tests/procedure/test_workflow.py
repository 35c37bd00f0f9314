"""The workflow's branches, on in-memory doubles of the ports and a real DBOS on SQLite."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from oob.clock import SystemClock
from oob.config import Config, parse
from oob.control import Control
from oob.procedure import Readiness, Runtime, Tuning
from oob.store import Run, RunRequest, RunState, Store
from oob.worker import WorkerOptions, serve
from tests.procedure.doubles import FIX, RELEASE, Builds, Chat, Code, Probe, Script

ROLES = """[roles]
deployers = ["operator"]
approvers = ["po"]
status_overriders = ["operator"]
fix_confirmers = ["helpdesk", "operator"]
allow_self_approval = false
allow_asserted_identity = true
"""


def make_config(preset_text: str, tmp_path: Path) -> Config:
    start = preset_text.index("[roles]")
    end = preset_text.index("# How oob knows")
    text = preset_text[:start] + ROLES + "\n" + preset_text[end:]
    text = text.replace("require_confirmation = true", "require_confirmation = false")
    return parse(text, tmp_path / "oob.toml")


@dataclass
class Harness:
    config: Config
    store: Store
    control: Control
    builds: Builds
    code: Code
    chat: Chat
    probe: Probe
    postmortems: list[str]

    def start(self, **kwargs: object) -> Run:
        request = RunRequest(
            pipeline="va-cms",
            requester="operator",
            fix_sha=FIX,
            symptoms="editors cannot log in",
            cause="bad module update",
            fix_summary="revert the module",
            affects="all editors",
            release_wait_minutes=15,
        )
        return self.control.start(request, **kwargs)  # type: ignore[arg-type]

    def wait_for(self, run_id: str, predicate: Callable[[Run], bool]) -> Run:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = self.store.run(run_id)
            if predicate(run):
                return run
            time.sleep(0.02)
        raise AssertionError(f"run {run_id} stuck in {self.store.run(run_id).state}")

    def end(self, run_id: str) -> Run:
        return self.wait_for(run_id, lambda r: not r.active)

    def kinds(self, run_id: str) -> list[str]:
        return [e.kind for e in self.store.events(run_id)]


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def readiness() -> list[Readiness]:
    """Pre-flight answers in order; the last one repeats."""
    return [Readiness(ready=True)]


@pytest.fixture
def harness(
    preset_text: str, tmp_path: Path, script: Script, readiness: list[Readiness]
) -> Iterator[Harness]:
    config = make_config(preset_text, tmp_path)
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    store = Store(url)
    code = Code(script)
    builds = Builds(script, code=code)
    chat = Chat()
    probe = Probe(script)
    postmortems: list[str] = []

    def answer(_sha: str) -> Readiness:
        return readiness.pop(0) if len(readiness) > 1 else readiness[0]

    def postmortem(run_id: str) -> tuple[str | None, str | None]:
        postmortems.append(run_id)
        return None, None

    runtime = Runtime(
        config=config,
        build_server=builds,
        code_host=code,
        chat=chat,
        probe=probe,
        store=store,
        clock=SystemClock(),
        readiness=answer,
        postmortem=postmortem,
        tuning=Tuning(poll_seconds=0.01, merge_check_every=1, trigger_settle_seconds=0.1),
    )
    stop = threading.Event()
    ready = threading.Event()
    options = WorkerOptions(heartbeat_seconds=0.05, polling_seconds=0.02)
    thread = threading.Thread(
        target=serve, args=(runtime, url, options, stop, lambda _l: ready.set()), daemon=True
    )
    thread.start()
    assert ready.wait(30)
    yield Harness(
        config, store, Control(config, store, url), builds, code, chat, probe, postmortems
    )
    stop.set()
    thread.join(30)
    store.close()


def test_happy_run_resolves_with_each_message_once(harness: Harness) -> None:
    run = harness.start()
    harness.wait_for(run.id, lambda r: "approval.requested" in harness.kinds(r.id))
    harness.control.approve(run.id, "po", "go")
    ended = harness.end(run.id)
    assert ended.outcome is RunState.RESOLVED, harness.kinds(run.id)
    assert harness.builds.triggered[RELEASE] == 1
    assert set(harness.chat.purposes().values()) == {1}
    assert set(harness.chat.purposes()) == {
        "approval_request:product_owner",
        "deploy_coming:sitewide",
        "deploy_coming:helpdesk",
        "deploy_coming:editors",
        "hold_merges:engineers",
        "deploy_complete:helpdesk",
        "resolved:helpdesk",
        "resume_merging:engineers",
    }
    assert harness.postmortems == [run.id]
