"""`serving` answers at once, not after the client's ACK (the rehearsal's Slack clicks)."""

from __future__ import annotations

import httpx
import pytest
from starlette.responses import PlainTextResponse

from oob.web.server import serving
from tests.support import nodelay, uvicorn_servers


def test_servings_connections_send_answers_without_waiting_for_an_ack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    servers = uvicorn_servers(monkeypatch)
    with serving(PlainTextResponse("ok")) as url, httpx.Client() as client:
        assert client.get(url).text == "ok"
        assert nodelay(servers) == [True]
