"""The dashboard's ASGI app: server-rendered pages, a live stream per run, and the JSON API.

Views only translate: they identify the person (`oob.web.signin`), check the CSRF token of every
state-changing request, read runs through the store, and hand actions to the same command
functions the CLI calls (`oob.web.actions`), which check roles and states and write the audit
log. The pages are in `oob.web.pages`, the API in `oob.web.api`, signing in in `oob.web.login`,
`GET /metrics` in `oob.web.metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from oob import __version__
from oob.web.api import api_routes
from oob.web.auth import CSRF_HEADER
from oob.web.dashboard import Dashboard
from oob.web.deploy_page import deploy_routes
from oob.web.login import login_routes
from oob.web.metrics import metrics_routes
from oob.web.pages import page_routes
from oob.web.settings import Settings
from oob.web.signin import handle_answers

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings) -> FastAPI:
    """The dashboard app for one config and store."""
    web = settings.config.web
    app = FastAPI(
        title="oob dashboard",
        version=__version__,
        description=(
            "Out-of-band deploy runs, their timelines, and the actions people take on them. "
            + (
                "Authenticate with `Authorization: Bearer <token>`. "
                if web is not None and web.identity == "tokens"
                else "Requests come through the single-sign-on proxy. "
            )
            + f"Every POST carries `{CSRF_HEADER}`: the `csrf_token` of `GET /api/me`."
        ),
        docs_url=None,  # the Swagger page loads its scripts from a CDN, which may be unreachable
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.mount("/static", StaticFiles(packages=[("oob.web", "static")]), name="static")
    app.middleware("http")(_security_headers)
    app.state.dashboard = dashboard = Dashboard(settings)
    handle_answers(app)
    page_routes(app, dashboard)
    deploy_routes(app, dashboard)
    login_routes(app, dashboard)
    api_routes(app, dashboard)
    metrics_routes(app, dashboard)
    if settings.slack is not None:
        from oob.web.slack import routes

        app.include_router(routes(settings.slack))
    if settings.hooks is not None:
        from oob.web import hooks

        app.include_router(hooks.routes(settings.hooks))
    return app


async def _security_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
    response: Response = await call_next(request)
    # No inline script or style anywhere, so the strictest policy holds.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response
