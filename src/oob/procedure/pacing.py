"""When a waiting phase looks at the world next: often only where a change is due.

A phase that waits on the world mostly knows when the change it waits for should come: a
queued build starts once Jenkins' quiet period is over, a running build ends near its start
plus its estimated duration, the release job names its commit when its wait ends. `pause`
spaces the looks by that: one long wait up to the window where the change is due, looks close
together inside it, then looks spaced more and more once the change is late. So a run reacts
within about `Pace.near` of each change it expects while asking the services little.

Everything here is in the run's clock and comes from step results (the phase's `now`, a
build's record): the workflow stays deterministic. `pause` is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Pace:
    """How looks are spaced, in seconds of the run's clock (`shortest`: real seconds)."""

    near: float = 0.5  # between two looks where a change is due
    spread: float = 0.1  # how early a build may end, as a share of its estimated duration...
    widest: float = 5.0  # ...but looks are `near` apart for at most this long before it
    quiet: float = 5.0  # how soon a triggered build is expected to start (Jenkins' quiet period)
    late: float = 4.0  # once a change is late by L seconds, look again after L / late
    patient: float = 60.0  # the longest pause for a change known to be far off, with no hold
    shortest: float = 0.02  # the shortest real pause, whatever the time scale


@dataclass(frozen=True)
class Due:
    """When a change is expected, and how many seconds early it may come."""

    at: datetime
    early: float = 0.0


def build_end(started_at: datetime, estimated_seconds: float | None, pace: Pace) -> Due | None:
    """When a build should end: its start plus its estimated duration (None without one)."""
    if not estimated_seconds:
        return None
    return Due(started_at + timedelta(seconds=estimated_seconds), pace.spread * estimated_seconds)


def start_after(moment: datetime, pace: Pace, queued: float | None = None) -> Due:
    """When a build triggered at `moment` (asked for, or its upstream ended) should start: after
    `queued` seconds, as long as the last one waited, else once the quiet period is over."""
    return Due(moment + timedelta(seconds=pace.quiet if queued is None else queued))


def pause(now: datetime, due: Due | None, pace: Pace, *, longest: float) -> float:
    """Seconds of the run's clock until the next look: at most `longest`, the pause when no
    change is expected; up to the window where `due` may come, then `pace.near` apart until
    it is due (and once at that moment), then longer and longer while it is late."""
    if due is None:
        return longest
    lead = (due.at - now).total_seconds()
    window = max(pace.near, min(due.early, pace.widest))
    if lead > window:
        return min(longest, lead - window)
    if lead > 0:
        return min(pace.near, lead)
    return min(longest, max(pace.near, -lead / pace.late))
