"""The dashboard's JSON API under `/api/`: who you are, the runs, starting one, the actions on
a run and the override of a status: all that the CLI does, for `oob` in server mode
(`oob.client`) as for any other client.

Every route knows its caller first (`oob.web.signin`): the bearer token's person, or the
signed-in browser's; every POST also carries the caller's CSRF token. A command is handed to
the same functions the CLI calls locally, so it is checked and recorded alike; a refusal
answers with the error the CLI would print and its exit code. A run answers with an `ETag`,
so that a client following it asks `If-None-Match` and gets 304 while nothing changed.

Its answers are described by `oob.web.api_models`, which its OpenAPI description publishes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse, Response

from oob.errors import OobError, RunNotFound
from oob.web.actions import perform, status_of
from oob.web.api_models import (
    ActionOut,
    ActionRequest,
    DeployOut,
    DeployRequest,
    ErrorOut,
    EventsOut,
    MeOut,
    OverrideOut,
    OverrideRequest,
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
_COMMAND: dict[int | str, dict[str, Any]] = {
    **_MISSING,
    400: {"model": ErrorOut, "description": "Bad input (a text, a commit), or a service failed"},
    409: {"model": ErrorOut, "description": "The run's state, or the pipeline's, does not take it"},
}
# The status of a run as `oob status` shows it: the latest events, unless asked for more.
_LATEST = Query(ge=1, le=1_000_000, description="How many of the latest events")


def api_routes(app: FastAPI, d: Dashboard) -> None:
    """Every route of the API: what it reads, then what it changes."""
    _reading_routes(app, d)
    _action_route(app, d)
    _command_routes(app, d)


def refused(error: OobError) -> Response:
    """The answer to a command refused: the error, its hint, and the exit code `oob` gives."""
    return JSONResponse(
        {"error": error.message, "hint": error.hint, "exit_code": error.exit_code},
        status_code=status_of(error),
    )


def _reading_routes(app: FastAPI, d: Dashboard) -> None:
    @app.get("/api/me", tags=["identity"], responses={200: {"model": MeOut}, **_REFUSED})
    async def api_me(identity: ApiPerson) -> Response:
        """Who you are, what your roles (in any pipeline) let you do, and the CSRF token for
        your POSTs."""
        roles = d.config.every_roles()
        may = [a.value for a in Action if any(identity.may(a, r) for r in roles)]
        csrf = d.auth.csrf_token(identity)
        return JSONResponse({"name": identity.name, "may": may, "csrf_token": csrf})

    @app.get("/api/runs", tags=["runs"], responses={200: {"model": RunsOut}, **_REFUSED})
    async def api_runs(
        _identity: ApiPerson, pipeline: str | None = None, active: bool = False
    ) -> Response:
        """Recent runs, active first, then the newest: of `pipeline`, the active ones only."""
        views = await d.call(lambda: d.views(pipeline, active=active))
        return JSONResponse({"runs": [run_out(view.run) for view in views]})

    @app.get(
        "/api/runs/{run_id}",
        tags=["runs"],
        responses={
            200: {"model": RunDetailOut},
            304: {"description": "Not changed since the `ETag` sent as `If-None-Match`"},
            **_MISSING,
        },
    )
    async def api_run(
        identity: ApiPerson,
        run_id: str,
        latest: Annotated[int, _LATEST] = 8,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        """One run: its state, ETA, stages (estimate and actual), builds and messages, and
        `oob status --json`'s object with its `latest` events; with an `ETag`."""
        try:
            view = await d.call(d.view_of, run_id)
        except RunNotFound as missing:
            return JSONResponse({"error": missing.message}, status_code=404)
        actions: list[str] = [a.value for a in available_actions(d.store, view.run, identity)]
        body = json.dumps(view_out(view, actions, latest=latest)).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        if if_none_match == etag:
            return Response(status_code=304, headers={"ETag": etag})
        return Response(body, media_type="application/json", headers={"ETag": etag})

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
            return refused(error)
        run = await d.call(d.store.run, run_id)
        return JSONResponse({"ok": True, "run": run_out(run)})


def _command_routes(app: FastAPI, d: Dashboard) -> None:
    _deploy_route(app, d)
    _override_route(app, d)


def _deploy_route(app: FastAPI, d: Dashboard) -> None:
    @app.post(
        "/api/runs",
        tags=["actions"],
        status_code=201,
        responses={201: {"model": DeployOut}, **_COMMAND},
    )
    async def api_deploy(identity: ApiActor, body: DeployRequest) -> Response:
        """Start an out-of-band deploy, checked as `oob deploy` checks it: your role, the
        texts, a free pipeline, the fix commit (`X-CSRF-Token` needed). A worker (`oob serve`'s
        own, or `oob worker`) executes it."""
        try:
            run, approvers = await d.call(d.deploy, identity.name, body)
        except OobError as error:
            return refused(error)
        answer = {"ok": True, "run": run_out(run), "approvers": approvers}
        return JSONResponse(answer, status_code=201)


def _override_route(app: FastAPI, d: Dashboard) -> None:
    @app.post(
        "/api/overrides",
        tags=["actions"],
        responses={200: {"model": OverrideOut}, **_COMMAND},
    )
    async def api_override(identity: ApiActor, body: OverrideRequest) -> Response:
        """Set a spuriously failing required status to success, as `oob override-status`
        does: decided on the pipeline's active run, or outside runs when none is
        (`X-CSRF-Token` needed)."""
        from oob.override import Override
        from oob.store import Source

        # Which run it is decided on is the override's to find: the pipeline's active one.
        asked: dict[str, Any] = {**body.model_dump(), "run_id": None}
        try:
            done = await d.call(
                lambda: d.settings.override_status(actor=identity.name, source=Source.WEB, **asked)
            )
        except OobError as error:
            return refused(error)
        assert isinstance(done, Override)  # what `oob.override.override_status` returns
        return JSONResponse(asdict(done))
