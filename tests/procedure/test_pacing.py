"""Looks at the world are spaced by what the run expects next (`oob.procedure.pacing`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from oob.procedure.pacing import Due, Pace, build_end, pause, start_after

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
PACE = Pace()
LONGEST = 10.0


def looks(due: Due | None, until: float) -> list[float]:
    """The moments (seconds after T0) a phase looks, from T0 to `until`."""
    at, seen = 0.0, []
    while at < until:
        at += pause(T0 + timedelta(seconds=at), due, PACE, longest=LONGEST)
        seen.append(round(at, 3))
    return seen


def test_nothing_expected_looks_at_the_longest_pause() -> None:
    assert pause(T0, None, PACE, longest=LONGEST) == LONGEST


def test_a_change_far_ahead_is_waited_for_in_long_pauses_then_looked_for_closely() -> None:
    due = Due(T0 + timedelta(seconds=60), early=2.0)
    seen = looks(due, 60)
    assert seen[:5] == [10.0, 20.0, 30.0, 40.0, 50.0]
    # From the start of its window, a look every `near` seconds, and one at the moment itself.
    window = [t for t in seen if t >= 58]
    assert window == [58.0, 58.5, 59.0, 59.5, 60.0]


def test_a_late_change_is_looked_for_less_and_less_often() -> None:
    seen = looks(Due(T0), 120)
    gaps = [b - a for a, b in pairwise(seen)]
    assert all(b >= a - 1e-6 for a, b in pairwise(gaps))
    assert gaps[0] == PACE.near
    assert max(gaps) == pytest.approx(LONGEST)


def test_looks_are_near_apart_only_in_a_window_of_bounded_width() -> None:
    # A two-hour build may end 12 minutes early, but the close looks last `widest` seconds.
    due = build_end(T0, 7200, PACE)
    assert due is not None
    assert due.early == pytest.approx(720)
    seen = looks(due, 7200)
    close = [b for a, b in pairwise(seen) if b - a <= PACE.near]
    assert close[0] == pytest.approx(7200 - PACE.widest + PACE.near)
    assert len(close) == PACE.widest / PACE.near


def test_a_build_without_an_estimate_has_no_expected_end() -> None:
    assert build_end(T0, None, PACE) is None
    assert build_end(T0, 0, PACE) is None


def test_a_triggered_build_is_expected_after_the_quiet_period() -> None:
    due = start_after(T0, PACE)
    assert due.at == T0 + timedelta(seconds=PACE.quiet)
    seen = looks(due, 8)
    assert seen[0] == PACE.quiet - PACE.near
    # Looks stay close while the start is only a little late (Jenkins' executors pick it up).
    assert all(b - a <= 1.0 for a, b in pairwise(seen))


@pytest.mark.parametrize("minutes", [1, 5, 30])
def test_a_window_costs_few_looks_per_change(minutes: float) -> None:
    """Requests per change stay bounded: about the window over `near`, plus the long pauses."""
    seconds = minutes * 60
    due = build_end(T0, seconds, PACE)
    count = len(looks(due, seconds))
    assert count <= seconds / LONGEST + 2 * PACE.widest / PACE.near + 2
