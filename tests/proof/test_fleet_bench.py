"""`bench/fleet.py` counts a side effect done twice in a fleet's world as a duplicate, from
that world's ledger, and only those done twice."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import jenkins
from slack_sdk import WebClient

from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.side_effects import side_effects

BENCH = Path(__file__).parents[2] / "bench"
TOKEN = "sandbox-token"
KEY = "oob:r1:approval.requested:product_owner"


def fleet_bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # it imports its neighbours, as when run as a script
    try:
        spec = importlib.util.spec_from_file_location("fleet_bench", BENCH / "fleet.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def post(client: WebClient, key: str) -> None:
    metadata = {"event_type": "oob_message", "event_payload": {"key": key}}
    assert client.chat_postMessage(channel="#sitewide-program", text="hi", metadata=metadata)["ok"]


def test_the_fleet_bench_counts_what_a_world_did_twice() -> None:
    bench = fleet_bench()
    with SandboxServer(Options(time_scale=0), scenarios=["happy", "happy"]) as sandbox:
        slack = WebClient(base_url=f"{sandbox.url}/p002/slack/api/", token=TOKEN)
        server = jenkins.Jenkins(f"{sandbox.url}/p002/jenkins", username="oob", password=TOKEN)
        post(slack, KEY)
        server.build_job("deploys/cms-auto-deploy", {"release_wait": "15"})
        post(WebClient(base_url=f"{sandbox.url}/p001/slack/api/", token=TOKEN), KEY)
        seen: Counter[str] = Counter()
        for name in ("p001", "p002"):
            ledger = sandbox.ledger(name)
            assert bench.duplicates(side_effects(ledger), ledger, seen) == []
        assert seen == Counter(messages_posted=2, builds_triggered=1)
        post(slack, KEY)
        server.build_job("deploys/cms-auto-deploy", {"release_wait": "16"})
        ledger = sandbox.ledger("p002")
        assert bench.duplicates(side_effects(ledger), ledger, Counter()) == [
            "deploys/cms-auto-deploy triggered 2 times",
            f"message {KEY} posted 2 times",
        ]
