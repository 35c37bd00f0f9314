"""Running the dashboard: uvicorn on a host and port, optionally beside a worker thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from oob.web.app import Settings, create_app

if TYPE_CHECKING:
    from starlette.types import ASGIApp

# Open live streams hold connections; on Ctrl-C, give them this long before closing them.
GRACEFUL_SHUTDOWN_SECONDS = 3


def serve_dashboard(
    settings: Settings,
    host: str,
    port: int,
    *,
    worker: Callable[[threading.Event], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the dashboard until interrupted; run `worker(stop)` in a thread meanwhile.

    The server does not rewrite the client address from `X-Forwarded-For`: the SSO header is
    believed from the TCP peer's address only, which a client cannot forge.
    """
    import uvicorn

    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=False,
        server_header=False,
        log_level=log_level,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    stop = threading.Event()
    thread = None
    if worker is not None:
        thread = threading.Thread(target=worker, args=(stop,), name="oob-worker", daemon=True)
        thread.start()
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly on Ctrl-C, then re-raises it: stopping is not an error.
        pass
    finally:
        stop.set()
        if thread is not None:
            thread.join()


GRACE = 30  # seconds `serving` waits at its end for requests under way


@contextmanager
def serving(app: ASGIApp, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on a free port of `host` in a thread while the block runs; yields its URL."""
    import asyncio
    import socket

    import uvicorn

    # IPPROTO_TCP named: asyncio then sets TCP_NODELAY on each connection (see SandboxServer).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    # On leaving, what is under way finishes first (a Slack click's decision and the update of
    # its message, retried over faults), up to `GRACE` seconds: nothing is cut off half done.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=GRACE
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="oob-web", daemon=True
    )
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)
    if not server.started:
        sock.close()
        raise RuntimeError("the web server did not start")
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(GRACE + 10)
        sock.close()
