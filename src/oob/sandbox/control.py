"""The control API at `/_sandbox/`: state, ledger, reset, the manual clock, where Jenkins sends
its notifications (`/_sandbox/jenkins/notifications`), and the simulated
people's Slack clicks, submissions and commands (`/_sandbox/slack/...`, see `interactions`).

It is for tests, rehearsals and drill leaders, never faulted and not authenticated (the sandbox
binds to loopback by default).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oob.sandbox.errors import SandboxError
from oob.sandbox.interactions import Interactions
from oob.sandbox.ledger import iso
from oob.sandbox.scenario import scenario_names
from oob.sandbox.wire import json_body
from oob.sandbox.world import World


class Control:
    """The control endpoints over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        """State, ledger, scenarios, reset, advance; then, under `/slack/`, the Slack app's
        settings, what people do (click, submit, command) and what they see."""
        slack = Interactions(self.world)
        return [
            Route("/state", self.state, methods=["GET"]),
            Route("/ledger", self.ledger, methods=["GET"]),
            Route("/scenarios", self.scenarios, methods=["GET"]),
            Route("/reset", self.reset, methods=["POST"]),
            Route("/advance", self.advance, methods=["POST"]),
            Route("/jenkins/notifications", self.notifications, methods=["GET", "POST"]),
            Route("/slack/app", slack.app, methods=["GET", "POST"]),
            Route("/slack/click", slack.click, methods=["POST"]),
            Route("/slack/submit", slack.submit, methods=["POST"]),
            Route("/slack/command", slack.command, methods=["POST"]),
            Route("/slack/ephemeral", slack.ephemeral, methods=["GET"]),
            Route("/slack/views", slack.views, methods=["GET"]),
            Route("/slack/users", slack.users, methods=["GET"]),
        ]

    async def state(self, request: Request) -> Response:
        """GET /_sandbox/state."""
        with self.world.session() as world:
            return JSONResponse(world.state())

    async def ledger(self, request: Request) -> Response:
        """GET /_sandbox/ledger: accepted state-changing requests, oldest first."""
        return JSONResponse(self.world.ledger.entries())

    async def scenarios(self, request: Request) -> Response:
        """GET /_sandbox/scenarios: the names `reset` accepts."""
        return JSONResponse(scenario_names())

    async def reset(self, request: Request) -> Response:
        """POST /_sandbox/reset {scenario?, seed?}: rebuild the world from scratch."""
        body = await json_body(request)
        scenario, seed = body.get("scenario"), body.get("seed")
        if not isinstance(scenario, str | None) or not isinstance(seed, int | None):
            return JSONResponse({"error": "scenario is a name, seed an integer"}, 400)
        try:
            self.world.reset(scenario=scenario, seed=seed)
        except SandboxError as error:
            return JSONResponse({"error": error.message, "hint": error.hint}, 400)
        with self.world.session() as world:
            return JSONResponse(world.state())

    async def advance(self, request: Request) -> Response:
        """POST /_sandbox/advance {seconds}: move simulated time forward."""
        body = await json_body(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or seconds < 0:
            return JSONResponse({"error": "give a non-negative number of seconds"}, 400)
        now = self.world.advance(float(seconds))
        return JSONResponse({"sim_time": iso(now), "sim_epoch": now})

    async def notifications(self, request: Request) -> Response:
        """GET/POST /_sandbox/jenkins/notifications {url}: where Jenkins' Notification plugin
        sends each build's start and end ("" stops it)."""
        notifications = self.world.notifications
        if request.method == "POST":
            url = (await json_body(request)).get("url")
            if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))):
                return JSONResponse({"error": 'url is an http(s) URL, or "" to stop'}, 400)
            notifications.configure(url)
        return JSONResponse({"url": notifications.url, "sent": notifications.sent})
