"""The CMS as editors and probes see it, mounted at `/cms/`.

`/cms/health` always answers 200 (the load balancer's check stays up during deploys). Editor
pages answer 503 with `Retry-After: 120` and the maintenance page while the production deploy
runs (the deploy shield), 500 while the scenario's bug is live, and 200 otherwise.
`/cms/version` reports the deployed commit and release tag.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from oob.sandbox.ledger import iso
from oob.sandbox.world import World

SHIELD_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Site under maintenance | VA.gov CMS</title></head>
<body><h1>The CMS is being updated</h1>
<p>A deployment is in progress. Editing is unavailable for a few minutes; please try again
shortly. Your saved work is safe.</p></body></html>
"""
ERROR_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Error | VA.gov CMS</title></head>
<body><h1>Error</h1><p>The website encountered an unexpected error. Please try again later.</p>
</body></html>
"""
LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Log in | VA.gov CMS</title></head>
<body><h1>Log in</h1><a href="{root}/cms/user/login/piv">Log in with PIV</a></body></html>
"""


class CmsSite:
    """The CMS endpoints over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        """Health and version, then every other path as an editor page."""
        return [
            Route("/health", self.health, methods=["GET", "HEAD"]),
            Route("/version", self.version, methods=["GET"]),
            Route("/", self.page, methods=["GET", "HEAD", "POST"]),
            Route("/{path:path}", self.page, methods=["GET", "HEAD", "POST"]),
        ]

    async def health(self, request: Request) -> Response:
        """Always up: the shield covers editor pages, not the health check."""
        return JSONResponse({"status": "ok"})

    async def version(self, request: Request) -> Response:
        """The deployed commit and release tag."""
        with self.world.session() as world:
            cms = world.cms
            return JSONResponse(
                {
                    "commit": cms.deployed_sha,
                    "tag": cms.tag,
                    "deployed_at": iso(cms.deployed_at) if cms.deployed_at else None,
                    "deploy_in_progress": cms.shield_up,
                }
            )

    async def page(self, request: Request) -> Response:
        """An editor page: shield, the scenario's bug, or the page."""
        with self.world.session() as world:
            status = world.login_status()
        if status == 503:
            return HTMLResponse(SHIELD_PAGE, 503, headers={"Retry-After": "120"})
        if status == 500:
            return HTMLResponse(ERROR_PAGE, 500)
        # Under the prefix the sandbox is served under (a fleet's pipeline), where it is.
        return HTMLResponse(LOGIN_PAGE.format(root=request.scope.get("app_root_path", "")))
