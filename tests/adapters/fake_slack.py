"""A scripted Slack Web API on a loopback socket (slack_sdk speaks urllib, not httpx)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Reply = tuple[int, dict[str, str], dict[str, Any]]
Handler = Callable[[dict[str, Any]], Reply]


@dataclass
class FakeSlack:
    url: str = ""
    script: dict[str, list[Reply | Handler]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def on(self, method: str, *replies: Reply | Handler) -> FakeSlack:
        self.script.setdefault(method, []).extend(replies)
        return self

    def called(self, method: str) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == method]

    def answer(self, method: str, args: dict[str, Any]) -> Reply:
        self.calls.append((method, args))
        queue = self.script.get(method)
        if not queue:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        return reply(args) if callable(reply) else reply


def okay(**data: Any) -> Reply:
    return 200, {}, {"ok": True, **data}


def fail(error: str, status: int = 200, **headers: str) -> Reply:
    return status, headers, {"ok": False, "error": error}


@contextmanager
def serve() -> Iterator[FakeSlack]:
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply(dict(parse_qsl(urlsplit(self.path).query)))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            if "json" in (self.headers.get("Content-Type") or ""):
                args = json.loads(raw or "{}")
            else:
                args = dict(parse_qsl(raw))
            args.update(dict(parse_qsl(urlsplit(self.path).query)))
            self._reply(args)

        def _reply(self, args: dict[str, Any]) -> None:
            method = urlsplit(self.path).path.rsplit("/", 1)[-1]
            status, headers, body = fake.answer(method, args)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output clean."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/api/"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
