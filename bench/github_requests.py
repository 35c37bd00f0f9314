"""What one rehearsal costs in GitHub rate limit, with and without conditional requests.

Rehearses a scenario twice in-process: once as oob runs (its GitHub adapter sends
`If-None-Match` on repeated polls, and the sandbox answers an unchanged resource with a free 304),
once with the ETag cache bypassed. Prints the requests each counted against the primary limit,
read from the sandbox's `/_sandbox/state` (`github.requests_counted`, `requests_not_modified`).

Run: .venv/bin/python bench/github_requests.py [--scenario NAME] [--time-scale N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from oob.adapters.github import GitHubCodeHost
from oob.rehearse import rehearse
from oob.sandbox.server import SandboxServer


def measure(scenario: str, time_scale: float) -> dict[str, Any]:
    """Rehearse once; the sandbox's GitHub counters at the end."""
    seen: dict[str, Any] = {}
    state = SandboxServer.state

    def recording(self: SandboxServer) -> dict[str, Any]:
        data = state(self)
        seen.update(data.get("github", {}))
        return data

    SandboxServer.state = recording  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as drafts:
            result = rehearse(scenario, time_scale=time_scale, drafts=Path(drafts))
    finally:
        SandboxServer.state = state  # type: ignore[method-assign]
    return {"outcome": result.outcome, **seen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="happy")
    parser.add_argument("--time-scale", type=float, default=600)
    args = parser.parse_args()
    conditional = measure(args.scenario, args.time_scale)
    GitHubCodeHost._request = lambda self, method, url, **kw: self._http.request(  # type: ignore[method-assign]
        method, url, **kw
    )
    plain = measure(args.scenario, args.time_scale)
    for name, figures in (("conditional (as oob runs)", conditional), ("no ETags", plain)):
        print(
            f"{name:26} outcome {figures['outcome']}: {figures['requests_counted']} requests "
            f"counted, {figures['requests_not_modified']} answered 304 (free)"
        )


if __name__ == "__main__":
    main()
