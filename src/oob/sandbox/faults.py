"""Faults: make a share of API requests fail the way real services fail, reproducibly.

An ASGI middleware in front of Jenkins, GitHub and Slack (never the CMS or the control API).
With `rate` r, about r of the requests get one fault, drawn from a seeded generator:

* a proxy error (500, 502, 503) or a dropped connection *before* the service sees the request,
  so nothing happens;
* an answer slower than a client's timeout (the request still takes effect, late);
* Slack's 429 with `Retry-After`, GitHub's secondary rate limit (403 or 429, with or without
  `retry-after`);
* for state-changing requests, a lost response *after* the effect: the service did it, the
  client gets a 502 or a cut connection; the ledger marks the entry `response_lost`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oob.sandbox.ledger import Ledger, current_request

SERVICES = {"/jenkins": "jenkins", "/github": "github", "/slack/api": "slack"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
PROXY_PAGE = (
    "<html><head><title>{code} {reason}</title></head><body><center><h1>{code} {reason}</h1>"
    "</center><hr><center>nginx</center></body></html>\n"
)
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class DroppedConnection(Exception):
    """Raised after a response has started, so that the server cuts the connection."""


@dataclass(frozen=True)
class FaultPlan:
    """How often and how faults happen. `rate` 0 means none."""

    rate: float = 0.0
    """The share of requests, 0 to 1, that meet a fault."""
    seed: int = 0
    """Which requests meet which fault: the same seed, the same faults."""
    slow_seconds: float = 35.0
    """How long a slow answer takes: longer than the 30 s default timeouts of oob's services
    (tests make it short)."""
    retry_after_seconds: int = 2
    """The `Retry-After` of a rate-limited answer (Slack's, GitHub's secondary limit)."""
    lose_first: tuple[str, ...] = ()
    """Paths (substrings) whose first state-changing request loses its answer after the effect,
    whatever the rate: a crash test's deterministic "the trigger took effect, no answer came"."""

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError("the fault rate is a share of requests, between 0 and 1")


class Faults:
    """The middleware; it also tags each request with an id for the ledger."""

    def __init__(self, app: ASGIApp, plan: FaultPlan, ledger: Callable[[], Ledger]) -> None:
        self.app = app
        self.plan = plan
        self.ledger = ledger
        self._rng = random.Random(plan.seed)  # noqa: S311 (reproducible faults, not secrets)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._to_lose = set(plan.lose_first)

    def _first_to_lose(self, path: str) -> bool:
        with self._lock:
            hit = next((p for p in self._to_lose if p in path), None)
            if hit is not None:
                self._to_lose.discard(hit)
            return hit is not None

    def _draw(self, service: str, method: str) -> str | None:
        kinds = ["500", "502", "503", "drop", "slow"]
        if service == "slack":
            kinds.append("ratelimited")
        if service == "github":
            kinds.append("secondary")
        if method in WRITES:
            kinds += ["lost-502", "lost-drop"]
        with self._lock:
            if self._rng.random() >= self.plan.rate:
                return None
            return self._rng.choice(kinds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request, perhaps with a fault."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = next(self._ids)
        token = current_request.set(request_id)
        try:
            service = next(
                (s for p, s in SERVICES.items() if scope["path"].startswith(p + "/")), None
            )
            fault = self._draw(service, scope["method"]) if service and self.plan.rate else None
            if service and scope["method"] in WRITES and self._first_to_lose(scope["path"]):
                fault = "lost-drop"
            await self._serve(fault, request_id, scope, receive, send)
        finally:
            current_request.reset(token)

    async def _serve(
        self,
        fault: str | None,
        request_id: int,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if fault is None:
            await self.app(scope, receive, send)
        elif fault in ("500", "502", "503"):
            await _proxy_error(send, int(fault))
        elif fault == "drop":
            await _drop(send)
        elif fault == "slow":
            # Read the request first: the client gives up while we dawdle, yet the service
            # still acts on what it received, as a slow real one does.
            received = await _read_request(receive)
            await asyncio.sleep(self.plan.slow_seconds)
            await self.app(scope, _replay(received), send)
        elif fault == "ratelimited":
            body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
            headers = {"retry-after": str(self.plan.retry_after_seconds)}
            await _respond(send, 429, body, "application/json", headers)
        elif fault == "secondary":
            # GitHub answers a secondary limit with 403 or 429, with or without `retry-after`
            # (clients without one are to wait at least a minute).
            with self._lock:
                status = self._rng.choice((403, 429))
                named = self._rng.random() < 0.5
            body = json.dumps(
                {
                    "message": "You have exceeded a secondary rate limit. "
                    "Please wait a few minutes before you try again.",
                    "documentation_url": "https://docs.github.com/rest/using-the-rest-api/"
                    "rate-limits-for-the-rest-api#about-secondary-rate-limits",
                    "status": str(status),
                }
            ).encode()
            headers = {"retry-after": str(self.plan.retry_after_seconds)} if named else {}
            await _respond(send, status, body, "application/json; charset=utf-8", headers)
        else:
            await self._lose_response(fault, request_id, scope, receive, send)

    async def _lose_response(
        self, fault: str, request_id: int, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """Let the service act, then lose its answer on the way back."""
        swallowed: list[Message] = []

        async def capture(message: Message) -> None:
            swallowed.append(message)

        await self.app(scope, receive, capture)
        status = next((m["status"] for m in swallowed if m["type"] == "http.response.start"), 500)
        if status < 400:
            self.ledger().mark_lost(request_id)
        if fault == "lost-502":
            await _proxy_error(send, 502)
        else:
            await _drop(send)


async def _read_request(receive: Receive) -> list[Message]:
    messages = [await receive()]
    while messages[-1]["type"] == "http.request" and messages[-1].get("more_body"):
        messages.append(await receive())
    return messages


def _replay(messages: list[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    return receive


async def _respond(
    send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _proxy_error(send: Send, code: int) -> None:
    page = PROXY_PAGE.format(code=code, reason=REASONS[code]).encode()
    await _respond(send, code, page, "text/html")


async def _drop(send: Send) -> None:
    # ASGI cannot close a socket; starting a response that promises a body and then failing
    # makes the server cut the connection mid-answer, which clients see as a dropped connection.
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]}
    )
    raise DroppedConnection
