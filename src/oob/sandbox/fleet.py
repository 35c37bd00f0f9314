"""A fleet: many pipelines in one sandbox (`oob sandbox --pipelines N`).

Each pipeline, `p001` to `pNNN`, is a world of its own (its repository, Jenkins, Slack
workspace and CMS) playing its own scenario, drawn from a seeded mix, with its own seed, and
served under its prefix: `/p001/jenkins/`, `/p001/github`, `/p001/_sandbox/state`, ... All
worlds share one simulated clock, so that the one clock of oob's runs (read from the first
pipeline's sandbox) is every world's. A world is built when it is first asked for: a fleet of
hundreds starts at once, and a pipeline nobody runs costs nothing.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import replace

from starlette.types import Receive, Scope, Send

from oob.errors import UsageError
from oob.sandbox.app import SandboxApp
from oob.sandbox.clock import SimClock
from oob.sandbox.faults import FaultPlan
from oob.sandbox.options import Options
from oob.sandbox.world import World

MOST = 999  # pipelines are named p001 to p999


def pipeline_names(count: int) -> list[str]:
    """The names of a fleet of `count` pipelines: p001, p002, ..."""
    return [f"p{number:03d}" for number in range(1, count + 1)]


def parse_mix(text: str) -> dict[str, float]:
    """`happy=0.8,wrong-commit=0.2` as scenario weights; a mistake is a UsageError."""
    from oob.sandbox.scenario import scenario_names

    known = scenario_names()
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.strip().partition("=")
        name = name.strip()
        if name not in known:
            raise UsageError(
                f"--mix names an unknown scenario {name!r}", hint=f"known: {', '.join(known)}"
            )
        try:
            share = float(weight) if weight.strip() else 1.0
        except ValueError:
            share = -1.0
        if not math.isfinite(share) or share < 0:
            raise UsageError(f"--mix gives {name} the weight {weight!r}: give a number >= 0")
        mix[name] = mix.get(name, 0.0) + share
    if sum(mix.values()) <= 0:
        raise UsageError("--mix gives every scenario the weight 0")
    return mix


def draw(mix: dict[str, float], count: int, seed: int) -> list[str]:
    """The scenario of each of `count` pipelines, drawn from `mix` with `seed`: same seed, same
    fleet."""
    rng = random.Random(f"fleet-{seed}")  # noqa: S311 - a simulation's draw, not a secret
    return rng.choices(list(mix), weights=list(mix.values()), k=count)


class Fleet:
    """The ASGI app of a fleet: each request goes to the world of its path's pipeline."""

    def __init__(
        self, options: Options, scenarios: list[str], base_url: str, faults: FaultPlan
    ) -> None:
        start = options.start if options.start is not None else float(math.floor(time.time()))
        self.clock = SimClock(start, options.time_scale)
        self.faults = faults
        self.options = {
            name: replace(
                options,
                scenario=scenario,
                seed=options.seed + number,
                start=start,
                public_url=f"{base_url.rstrip('/')}/{name}",
            )
            for number, (name, scenario) in enumerate(
                zip(pipeline_names(len(scenarios)), scenarios, strict=True)
            )
        }
        self._apps: dict[str, SandboxApp] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.options)

    def app(self, name: str) -> SandboxApp:
        """The app of pipeline `name`, its world built on first use."""
        with self._lock:
            app = self._apps.get(name)
            if app is None:
                world = World(self.options[name], clock=self.clock)
                app = self._apps[name] = SandboxApp(world, self.faults)
            return app

    def world(self, name: str) -> World:
        return self.app(name).world

    def built(self) -> list[str]:
        """The pipelines whose world has been built (asked for) so far."""
        with self._lock:
            return sorted(self._apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        name = path.split("/", 2)[1] if path.startswith("/") else ""
        if scope["type"] != "http" or name not in self.options:
            await _not_found(scope, send, self.names)
            return
        root = scope.get("root_path", "") + "/" + name
        await self.app(name)(dict(scope, root_path=root), receive, send)


async def _not_found(scope: Scope, send: Send, names: list[str]) -> None:
    if scope["type"] != "http":
        return
    body = f"Not Found: this sandbox serves pipelines under /{names[0]}/ to /{names[-1]}/\n"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
