"""How a sandbox world is set up: its scenario, seed, clock, address, credentials and drills."""

from __future__ import annotations

from dataclasses import dataclass

from oob.sandbox.workspace import signing_secret


@dataclass(frozen=True)
class Options:
    """How a world is set up; `reset` rebuilds the world from these."""

    scenario: str = "happy"
    seed: int = 0
    time_scale: float = 60.0
    start: float | None = None
    paused: bool = False
    """The clock stands at `start` until `world.clock.resume()`: a rehearsal resumes it as it
    starts its run, so that the scenario's times count from the run's start, not oob's."""
    public_url: str = "http://127.0.0.1:8765"
    user: str = "oob"
    token: str = "sandbox-token"  # noqa: S105 (the sandbox's well-known fake credential)
    github_rate_limit: int = 5000
    """Requests per hour (real time) GitHub allows the token; a drill can make it small."""
    github_admin: bool = False
    """The token's user administers the repository (may read and change branch protection)."""
    hold_required: bool = False
    """The branch protection of main requires `oob/merge-hold` besides the CI contexts."""
    actions_layout: str = "jobs"
    """Where the release workflow deploys: in its own `deploy` job (`jobs`), or in a run of
    `deploy.yml` its success triggers (`workflows`)."""
    actions_dispatch: str = "details"
    """How a `workflow_dispatch` answers: `details` (200 with the run when asked, as GitHub
    since February 2026), `no-content` (always 204, as older GitHub Enterprise Servers), or
    `refuse` (422 to `return_run_details`, as servers that validate the body strictly)."""

    @property
    def signing_secret(self) -> str:
        """The sandbox Slack app's signing secret, with which it signs what it sends oob."""
        return signing_secret(self.token)
