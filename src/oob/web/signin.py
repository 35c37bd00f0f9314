"""Who is asking, settled before anything else: the dependencies every route declares.

A route names the person it serves (`PagePerson`, `ApiPerson`) or the signed request it takes
(`SignedForm`, `ApiActor`); FastAPI resolves these before the route runs, and a request's JSON
body is looked at only once its sender is known, so anonymous requests answer 401 everywhere
and learn nothing about what a body should have been.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response

from oob.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Identity, Refused, RequestFacts
from oob.web.dashboard import Dashboard, dashboard_of
from oob.web.forms import BadForm, read_form


class Answer(Exception):
    """Ends a request at once with `response`: nobody signed in, or a form that cannot be read."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def handle_answers(app: FastAPI) -> None:
    """Have `app` send the response an `Answer` carries, and refuse a body only to the known."""
    app.add_exception_handler(Answer, _answer)
    app.add_exception_handler(RequestValidationError, _invalid_request)


async def _answer(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Answer)
    return exc.response


async def _invalid_request(request: Request, exc: Exception) -> Response:
    # FastAPI parses a JSON body before any dependency runs: whoever is not signed in learns
    # that they must sign in, and nothing about what the body should have been.
    from fastapi.exception_handlers import request_validation_exception_handler

    identity = api_who(dashboard_of(request), request)
    if isinstance(identity, Response):
        return identity
    assert isinstance(exc, RequestValidationError)
    return await request_validation_exception_handler(request, exc)


def _facts(request: Request) -> RequestFacts:
    return RequestFacts(
        peer=request.client.host if request.client else None,
        headers={k.lower(): v for k, v in request.headers.items()},
        cookies=dict(request.cookies),
    )


def who(d: Dashboard, request: Request) -> Identity | Response:
    """The person asking for a page, or the response that sends them to sign in."""
    try:
        identity = d.auth.identify(_facts(request))
    except Refused as refused:
        response = d.error_page(refused.status, refused.message)
        response.delete_cookie(SESSION_COOKIE)
        return response
    if identity is not None:
        return identity
    if not d.sso:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    return d.error_page(401, "Sign in through your organization's SSO to continue.")


def api_who(d: Dashboard, request: Request) -> Identity | Response:
    """The person calling the API, or the JSON answer that refuses them."""
    try:
        identity = d.auth.identify(_facts(request))
    except Refused as refused:
        return JSONResponse({"error": refused.message}, status_code=refused.status)
    if identity is None:
        return JSONResponse({"error": "not signed in"}, status_code=401)
    return identity


async def posted_form(request: Request, identity: Identity | None) -> dict[str, str]:
    """The form posted, or (too large, not UTF-8) a page that says what is wrong."""
    try:
        return await read_form(request)
    except BadForm as bad:
        raise Answer(dashboard_of(request).error_page(bad.status, bad.message, identity)) from None


async def _page_person(request: Request) -> Identity:
    """The person asking for a page; else sent to sign in (or refused) before anything else."""
    identity = who(dashboard_of(request), request)
    if isinstance(identity, Response):
        raise Answer(identity)
    return identity


async def _api_person(request: Request) -> Identity:
    """The API's caller; else 401 (or 403), before the request's body is even looked at."""
    identity = api_who(dashboard_of(request), request)
    if isinstance(identity, Response):
        raise Answer(identity)
    return identity


PagePerson = Annotated[Identity, Depends(_page_person)]
ApiPerson = Annotated[Identity, Depends(_api_person)]


async def _signed_form(request: Request, identity: PagePerson) -> dict[str, str]:
    """The form of a signed-in person's POST, with the CSRF token bound to them."""
    d = dashboard_of(request)
    form = await posted_form(request, identity)
    if not d.auth.csrf_ok(identity, form.get(CSRF_FIELD)):
        raise Answer(
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
    if not dashboard_of(request).auth.csrf_ok(identity, request.headers.get(CSRF_HEADER)):
        raise Answer(
            JSONResponse(
                {"error": f"missing or wrong {CSRF_HEADER}; get yours from GET /api/me"},
                status_code=403,
            )
        )
    return identity


SignedForm = Annotated[dict[str, str], Depends(_signed_form)]
ApiActor = Annotated[Identity, Depends(_api_csrf)]
