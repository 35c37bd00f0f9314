"""The sandbox's socket answers as a real service's does: at once, not after the client's ACK."""

from __future__ import annotations

import httpx
import pytest

from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from tests.support import nodelay, uvicorn_servers


def test_the_sandboxs_connections_send_answers_without_waiting_for_an_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without TCP_NODELAY, each answer's body waited for the client's delayed ACK: 40 ms a
    # request, the most of oob's request time in a rehearsal.
    servers = uvicorn_servers(monkeypatch)
    with SandboxServer(Options(scenario="quick")) as sandbox, httpx.Client() as client:
        client.get(f"{sandbox.url}/_sandbox/state").raise_for_status()
        assert nodelay(servers) == [True]
