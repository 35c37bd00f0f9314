"""Signing in with a token and out again (`[web] identity = "tokens"`): the session cookie.

With single sign-on the proxy signs people in, and these pages only say so.
"""

from __future__ import annotations

import secrets

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oob.web.auth import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, SESSION_HOURS
from oob.web.dashboard import Dashboard
from oob.web.signin import PagePerson, SignedForm, posted_form

SSO_ONLY = "Sign in through your organization's SSO."


def login_routes(app: FastAPI, d: Dashboard) -> None:
    """`GET` and `POST /login`, and `POST /logout`."""

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> Response:
        if d.sso:
            return d.error_page(404, SSO_ONLY)
        return _login_page(d, request, 200, next, None)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if d.sso:
            return d.error_page(404, SSO_ONLY)
        form = await posted_form(request, None)
        if not d.auth.login_csrf_ok(request.cookies.get(LOGIN_COOKIE), form.get(CSRF_FIELD)):
            return d.error_page(403, "This sign-in form has expired. Reload it and try again.")
        name = d.auth.user_of_token(form.get("token", "").strip())
        if name is None:
            return _login_page(d, request, 401, form.get("next", "/"), "That token is not valid.")
        response = RedirectResponse(_local(form.get("next", "/")), status_code=303)
        session = d.auth.new_session(name)
        _set_cookie(d, request, response, SESSION_COOKIE, session, max_age=SESSION_HOURS * 3600)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(identity: PagePerson, _form: SignedForm) -> Response:
        d.auth.end_session(identity)  # the cookie is worth nothing from now on, wherever it is
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response


def _login_page(
    d: Dashboard, request: Request, status: int, target: str, error: str | None
) -> Response:
    # Each login form is bound to a fresh random cookie: nobody can post it for a browser.
    nonce = secrets.token_urlsafe(16)
    response = d.page(
        "login.html",
        status,
        identity=None,
        csrf="",
        next=_local(target),
        error=error,
        login_csrf=d.auth.login_csrf_token(nonce),
    )
    _set_cookie(d, request, response, LOGIN_COOKIE, nonce, max_age=3600)
    return response


def _local(target: str) -> str:
    # Only paths on this site: `next` must not send people elsewhere after signing in.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _set_cookie(
    d: Dashboard, request: Request, response: Response, name: str, value: str, *, max_age: int
) -> None:
    # HttpOnly: no script reads it; SameSite=Strict: no other site's request carries it;
    # Secure (HTTPS only) unless the server listens on loopback or the request came over HTTPS.
    secure = d.settings.secure_cookies or request.url.scheme == "https"
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure
    )
