"""Found by the fault soak: the postmortem's pull request was lost when GitHub's answer to one
of its writes was lost (a 502 or a dropped connection after the write took effect). Each write
here loses its first answer, deterministically; the pull request must still open, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.rehearse import rehearse
from oob.sandbox.faults import FaultPlan


@pytest.mark.parametrize("path", ["/git/refs", "/contents/", "/pulls"])
def test_the_pull_request_opens_once_when_an_answer_is_lost(path: str, tmp_path: Path) -> None:
    plan = FaultPlan(rate=0, lose_first=(path,), slow_seconds=0.5, retry_after_seconds=1)
    result = rehearse("happy", time_scale=600, drafts=tmp_path, faults=plan)
    assert result.outcome == "resolved"
    assert result.side_effects["pull_requests_opened"] == 1


@pytest.mark.parametrize("seed", [1])
def test_the_pull_request_opens_under_faults(seed: int, tmp_path: Path) -> None:
    """Seed 1 of the soak: GitHub answers 500 to the pull request's creation (before it takes
    effect); a repeat is safe (422 "already exists" finds it), so it is sent again."""
    plan = FaultPlan(rate=0.2, seed=seed, slow_seconds=0.5, retry_after_seconds=1)
    result = rehearse("happy", time_scale=600, drafts=tmp_path, faults=plan)
    assert result.outcome == "resolved"
    assert result.side_effects["pull_requests_opened"] == 1
