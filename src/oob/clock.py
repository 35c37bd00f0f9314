"""The one source of the current time of a run. Everything stored is UTC with a date.

A run has one clock: the real one on the day, the sandbox's simulated one in a rehearsal or a
drill. Everything the run records, computes or shows reads that clock, so a rehearsal's
timeline, lead time and postmortem read exactly as the real day's would, in simulated time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ScaledClock:
    """Time that runs `scale` times faster than real time from `start` (a simulated clock
    kept in step with a sandbox's, which runs the same way)."""

    def __init__(
        self, start: datetime, scale: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.start = start
        self.scale = scale
        self._monotonic = monotonic
        self._real_start = monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(self._monotonic() - self._real_start) * self.scale)


class EpochClock:
    """A clock read from a function giving epoch seconds (a sandbox's simulated clock)."""

    def __init__(self, epoch: Callable[[], float]) -> None:
        self._epoch = epoch

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._epoch(), UTC)


class Deferred:
    """The clock `make()` gives, made when first read: a command that never asks the time
    (`oob runs`) neither reads the config for it nor asks a sandbox."""

    def __init__(self, make: Callable[[], Clock]) -> None:
        self._make = make
        self._clock: Clock | None = None

    def now(self) -> datetime:
        if self._clock is None:
            self._clock = self._make()
        return self._clock.now()


def clock_for(sandbox_url: str | None) -> Clock:
    """The clock of runs against the services of a config: the real one, or, for a sandbox
    (`sandbox_url`, where its control API answers), a clock in step with its simulated time."""
    if sandbox_url is None:
        return SystemClock()
    import httpx

    from oob.errors import ConfigError

    try:
        state = httpx.get(f"{sandbox_url.rstrip('/')}/_sandbox/state", timeout=10).json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ConfigError(
            f"the sandbox at {sandbox_url} does not answer ({exc})",
            hint="start it with `oob sandbox`, or point the config at real services",
        ) from None
    start = datetime.fromtimestamp(float(state["sim_epoch"]), UTC)
    return ScaledClock(start, float(state["time_scale"]))
