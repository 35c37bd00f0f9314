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
