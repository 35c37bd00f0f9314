"""What the Slack modules share: Slack's `ok: false` error and its JSON-in-a-form arguments."""

from __future__ import annotations

import json
from typing import Any


class SlackError(Exception):
    """An `ok: false` answer with Slack's error code (and details such as `needed`)."""

    def __init__(self, error: str, **details: Any) -> None:
        super().__init__(error)
        self.error = error
        self.details = details


def json_arg(value: Any) -> Any:
    """Form bodies carry `blocks`, `view` and `metadata` as JSON strings; JSON bodies as
    objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
    return value
