"""The sandbox's one error: bad input to it (an unknown scenario, a bad option), exit code 2."""

from __future__ import annotations

from oob.errors import UsageError


class SandboxError(UsageError):
    """The sandbox cannot do what was asked (unknown scenario, invalid option or data)."""
