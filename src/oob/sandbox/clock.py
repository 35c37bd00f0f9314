"""Simulated time: the sandbox plays hours of pipeline in minutes, or only when told to.

A `SimClock` maps real time to simulated time at `time_scale` simulated seconds per real second.
With `time_scale == 0` it is a manual clock that moves only through `advance`, which is what
deterministic tests use. `advance` works in both modes, so a drill can also skip ahead. A clock
made `paused` stands at its start until `resume()`: a rehearsal starts it with its run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SimClock:
    """Simulated epoch seconds, derived from a monotonic real clock."""

    def __init__(
        self,
        start: float,
        time_scale: float,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        paused: bool = False,
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be 0 (manual clock) or positive")
        self.start = start
        self.time_scale = time_scale
        self._monotonic = monotonic
        self._real_start = monotonic()
        self._offset = 0.0
        self._paused = paused
        self._lock = threading.Lock()

    @property
    def manual(self) -> bool:
        """True when time moves only through `advance`."""
        return self.time_scale == 0

    def now(self) -> float:
        """The current simulated time, in epoch seconds."""
        with self._lock:
            elapsed = 0.0 if self._paused else self._monotonic() - self._real_start
            return self.start + elapsed * self.time_scale + self._offset

    def resume(self) -> None:
        """Let a paused clock run from the time it stands at."""
        with self._lock:
            if self._paused:
                self._paused = False
                self._real_start = self._monotonic()

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by `seconds`; returns the new time."""
        if seconds < 0:
            raise ValueError("simulated time only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()
