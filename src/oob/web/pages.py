"""The dashboard's pages: the runs, a run with its actions, and each page's live stream.

A form's action that is refused shows the run page again, its form open and the error beside
the field; one that is taken redirects to the run page with a notice of what was done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.responses import StreamingResponse

from oob.errors import OobError, RunNotFound
from oob.web.actions import action_request, perform, status_of
from oob.web.auth import Action
from oob.web.dashboard import Dashboard, Refusal
from oob.web.signin import PagePerson, SignedForm

NOTICES = {
    Action.APPROVE: "You approved the deploy.",
    Action.DENY: "You denied the deploy.",
    Action.CANCEL: "You cancelled the run.",
    Action.CONFIRM_FIX: "You confirmed the fix.",
    Action.REJECT_FIX: "You reported that the fix does not work.",
    Action.OVERRIDE_STATUS: "You overrode the status.",
}


def page_routes(app: FastAPI, d: Dashboard) -> None:
    """`/` and its live stream `/stream`, `/runs/{run_id}`, its actions' forms and its stream."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def runs_page(identity: PagePerson) -> Response:
        live, _ = await d.call(d.runs_sections, identity)
        return d.page("runs.html", live=live, identity=identity, csrf=d.auth.csrf_token(identity))

    @app.get("/stream", include_in_schema=False)
    async def runs_stream(identity: PagePerson) -> Response:
        return _stream(d.live(partial(d.runs_sections, identity)))

    @app.get("/runs/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    async def run_page(identity: PagePerson, run_id: str, done: str = "") -> Response:
        try:
            view = await d.call(d.view_of, run_id)
        except RunNotFound as missing:
            return d.error_page(404, missing.message, identity)
        notice = next((NOTICES[a] for a in Action if a.value == done), None)
        return d.run_page(view, identity, notice=notice)

    @app.post("/runs/{run_id}/actions/{action}", include_in_schema=False)
    async def run_action(
        identity: PagePerson, form: SignedForm, run_id: str, action: Action
    ) -> Response:
        try:
            body = action_request(form)
            await d.call(perform, d.settings, action, run_id, identity.name, body)
        except OobError as error:
            try:
                view = await d.call(d.view_of, run_id)
            except RunNotFound:
                return d.error_page(404, error.message, identity)
            refused = Refusal(action, str(error), getattr(error, "field", None))
            return d.run_page(view, identity, status=status_of(error), refused=refused)
        return RedirectResponse(f"/runs/{quote(run_id)}?done={action.value}", status_code=303)

    @app.get("/runs/{run_id}/stream", include_in_schema=False)
    async def run_stream(identity: PagePerson, run_id: str) -> Response:
        try:
            await d.call(d.store.run, run_id)
        except RunNotFound as missing:
            return d.error_page(404, missing.message, identity)
        return _stream(d.live(partial(d.run_sections, run_id, identity)))


def _stream(events: AsyncIterator[str]) -> Response:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},  # proxies must pass each event on at once
    )
