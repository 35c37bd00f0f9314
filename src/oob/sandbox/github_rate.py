"""GitHub's primary rate limit as the sandbox counts it against the token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GitHubRate:
    """GitHub's primary rate limit of the token: an hourly window in real time (clients sleep
    until `X-RateLimit-Reset` in real seconds), and what was counted against it."""

    limit: int
    window_start: float = 0.0
    used: int = 0
    counted: int = 0
    """Requests that cost rate limit since the world was built (all windows)."""
    not_modified: int = 0
    """Conditional requests answered 304, which cost nothing."""

    def window(self, now: float) -> None:
        """Open a new window when the hour is over."""
        if now - self.window_start >= 3600:
            self.window_start, self.used = now, 0

    @property
    def remaining(self) -> int:
        """Requests left in this window."""
        return max(0, self.limit - self.used)

    @property
    def reset(self) -> int:
        """Epoch second the window ends."""
        return int(self.window_start + 3600)
