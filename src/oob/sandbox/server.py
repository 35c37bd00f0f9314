"""`SandboxServer`: the sandbox on a real socket, in a background thread.

    with SandboxServer(Options(scenario="happy", time_scale=0)) as sandbox:
        sandbox.url            # http://127.0.0.1:PORT
        sandbox.advance(600)   # ten simulated minutes (any clock)
        sandbox.state()        # what /_sandbox/state returns

Port 0 (the default) picks a free port. `oob rehearse` and the tests use it in-process.

With `scenarios`, it serves a fleet (`oob.sandbox.fleet`): one pipeline per scenario, each
under its prefix (`sandbox.url + "/p001"`); `state`, `ledger` and `world` then take the
pipeline's name.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import replace
from typing import Any

import uvicorn

from oob.sandbox.app import SandboxApp, create_app
from oob.sandbox.errors import SandboxError
from oob.sandbox.faults import DroppedConnection, FaultPlan
from oob.sandbox.fleet import Fleet
from oob.sandbox.world import Options, World


class _HideDroppedConnections(logging.Filter):
    """A dropped connection is a fault the sandbox made on purpose, not a server error; so is a
    slow answer still dawdling when the sandbox stops (cancelled at shutdown)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, (DroppedConnection, asyncio.CancelledError)):
            return False
        return "timeout graceful shutdown exceeded" not in record.getMessage()


class SandboxServer:
    """Run the sandbox app with uvicorn on `host:port` until `stop()` or the `with` block ends."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        scenarios: list[str] | None = None,
    ) -> None:
        self.options = options or Options()
        self.faults = faults or FaultPlan()
        self.host = host
        self.port = port
        self.log_level = log_level
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._app: SandboxApp | None = None
        self.scenarios = scenarios
        self._fleet: Fleet | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. `http://127.0.0.1:43125` (services live under it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def signing_secret(self) -> str:
        """The Slack app's signing secret: the sandbox signs its clicks and commands with it."""
        return self.options.signing_secret

    @property
    def app(self) -> SandboxApp:
        """The running ASGI app."""
        if self._app is None:
            raise SandboxError("the sandbox server is not running")
        return self._app

    @property
    def fleet(self) -> Fleet:
        """The running fleet (a server started with `scenarios`)."""
        if self._fleet is None:
            raise SandboxError("the sandbox server is not running a fleet")
        return self._fleet

    @property
    def world(self) -> World:
        """The world the server plays."""
        return self.app.world

    def world_of(self, pipeline: str | None) -> World:
        """The world of `pipeline` in a fleet; without one, the world the server plays."""
        return self.world if pipeline is None else self.fleet.world(pipeline)

    def state(self, pipeline: str | None = None) -> dict[str, Any]:
        """The same as GET /_sandbox/state (of `pipeline`'s world in a fleet)."""
        with self.world_of(pipeline).session() as world:
            return world.state()

    def ledger(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        """The same as GET /_sandbox/ledger (of `pipeline`'s world in a fleet)."""
        return self.world_of(pipeline).ledger.entries()

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by `seconds`; returns the new simulated epoch time."""
        if self._fleet is not None:
            return self._fleet.clock.advance(seconds)
        return self.world.advance(seconds)

    def start(self) -> SandboxServer:
        """Bind, serve in a daemon thread, and return once the socket accepts connections."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on each connection it accepts (it
        # does only for sockets whose protocol says TCP): else every answer's second write waits
        # for the client's delayed ACK, 40 ms, which no real service makes its clients wait.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise SandboxError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from None
        self.port = sock.getsockname()[1]
        # Absolute URLs the world hands out (status target_url) must point at this server.
        options = replace(self.options, public_url=self.url)
        app: Any
        if self.scenarios is None:
            app = self._app = create_app(World(options), faults=self.faults)
        else:
            app = self._fleet = Fleet(options, self.scenarios, self.url, self.faults)
        logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())
        config = uvicorn.Config(
            app,
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        ready = threading.Event()

        def serve() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=serve, name="oob-sandbox", daemon=True)
        self._thread.start()
        while not server.started and self._thread.is_alive():
            ready.wait(0.01)
        if not server.started:
            raise SandboxError("the sandbox server did not start")
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._app is not None:
            self._app.world.notifications.stop()
        if self._fleet is not None:
            for name in self._fleet.built():
                self._fleet.world(name).notifications.stop()
        self._thread = None
        self._server = None

    def serve_forever(self) -> None:
        """Block until the server stops (Ctrl-C in `oob sandbox`): in short joins, so that the
        main thread is never deaf to a signal however busy the machine is."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.25)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
