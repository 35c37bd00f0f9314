"""Helpers shared by tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    import sqlalchemy as sa

    from oob.store import Store


def unavailable(reason: str, required_by: str) -> NoReturn:
    """Skip a test whose service or browser is missing, unless the environment requires it.

    A laptop without PostgreSQL or Chromium skips those tests, saying why; CI sets the
    `required_by` variable so that the same absence fails instead of passing silently.
    """
    if os.environ.get(required_by):
        pytest.fail(f"{reason}, and {required_by} is set: this machine must run these tests")
    pytest.skip(reason)


def preset_plan() -> dict[str, object]:
    """The plan of a run under the `va-cms` preset, as `oob deploy` freezes it."""
    from importlib import resources
    from pathlib import Path

    from oob.config import parse
    from oob.plan import freeze

    text = (resources.files("oob") / "presets" / "va-cms.toml").read_text(encoding="utf-8")
    return freeze(parse(text, Path("oob.toml")))


def uvicorn_servers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The uvicorn servers started from now on in the test, to look at their connections."""
    import uvicorn

    started: list[Any] = []

    class Recorded(uvicorn.Server):
        def __init__(self, config: uvicorn.Config) -> None:
            super().__init__(config)
            started.append(self)

    monkeypatch.setattr(uvicorn, "Server", Recorded)
    return started


def nodelay(servers: list[Any]) -> list[bool]:
    """Whether each connection the servers hold open has TCP_NODELAY: an answer written in two
    parts then leaves at once, instead of its second part waiting for the client's ACK."""
    import socket

    return [
        bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        for server in servers
        for connection in server.server_state.connections
        if (sock := connection.transport.get_extra_info("socket")) is not None
    ]


@contextmanager
def behind_oobs_back(store: Store) -> Iterator[sa.Connection]:
    """A transaction on `store`'s database through a connection of its own (SQLAlchemy's), as
    someone with access to the database would change it."""
    import sqlalchemy as sa

    from oob.store import sqlalchemy_url

    engine = sa.create_engine(sqlalchemy_url(store.url))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()
