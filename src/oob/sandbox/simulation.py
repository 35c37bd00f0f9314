"""The sandbox's engine: a discrete-event simulation in simulated time.

Everything that happens by itself is an action scheduled at a simulated time. Before anything
looks at the world, `session()` runs every action due by the clock's "now", in time order (ties
in the order they were scheduled), so state depends on when requests came, never on how often
anyone polled.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Self

from oob.sandbox.clock import SimClock


class Simulation:
    """Simulated time and the actions due in it; the world is one (`oob.sandbox.world`)."""

    lock: threading.RLock
    clock: SimClock

    def _begin(self, clock: SimClock, at: float, seed: int) -> None:
        """Start over with `clock`, nothing scheduled, the simulation standing at `at`."""
        self.clock = clock
        self.seed = seed
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._at = at

    @property
    def now(self) -> float:
        """The simulated time of what is being done (an action's time while it runs)."""
        return self._at

    @contextmanager
    def session(self) -> Iterator[Self]:
        """Lock the world and process every action due by the clock's now."""
        with self.lock:
            self._run_until(self.clock.now())
            yield self

    def advance(self, seconds: float) -> float:
        """Move the clock forward and process what happens meanwhile; returns the new time."""
        with self.lock:
            now = self.clock.advance(seconds)
            self._run_until(now)
            return now

    def real_seconds_to_next(self) -> float:
        """Real seconds until the next action is due (infinite: none is, or the clock is
        manual); call it inside `session()`."""
        if not self._events or self.clock.manual:
            return math.inf
        return max((self._events[0][0] - self.clock.now()) / self.clock.time_scale, 0.0)

    def _schedule(self, at: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (at, next(self._seq), action))

    def _run_until(self, until: float) -> None:
        while self._events and self._events[0][0] <= until:
            at, _, action = heapq.heappop(self._events)
            self._at = max(self._at, at)
            action()
        self._at = max(self._at, until)

    def _rng(self, *parts: object) -> random.Random:
        # Seeded per build, not shared: a build's variation must not depend on request order.
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))  # noqa: S311
