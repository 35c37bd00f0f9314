"""`create_app`: the four services and the control API on one ASGI app.

Mounts: Jenkins at `/jenkins/`, the GitHub REST API at `/github/`, the Slack Web API at
`/slack/api/` (and its response_urls at `/slack/hooks/`), the CMS at `/cms/`, the control API
at `/_sandbox/`. The same app serves a real socket (`SandboxServer`) and in-process clients
(`httpx.ASGITransport`).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Message, Receive, Scope, Send

from oob.sandbox.cms import CmsSite
from oob.sandbox.control import Control
from oob.sandbox.faults import FaultPlan, Faults
from oob.sandbox.github import GitHubApi
from oob.sandbox.jenkins import JenkinsApi
from oob.sandbox.pages import Pages
from oob.sandbox.slack import SlackApi
from oob.sandbox.slack_hooks import Hooks
from oob.sandbox.world import Options, World

# Where each service answers: the requests to it are counted (`World.requests`).
SERVICES = (
    ("/jenkins/", "jenkins"),
    ("/github/", "github"),
    ("/slack/api/", "slack"),
    ("/cms/", "cms"),
)


class SandboxApp:
    """The ASGI app, with the world it serves at hand for in-process callers."""

    def __init__(self, world: World, faults: FaultPlan) -> None:
        self.world = world
        self.faults = faults
        routes = [
            Mount("/jenkins", routes=JenkinsApi(world).routes()),
            Mount("/github", routes=GitHubApi(world).routes()),
            Mount("/slack/api", routes=SlackApi(world).routes()),
            Mount("/slack/hooks", routes=Hooks(world).routes()),
            Mount("/cms", routes=CmsSite(world).routes()),
            Mount("/_sandbox", routes=Control(world).routes()),
            Mount("/web", routes=Pages(world).routes()),
        ]
        # The ledger is looked up per request: a reset replaces it.
        self._app = Faults(Starlette(routes=routes), faults, lambda: world.ledger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection, counting the requests to each service."""
        path = _route_path(scope) if scope["type"] == "http" else ""
        service = next((name for prefix, name in SERVICES if path.startswith(prefix)), None)
        if service is None:
            await self._app(scope, receive, send)
            return
        world = self.world
        world.requests[service] += 1

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 304:
                world.not_modified[service] += 1
            await send(message)

        await self._app(scope, receive, counted)


def _route_path(scope: Scope) -> str:
    """The request's path below the app's mount point (a fleet serves each world under its
    pipeline's prefix, `root_path`; `path` holds the prefix too, as ASGI says)."""
    path: str = scope.get("path", "")
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def create_app(
    world: World | None = None, *, options: Options | None = None, faults: FaultPlan | None = None
) -> SandboxApp:
    """The sandbox as an ASGI app over `world` (a new one built from `options` if not given)."""
    return SandboxApp(world or World(options), faults or FaultPlan())
