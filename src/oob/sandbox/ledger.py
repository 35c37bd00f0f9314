"""The ledger: every state-changing request a service accepted, in order.

Tests and rehearsals count side effects from it ("exactly one build was triggered, one message
posted per channel"). An entry is written when the effect happens, so a request that failed
before taking effect leaves none; when a fault then loses the response, the entry stays and is
marked `response_lost`, as the effect stays in a real service.
"""

from __future__ import annotations

import itertools
import threading
import time
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

# The id of the HTTP request being served, set by the fault middleware, so that a fault which
# loses the response can mark the entries that request wrote.
current_request: ContextVar[int | None] = ContextVar("current_request", default=None)


def iso(epoch: float) -> str:
    """Epoch seconds as an ISO 8601 UTC timestamp with milliseconds."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@dataclass
class Entry:
    """One accepted state-changing request."""

    seq: int
    service: str
    method: str
    path: str
    summary: dict[str, Any]
    sim_time: str
    real_time: str
    request_id: int | None
    response_lost: bool = False


class Ledger:
    """An append-only, thread-safe list of entries."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def record(
        self, service: str, method: str, path: str, summary: dict[str, Any], sim_time: float
    ) -> None:
        """Write one entry for the request being served."""
        with self._lock:
            self._entries.append(
                Entry(
                    seq=next(self._seq),
                    service=service,
                    method=method,
                    path=path,
                    summary=summary,
                    sim_time=iso(sim_time),
                    real_time=iso(time.time()),
                    request_id=current_request.get(),
                )
            )

    def mark_lost(self, request_id: int) -> None:
        """Mark the entries of `request_id`: the effect happened, the client never heard."""
        with self._lock:
            for entry in self._entries:
                if entry.request_id == request_id:
                    entry.response_lost = True

    def entries(self) -> list[dict[str, Any]]:
        """All entries, oldest first, as JSON-ready dicts."""
        with self._lock:
            return [asdict(e) for e in self._entries]
