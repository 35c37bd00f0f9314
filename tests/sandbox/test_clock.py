"""The sandbox's simulated clock (`oob.sandbox.clock`)."""

from __future__ import annotations

from oob.sandbox.clock import SimClock


def test_a_paused_clock_stands_at_its_start_until_resumed() -> None:
    """A rehearsal's world waits for its run: oob's start-up takes no simulated time."""
    real = [100.0]
    clock = SimClock(1_000.0, 60, lambda: real[0], paused=True)
    real[0] = 110.0  # ten real seconds of start-up
    assert clock.now() == 1_000.0
    assert clock.advance(30) == 1_030.0  # a drill may still skip ahead
    clock.resume()
    real[0] = 111.0
    assert clock.now() == 1_090.0  # one real second later: a simulated minute
    clock.resume()  # once running, resuming again changes nothing
    assert clock.now() == 1_090.0


def test_a_clock_runs_from_its_start_by_default() -> None:
    real = [100.0]
    clock = SimClock(1_000.0, 60, lambda: real[0])
    real[0] = 101.0
    assert clock.now() == 1_060.0
