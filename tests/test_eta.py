"""Lead-time arithmetic against the runbook's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import load
from oob.errors import UsageError
from oob.eta import format_minutes, lead_time, remaining_minutes


@pytest.fixture
def pipeline(preset_file: Path):  # type: ignore[no-untyped-def]
    return load(preset_file).pipeline


def test_whole_lead_time(pipeline) -> None:  # type: ignore[no-untyped-def]
    result = lead_time(pipeline)
    assert result.total_minutes == 201
    assert [leg.remaining_after_minutes for leg in result.legs] == [
        196,
        146,
        121,
        86,
        85,
        30,
        15,
        8,
        7,
        0,
    ]


def test_from_the_post_deploy_tests(pipeline) -> None:  # type: ignore[no-untyped-def]
    result = lead_time(pipeline, "testing/cms-post-deploy-tests-staging")
    assert result.legs[0].stage.name == "testing/cms-post-deploy-tests-staging"
    assert result.total_minutes == 85
    assert format_minutes(result.total_minutes) == "1 h 25 min"


def test_learned_estimates_replace_configured_ones(pipeline) -> None:  # type: ignore[no-untyped-def]
    result = lead_time(pipeline, "deploys/cms-auto-deploy", {"deploys/cms-vagov-prod": 12})
    assert result.total_minutes == 15 + 7 + 1 + 12


def test_unknown_stage_lists_the_real_ones(pipeline) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as info:
        lead_time(pipeline, "deploys/nope")
    assert info.value.hint is not None
    assert "releases/cms" in info.value.hint


def test_remaining_during_a_stage(pipeline) -> None:  # type: ignore[no-untyped-def]
    assert remaining_minutes(pipeline, "cms/cms-full-pipeline", 3) == 4 + 8
    # a stage past its estimate counts as about to finish
    assert remaining_minutes(pipeline, "cms/cms-full-pipeline", 30) == 8


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(201, "3 h 21 min"), (45, "45 min"), (120, "2 h"), (0, "0 min"), (59.6, "1 h")],
)
def test_format_minutes(minutes: float, text: str) -> None:
    assert format_minutes(minutes) == text
