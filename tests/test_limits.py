"""Limits of people's text: they fit Slack's and GitHub's, and bad text is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import parse
from oob.errors import UsageError
from oob.limits import (
    APPROVAL_OVERHEAD,
    GITHUB_BODY_MAX,
    SLACK_GROWTH,
    SLACK_MESSAGE_MAX,
    TEXT_LIMITS,
    check_text,
)
from oob.messages import Messages


def test_the_approval_request_at_every_limit_fits_slack(preset_text: str, tmp_path: Path) -> None:
    approval = ("symptoms", "affects", "cause", "fix_summary")
    limits = {f: TEXT_LIMITS["--" + f.replace("_", "-")] for f in approval}
    assert SLACK_GROWTH * sum(limits.values()) + APPROVAL_OVERHEAD < SLACK_MESSAGE_MAX
    messages = Messages(parse(preset_text, tmp_path / "oob.toml"))
    values = {f: "&" * limits[f] for f in approval}
    values |= {"pipeline": "va-cms", "run_id": "r" * 24, "requester": "x" * 64}
    values |= {"fix_short": "abcdef0", "eta": "3 h 21 min", "run_url": "https://" + "u" * 200}
    text = messages.render("approval_request", "product_owner", values)
    assert len(text) < SLACK_MESSAGE_MAX
    assert 2 * max(TEXT_LIMITS.values()) < GITHUB_BODY_MAX


def test_text_within_the_limit_is_kept() -> None:
    assert check_text("--symptoms", "  editors cannot log in\r\nsince 9:00\t(all)  ") == (
        "editors cannot log in\nsince 9:00\t(all)"
    )
    assert check_text("--cause", "x" * TEXT_LIMITS["--cause"]) == "x" * TEXT_LIMITS["--cause"]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("--symptoms", "x" * (TEXT_LIMITS["--symptoms"] + 1), "--symptoms is 2,001 characters"),
        ("--fix-summary", "revert \udcff it", "--fix-summary is not valid UTF-8"),
        ("--reason", "a\x00b\x1bc", "--reason holds control characters (U+0000, U+001B)"),
    ],
)
def test_bad_text_is_refused_in_one_line(field: str, value: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_text(field, value)
    assert caught.value.message.startswith(says)
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("release_wait = 15", "release_wait = inf"),
        ("estimate_minutes = 7", "estimate_minutes = inf"),
    ],
)
def test_durations_are_finite_and_at_most_a_day(preset_text: str, old: str, new: str) -> None:
    from oob.errors import ConfigError

    assert old in preset_text
    with pytest.raises(ConfigError, match=r"less than or equal to 1440|finite"):
        parse(preset_text.replace(old, new, 1), Path("oob.toml"))
    with pytest.raises(ConfigError, match="less than or equal to 1440"):
        parse(preset_text.replace(old, new.replace("inf", "1441"), 1), Path("oob.toml"))
    parse(preset_text.replace(old, new.replace("inf", "1440"), 1), Path("oob.toml"))
