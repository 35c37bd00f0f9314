"""Production as the sandbox keeps it: the CMS's deployed release and its deploy shield."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Cms:
    """What production runs, and whether the deploy shield is up."""

    deployed_sha: str | None = None
    tag: str | None = None
    deployed_at: float | None = None
    deploys_running: int = 0

    @property
    def shield_up(self) -> bool:
        """True while a production deploy runs: editors get the maintenance page."""
        return self.deploys_running > 0
