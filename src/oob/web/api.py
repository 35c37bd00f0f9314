"""The dashboard's JSON API under `/api/`: who you are, the runs, and the actions on a run.

Its answers are described by `oob.web.api_models`, which its OpenAPI description publishes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from oob.errors import OobError, RunNotFound
from oob.web.actions import perform, status_of
from oob.web.api_models import (
    ActionOut,
    ActionRequest,
    ErrorOut,
    EventsOut,
    MeOut,
    RunDetailOut,
    RunsOut,
    event_out,
    run_out,
    view_out,
)
from oob.web.auth import Action
from oob.web.dashboard import Dashboard
from oob.web.signin import ApiActor, ApiPerson
from oob.web.views import available_actions

_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Not signed in"},
    403: {"model": ErrorOut, "description": "Refused"},
}
_MISSING: dict[int | str, dict[str, Any]] = {
    **_REFUSED,
    404: {"model": ErrorOut, "description": "No such run"},
}


def api_routes(app: FastAPI, d: Dashboard) -> None:
    """Every route of the API: what it reads, then what it changes."""
    _reading_routes(app, d)
    _action_route(app, d)


def _reading_routes(app: FastAPI, d: Dashboard) -> None:
    @app.get("/api/me", tags=["identity"], responses={200: {"model": MeOut}, **_REFUSED})
    async def api_me(identity: ApiPerson) -> Response:
        """Who you are, what your roles let you do, and the CSRF token for your POSTs."""
        return JSONResponse(
            {
                "name": identity.name,
                "may": [a.value for a in Action if identity.may(a, d.config.roles)],
                "csrf_token": d.auth.csrf_token(identity),
            }
        )

    @app.get("/api/runs", tags=["runs"], responses={200: {"model": RunsOut}, **_REFUSED})
    async def api_runs(_identity: ApiPerson) -> Response:
        """Recent runs, active first, then the newest."""
        views = await d.call(d.views)
        return JSONResponse({"runs": [run_out(view.run) for view in views]})

    @app.get(
        "/api/runs/{run_id}", tags=["runs"], responses={200: {"model": RunDetailOut}, **_MISSING}
    )
    async def api_run(identity: ApiPerson, run_id: str) -> Response:
        """One run: its state, ETA, stages (estimate and actual), builds and messages."""
        try:
            view = await d.call(d.view_of, run_id)
        except RunNotFound as missing:
            return JSONResponse({"error": missing.message}, status_code=404)
        actions: list[str] = [a.value for a in available_actions(d.store, view.run, identity)]
        return JSONResponse(view_out(view, actions))

    @app.get(
        "/api/runs/{run_id}/events",
        tags=["runs"],
        responses={200: {"model": EventsOut}, **_MISSING},
    )
    async def api_events(_identity: ApiPerson, run_id: str, after: int = 0) -> Response:
        """The run's timeline and audit log, oldest first, after event id `after`."""
        try:
            await d.call(d.store.run, run_id)
        except RunNotFound as missing:
            return JSONResponse({"error": missing.message}, status_code=404)
        events = await d.call(lambda: d.store.events(run_id, after=after))
        return JSONResponse({"events": [event_out(e) for e in events]})


def _action_route(app: FastAPI, d: Dashboard) -> None:
    @app.post(
        "/api/runs/{run_id}/actions/{action}",
        tags=["actions"],
        responses={
            200: {"model": ActionOut},
            **_MISSING,
            400: {"model": ErrorOut, "description": "A reason is missing or a text too long"},
            409: {"model": ErrorOut, "description": "The run's state does not take it"},
        },
    )
    async def api_action(
        identity: ApiActor, run_id: str, action: Action, body: ActionRequest
    ) -> Response:
        """Approve, deny, cancel, confirm or reject the fix, or override a status
        (`X-CSRF-Token` needed)."""
        try:
            await d.call(perform, d.settings, action, run_id, identity.name, body)
        except OobError as error:
            return JSONResponse(
                {"error": error.message, "hint": error.hint}, status_code=status_of(error)
            )
        run = await d.call(d.store.run, run_id)
        return JSONResponse({"ok": True, "run": run_out(run)})
