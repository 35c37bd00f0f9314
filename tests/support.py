"""Helpers shared by tests."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str, required_by: str) -> NoReturn:
    """Skip a test whose service or browser is missing, unless the environment requires it.

    A laptop without PostgreSQL or Chromium skips those tests, saying why; CI sets the
    `required_by` variable so that the same absence fails instead of passing silently.
    """
    if os.environ.get(required_by):
        pytest.fail(f"{reason}, and {required_by} is set: this machine must run these tests")
    pytest.skip(reason)


def preset_plan() -> dict[str, object]:
    """The plan of a run under the `va-cms` preset, as `oob deploy` freezes it."""
    from importlib import resources
    from pathlib import Path

    from oob.config import parse
    from oob.plan import freeze

    text = (resources.files("oob") / "presets" / "va-cms.toml").read_text(encoding="utf-8")
    return freeze(parse(text, Path("oob.toml")))
