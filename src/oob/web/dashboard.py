"""What the dashboard's routes share: its settings, its templates, and the runs it reads.

Every page is rendered for the person asking: the actions offered are those their role allows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from oob.eta import format_minutes
from oob.store import Run
from oob.web.api_models import DeployRequest
from oob.web.auth import Action, Identity
from oob.web.fleet import counts, glance
from oob.web.settings import Settings
from oob.web.views import ANNOUNCED, STATE_LABELS, RunView, available_actions, run_view

# The sections of the run page that the live stream replaces, by element id.
LIVE_SECTIONS = ("state", "actions", "chart", "builds", "messages", "events")
# The sections of the runs page that its live stream replaces.
RUNS_SECTIONS = ("fleet", "history")

# What a live stream reads: the page's sections as rendered now, and whether they may change.
Sections = tuple[dict[str, str], bool]


@dataclass(frozen=True)
class Refusal:
    """An action the page's form asked for and was refused: why, and which field was wrong."""

    action: Action
    message: str
    field: str | None = None


def dashboard_of(request: Request) -> Dashboard:
    """The dashboard the app serving `request` was made for."""
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard


class Dashboard:
    """What the routes share: rendering pages, reading runs, following a run live."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = settings.config
        self.store = settings.store
        self.auth = settings.authenticator
        self.sso = self.config.web is None or self.config.web.identity == "sso"
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("oob.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["minutes"] = format_minutes
        self.templates.globals["ANNOUNCED"] = ANNOUNCED

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(sso=self.sso, **values)
        return HTMLResponse(html, status_code=status)

    def error_page(self, status: int, message: str, identity: Identity | None = None) -> Response:
        csrf = "" if identity is None else self.auth.csrf_token(identity)
        return self.page("error.html", status, message=message, identity=identity, csrf=csrf)

    @staticmethod
    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        # The store and the commands are synchronous (DB-API drivers, DBOS): off the event loop.
        return await anyio.to_thread.run_sync(fn, *args)

    def deploy(self, actor: str, body: DeployRequest) -> tuple[Run, list[str]]:
        """Start the deploy `actor` asks for (the API's and the deploy form's), checked as
        `oob deploy` checks it; the run, and who may approve it."""
        from oob.commands import Control, checked_request
        from oob.states import Source

        config = self.config.pick(body.pipeline)
        texts, wait = body.texts(), body.release_wait_minutes
        ask = checked_request(lambda: self.store, config, actor, body.fix, texts, wait, Source.WEB)
        run = Control(self.store, self.store.url).start(
            config, ask, source=Source.WEB, approval_timeout_minutes=body.approval_timeout_minutes
        )
        return run, list(config.roles.approvers)

    def view_of(self, run_id: str) -> RunView:
        now = self.store.clock.now()
        return run_view(self.store, self.config, run_id, now)

    def views(self, pipeline: str | None = None, *, active: bool = False) -> list[RunView]:
        """Recent runs, active first, newest first within each group (of `pipeline` only, the
        active ones only)."""
        runs = self.store.runs(pipeline=pipeline, active=active)
        views = [self.view_of(run.id) for run in runs]
        return sorted(views, key=lambda v: not v.run.active)

    def runs_sections(self, identity: Identity) -> Sections:
        """The runs page's sections: each pipeline's counts and active runs, then the history.
        They may always change: a run can start at any time."""
        views = self.views()
        values = {
            "fleet": glance(counts(self.store), STATE_LABELS),
            "active": [v for v in views if v.run.active],
            "ended": [v for v in views if not v.run.active],
        }
        rendered = {
            name: self.templates.get_template(f"_{name}.html").render(**values)
            for name in RUNS_SECTIONS
        }
        return rendered, True

    def run_sections(self, run_id: str, identity: Identity) -> Sections:
        """The run page's live sections, which change until the run ends."""
        view = self.view_of(run_id)
        return self.sections(view, identity), view.run.active

    def run_values(
        self, view: RunView, identity: Identity, refused: Refusal | None = None
    ) -> dict[str, Any]:
        return {
            "view": view,
            "run": view.run,
            "identity": identity,
            "csrf": self.auth.csrf_token(identity),
            "actions": available_actions(self.store, view.run, identity),
            "contexts": self.store.plan(view.run.id)["services"]["github"]["required_contexts"],
            "Action": Action,
            "refused": refused,
        }

    def sections(
        self, view: RunView, identity: Identity, refused: Refusal | None = None
    ) -> dict[str, str]:
        values = self.run_values(view, identity, refused)
        return {
            name: self.templates.get_template(f"_{name}.html").render(**values)
            for name in LIVE_SECTIONS
        }

    def run_page(
        self,
        view: RunView,
        identity: Identity,
        *,
        status: int = 200,
        notice: str | None = None,
        refused: Refusal | None = None,
    ) -> Response:
        """The run page; after a `refused` action, with its form open and the error tied to it."""
        return self.page(
            "run.html",
            status,
            notice=notice,
            live=self.sections(view, identity, refused),
            **self.run_values(view, identity, refused),
        )

    async def live(self, read: Callable[[], Sections]) -> AsyncIterator[str]:
        """Server-sent events: the page's sections (as `read` renders them) that changed, until
        `read` says they no longer can (the run ended)."""
        last: dict[str, str] = {}
        quiet = 0.0
        while True:
            now, going_on = await self.call(read)
            if now != last:
                # Only what changed: a form someone is filling in stays put otherwise.
                changed = {k: v for k, v in now.items() if last.get(k) != v}
                yield f"event: sections\ndata: {json.dumps(changed)}\n\n"
                last, quiet = now, 0.0
            elif quiet >= self.settings.keepalive_seconds:
                yield ": keepalive\n\n"  # a comment: keeps proxies from closing an idle stream
                quiet = 0.0
            if not going_on:
                yield "event: end\ndata: {}\n\n"
                return
            await anyio.sleep(self.settings.poll_seconds)
            quiet += self.settings.poll_seconds
