"""The dashboard's ASGI app: server-rendered pages, a live stream per run, and the JSON API.

Views only translate: they identify the person (`oob.web.auth`), check the CSRF token of every
state-changing request, read runs through the store, and hand actions to the same command
functions the CLI calls (`Commands`), which check roles and states and write the audit log.
Every page is rendered for the person asking: the actions offered are those their role allows.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Protocol
from urllib.parse import parse_qs, quote

import anyio
import jinja2
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.responses import StreamingResponse

from oob import __version__
from oob.errors import OobError, PermissionDenied, ProcedureError, RunNotFound, UsageError
from oob.eta import format_minutes
from oob.store import Run, Source, Store
from oob.web.api_models import (
    TEXT_LIMIT,
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
from oob.web.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_HOURS,
    Action,
    Authenticator,
    Identity,
    Refused,
    RequestFacts,
)
from oob.web.views import ANNOUNCED, RunView, available_actions, run_view

if TYPE_CHECKING:
    from oob.config import Config
    from oob.web.slack import Interactions

NOTICES = {
    Action.APPROVE: "You approved the deploy.",
    Action.DENY: "You denied the deploy.",
    Action.CANCEL: "You cancelled the run.",
    Action.CONFIRM_FIX: "You confirmed the fix.",
    Action.REJECT_FIX: "You reported that the fix does not work.",
    Action.OVERRIDE_STATUS: "You overrode the status.",
}
# The sections of the run page that the live stream replaces, by element id.
LIVE_SECTIONS = ("state", "actions", "chart", "builds", "messages", "events")


class Commands(Protocol):
    """The actions people take on a run: the functions the CLI calls (`oob.commands.Control`).

    Each checks the actor's role and the run's state, sends the command to the run, which
    records it in its audit log with the actor and the source, and raises an `OobError` when
    it refuses.
    """

    def approve(self, run_id: str, actor: str, note: str = "", source: Source = ...) -> Run: ...

    def deny(self, run_id: str, actor: str, reason: str, source: Source = ...) -> Run: ...

    def cancel(self, run_id: str, actor: str, reason: str, source: Source = ...) -> Run: ...

    def confirm_fix(self, run_id: str, actor: str, note: str = "", source: Source = ...) -> Run: ...

    def reject_fix(self, run_id: str, actor: str, reason: str, source: Source = ...) -> Run: ...


class StatusOverride(Protocol):
    """`oob.override.override_status` with its config, code host, store and clock bound.

    Checks the reason and the context, asks the policy on run `run_id`, posts the status, and
    audits it.
    """

    def __call__(
        self, *, actor: str, sha: str, context: str, reason: str, source: Source, run_id: str
    ) -> object: ...


# A form body larger than this is refused unread: a note, a reason and a context, each at the
# limit and every character percent-encoded UTF-8 (up to 12 bytes), fit well within it.
FORM_BYTES_LIMIT = 128 * 1024
NEEDS_REASON = (Action.DENY, Action.CANCEL, Action.REJECT_FIX, Action.OVERRIDE_STATUS)


@dataclass(frozen=True)
class Refusal:
    """An action the page's form asked for and was refused: why, and which field was wrong."""

    action: Action
    message: str
    field: str | None = None


class FieldError(UsageError):
    """A form field's text is missing or too long: `field` names it, for the page to mark."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Settings:
    """How the app reaches the world. `poll_seconds`: how often a live stream looks for news."""

    config: Config
    store: Store
    commands: Commands
    override_status: StatusOverride
    authenticator: Authenticator
    poll_seconds: float = 1.0
    keepalive_seconds: float = 15.0
    time_scale: float = 1.0  # sandbox minutes per real minute, as the worker runs them
    slack: Interactions | None = None  # Slack's buttons and /oob, when the app is configured


def perform(
    settings: Settings, action: Action, run_id: str, actor: str, body: ActionRequest
) -> None:
    """Hand `action` to its command as coming from the web, after checking its text is there."""
    commands = settings.commands
    if action in NEEDS_REASON and not body.reason.strip():
        raise FieldError("reason", f"{action.value} needs a reason")
    if action is Action.APPROVE:
        commands.approve(run_id, actor, body.note.strip(), source=Source.WEB)
    elif action is Action.DENY:
        commands.deny(run_id, actor, body.reason.strip(), source=Source.WEB)
    elif action is Action.CANCEL:
        commands.cancel(run_id, actor, body.reason.strip(), source=Source.WEB)
    elif action is Action.CONFIRM_FIX:
        commands.confirm_fix(run_id, actor, body.note.strip(), source=Source.WEB)
    elif action is Action.REJECT_FIX:
        commands.reject_fix(run_id, actor, body.reason.strip(), source=Source.WEB)
    else:
        # A status of the run's fix commit: the one pre-flight waits on.
        sha = settings.store.run(run_id).fix_sha
        settings.override_status(
            actor=actor,
            sha=sha,
            context=body.context,
            reason=body.reason,
            source=Source.WEB,
            run_id=run_id,
        )


def status_of(error: OobError) -> int:
    """The HTTP status that says what went wrong."""
    if isinstance(error, RunNotFound):
        return 404
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, ProcedureError):
        return 409
    return 400


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
    app.state.dashboard = dashboard = _Dashboard(settings)
    app.add_exception_handler(_Answer, _answer)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    _page_routes(app, dashboard)
    _login_routes(app, dashboard)
    _api_routes(app, dashboard)
    if settings.slack is not None:
        from oob.web.slack import routes

        app.include_router(routes(settings.slack))
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


class _Answer(Exception):
    """Ends a request at once with `response`: nobody signed in, or a form that cannot be read."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def _answer(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Answer)
    return exc.response


async def _invalid_request(request: Request, exc: Exception) -> Response:
    # FastAPI parses a JSON body before any dependency runs: whoever is not signed in learns
    # that they must sign in, and nothing about what the body should have been.
    from fastapi.exception_handlers import request_validation_exception_handler

    identity = _dashboard(request).api_who(request)
    if isinstance(identity, Response):
        return identity
    assert isinstance(exc, RequestValidationError)
    return await request_validation_exception_handler(request, exc)


def _dashboard(request: Request) -> _Dashboard:
    dashboard: _Dashboard = request.app.state.dashboard
    return dashboard


async def _page_person(request: Request) -> Identity:
    """The person asking for a page; else sent to sign in (or refused) before anything else."""
    identity = _dashboard(request).who(request)
    if isinstance(identity, Response):
        raise _Answer(identity)
    return identity


async def _api_person(request: Request) -> Identity:
    """The API's caller; else 401 (or 403), before the request's body is even looked at."""
    identity = _dashboard(request).api_who(request)
    if isinstance(identity, Response):
        raise _Answer(identity)
    return identity


PagePerson = Annotated[Identity, Depends(_page_person)]
ApiPerson = Annotated[Identity, Depends(_api_person)]


async def _signed_form(request: Request, identity: PagePerson) -> dict[str, str]:
    """The form of a signed-in person's POST, with the CSRF token bound to them."""
    d = _dashboard(request)
    form = await d.form(request, identity)
    if not d.auth.csrf_ok(identity, form.get(CSRF_FIELD)):
        raise _Answer(
            d.error_page(
                403,
                "This form has expired or was not sent by this dashboard. "
                "Reload the page and try again.",
                identity,
            )
        )
    return form


async def _api_csrf(request: Request, identity: ApiPerson) -> Identity:
    """The API caller of a POST that carries their CSRF token."""
    if not _dashboard(request).auth.csrf_ok(identity, request.headers.get(CSRF_HEADER)):
        raise _Answer(
            JSONResponse(
                {"error": f"missing or wrong {CSRF_HEADER}; get yours from GET /api/me"},
                status_code=403,
            )
        )
    return identity


SignedForm = Annotated[dict[str, str], Depends(_signed_form)]
ApiActor = Annotated[Identity, Depends(_api_csrf)]


class _BadForm(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _read_form(request: Request) -> dict[str, str]:
    # URL-encoded forms only (no file uploads): the standard library parses them, strictly.
    too_large = _BadForm(
        413, f"This form is too large: a note or a reason holds at most {TEXT_LIMIT:,} characters."
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_BYTES_LIMIT:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES_LIMIT:
            raise too_large
    try:
        text = body.decode()
        fields = parse_qs(text, errors="strict")  # a %-escape that is not UTF-8 raises too
    except UnicodeDecodeError:
        raise _BadForm(
            400,
            "This form could not be read: its text must be UTF-8. "
            "Send it again from the dashboard's page.",
        ) from None
    return {k: v[0] for k, v in fields.items()}


def _action_request(form: dict[str, str]) -> ActionRequest:
    """A form's action fields, or the `FieldError` that says which is too long."""
    values = {name: form.get(name, "") for name in ActionRequest.model_fields}
    try:
        return ActionRequest(**values)
    except ValidationError as invalid:
        problem = invalid.errors()[0]
        field = str(problem["loc"][0])
        limit = (problem.get("ctx") or {}).get("max_length")
        if limit is None:
            raise FieldError(field, f"The {field} is not valid: {problem['msg']}.") from None
        raise FieldError(
            field,
            f"The {field} is too long: at most {limit:,} characters; "
            f"this one has {len(values[field]):,}.",
        ) from None


class _Dashboard:
    """What the routes share: identifying people, rendering pages, reading runs."""

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

    @staticmethod
    def facts(request: Request) -> RequestFacts:
        return RequestFacts(
            peer=request.client.host if request.client else None,
            headers={k.lower(): v for k, v in request.headers.items()},
            cookies=dict(request.cookies),
        )

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(sso=self.sso, **values)
        return HTMLResponse(html, status_code=status)

    def error_page(self, status: int, message: str, identity: Identity | None = None) -> Response:
        csrf = "" if identity is None else self.auth.csrf_token(identity)
        return self.page("error.html", status, message=message, identity=identity, csrf=csrf)

    def login_page(self, request: Request, status: int, target: str, error: str | None) -> Response:
        # Each login form is bound to a fresh random cookie: nobody can post it for a browser.
        nonce = secrets.token_urlsafe(16)
        response = self.page(
            "login.html",
            status,
            identity=None,
            csrf="",
            next=_local(target),
            error=error,
            login_csrf=self.auth.login_csrf_token(nonce),
        )
        _set_cookie(
            response, LOGIN_COOKIE, nonce, max_age=3600, secure=request.url.scheme == "https"
        )
        return response

    async def form(self, request: Request, identity: Identity | None) -> dict[str, str]:
        """The form posted, or (too large, not UTF-8) a page that says what is wrong."""
        try:
            return await _read_form(request)
        except _BadForm as bad:
            raise _Answer(self.error_page(bad.status, bad.message, identity)) from None

    def who(self, request: Request) -> Identity | Response:
        """The person asking for a page, or the response that sends them to sign in."""
        try:
            identity = self.auth.identify(self.facts(request))
        except Refused as refused:
            response = self.error_page(refused.status, refused.message)
            response.delete_cookie(SESSION_COOKIE)
            return response
        if identity is not None:
            return identity
        if not self.sso:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        return self.error_page(401, "Sign in through your organization's SSO to continue.")

    def api_who(self, request: Request) -> Identity | Response:
        """The person calling the API, or the JSON answer that refuses them."""
        try:
            identity = self.auth.identify(self.facts(request))
        except Refused as refused:
            return JSONResponse({"error": refused.message}, status_code=refused.status)
        if identity is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        return identity

    @staticmethod
    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        # The store and the commands are synchronous (SQLAlchemy, DBOS): off the event loop.
        return await anyio.to_thread.run_sync(fn, *args)

    def view_of(self, run_id: str) -> RunView:
        now = self.store.clock.now()
        return run_view(self.store, self.config, run_id, now)

    def views(self) -> list[RunView]:
        """Recent runs, active first, newest first within each group."""
        views = [self.view_of(run.id) for run in self.store.runs()]
        return sorted(views, key=lambda v: not v.run.active)

    def run_values(
        self, view: RunView, identity: Identity, refused: Refusal | None = None
    ) -> dict[str, Any]:
        return {
            "view": view,
            "run": view.run,
            "identity": identity,
            "csrf": self.auth.csrf_token(identity),
            "actions": available_actions(self.store, view.run, identity),
            "contexts": self.config.services.github.required_contexts,
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

    async def live(self, run_id: str, identity: Identity) -> AsyncIterator[str]:
        """Server-sent events: the run page's sections that changed, until the run ends."""
        last: dict[str, str] = {}
        quiet = 0.0
        while True:
            view = await self.call(self.view_of, run_id)
            now = self.sections(view, identity)
            if now != last:
                # Only what changed: a form someone is filling in stays put otherwise.
                changed = {k: v for k, v in now.items() if last.get(k) != v}
                yield f"event: sections\ndata: {json.dumps(changed)}\n\n"
                last, quiet = now, 0.0
            elif quiet >= self.settings.keepalive_seconds:
                yield ": keepalive\n\n"  # a comment: keeps proxies from closing an idle stream
                quiet = 0.0
            if not view.run.active:
                yield "event: end\ndata: {}\n\n"
                return
            await anyio.sleep(self.settings.poll_seconds)
            quiet += self.settings.poll_seconds


def _page_routes(app: FastAPI, d: _Dashboard) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def runs_page(identity: PagePerson) -> Response:
        views = await d.call(d.views)
        return d.page("runs.html", views=views, identity=identity, csrf=d.auth.csrf_token(identity))

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
            body = _action_request(form)
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
        return StreamingResponse(
            d.live(run_id, identity),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},  # proxies must pass each event on at once
        )


def _login_routes(app: FastAPI, d: _Dashboard) -> None:
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> Response:
        if d.sso:
            return d.error_page(404, "Sign in through your organization's SSO.")
        return d.login_page(request, 200, next, None)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if d.sso:
            return d.error_page(404, "Sign in through your organization's SSO.")
        form = await d.form(request, None)
        if not d.auth.login_csrf_ok(request.cookies.get(LOGIN_COOKIE), form.get(CSRF_FIELD)):
            return d.error_page(403, "This sign-in form has expired. Reload it and try again.")
        name = d.auth.user_of_token(form.get("token", "").strip())
        if name is None:
            return d.login_page(request, 401, form.get("next", "/"), "That token is not valid.")
        response = RedirectResponse(_local(form.get("next", "/")), status_code=303)
        secure = request.url.scheme == "https"
        session = d.auth.new_session(name)
        _set_cookie(response, SESSION_COOKIE, session, max_age=SESSION_HOURS * 3600, secure=secure)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(identity: PagePerson, _form: SignedForm) -> Response:
        d.auth.end_session(identity)  # the cookie is worth nothing from now on, wherever it is
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Not signed in"},
    403: {"model": ErrorOut, "description": "Refused"},
}
_MISSING: dict[int | str, dict[str, Any]] = {
    **_REFUSED,
    404: {"model": ErrorOut, "description": "No such run"},
}


def _api_routes(app: FastAPI, d: _Dashboard) -> None:
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
        actions = [a.value for a in available_actions(d.store, view.run, identity)]
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


def _local(target: str) -> str:
    # Only paths on this site: `next` must not send people elsewhere after signing in.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _set_cookie(response: Response, name: str, value: str, *, max_age: int, secure: bool) -> None:
    # HttpOnly: no script reads it; SameSite=Strict: no other site's request carries it.
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure
    )
