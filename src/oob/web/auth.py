"""Who is asking, what they may do, and proof that a state-changing request is theirs.

Identity comes from the `[web]` table, one way per deployment:

- `sso`: a single-sign-on proxy in front of the dashboard sets a header (`X-Forwarded-Email`).
  The header is believed only from the configured proxy addresses, judged by the TCP peer (the
  server runs without proxy-header rewriting, so a client cannot claim to be the proxy). The
  same header from anywhere else is refused outright rather than ignored: it means the proxy is
  being bypassed.
- `tokens`: each user has a token, checked against its SHA-256 in the file or against the
  environment variable the file names. Browsers exchange the token once for a signed session
  cookie; API clients send `Authorization: Bearer <token>`.

Sessions and CSRF tokens are signed with one key: the value of the environment variable that
`[web] session_key_env` names, the same for every `oob serve` behind one load balancer; without
it, a random key of this process alone (a restart, or another process, refuses what it signed).
The key is never printed, logged or stored.

CSRF: every state-changing request carries a token (form field `csrf_token` or header
`X-CSRF-Token`) that is an HMAC, under the key, of the user's name and their session. Another
user, or another site, cannot compute it; it is only ever found in pages and API answers served
to that same user. The login form has its own token bound to a
random cookie, so that nobody can log a browser in as someone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from ipaddress import ip_address
from typing import Protocol

from oob import policy
from oob.clock import Clock
from oob.config import Roles, Web, named_secret

SESSION_COOKIE = "oob_session"
LOGIN_COOKIE = "oob_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_HOURS = 12
KEY_MIN_CHARS = 32  # a shared key people choose: long enough not to be guessed


class Action(StrEnum):
    """What a person can do to a run from the dashboard: those of the policy's actions taken
    on one run (`oob.policy.Action`), with the same values."""

    APPROVE = policy.Action.APPROVE
    DENY = policy.Action.DENY
    CANCEL = policy.Action.CANCEL
    CONFIRM_FIX = policy.Action.CONFIRM_FIX
    REJECT_FIX = policy.Action.REJECT_FIX
    OVERRIDE_STATUS = policy.Action.OVERRIDE_STATUS


@dataclass(frozen=True)
class Identity:
    """An authenticated person. `session` is the browser session id ("" for SSO and API)."""

    name: str
    session: str = ""

    def may(self, action: Action, roles: Roles) -> bool:
        """Whether `roles` give this person `action` (the policy's answer, by role alone)."""
        return policy.may(roles, policy.Action(action.value), self.name)


class Refused(Exception):
    """The request cannot be attributed to anyone, or claims an identity it cannot have."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RequestFacts:
    """The parts of an HTTP request identity depends on, free of any web framework."""

    peer: str | None
    headers: dict[str, str]  # lower-case names
    cookies: dict[str, str]


class Sessions(Protocol):
    """Where open sessions are kept: a signed cookie is accepted only while its session is open
    there, so signing out ends it for good, even if the cookie was copied."""

    def open(self, session: str, name: str, now: datetime, expires: datetime) -> None: ...

    def is_open(self, session: str, now: datetime) -> bool: ...

    def end(self, session: str, now: datetime) -> None: ...


class ProcessSessions:
    """Sessions in this process's memory: another process (or a restart) knows none of them.
    `oob serve` keeps them in the run store instead (`oob.sessions.StoredSessions`)."""

    def __init__(self) -> None:
        self._open: dict[str, datetime] = {}  # open session id -> when it expires
        self._lock = threading.Lock()  # the server's threads sign people in and out

    def open(self, session: str, name: str, now: datetime, expires: datetime) -> None:
        with self._lock:
            # Forget the sessions that expired, so that the table holds only live ones.
            self._open = {s: e for s, e in self._open.items() if e > now}
            self._open[session] = expires

    def is_open(self, session: str, now: datetime) -> bool:
        with self._lock:
            expires = self._open.get(session)
        return expires is not None and expires > now

    def end(self, session: str, now: datetime) -> None:
        with self._lock:
            self._open.pop(session, None)


def session_key(web: Web) -> bytes | None:
    """The shared key from the variable `[web] session_key_env` names; None when none is named.

    A named variable that is unset or short is a mistake, said at once (without its value)."""
    variable = web.session_key_env
    if variable is None:
        return None
    hint = (
        f"export {variable} with the same random key on every `oob serve`, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    )
    return named_secret(variable, "[web] session_key_env", KEY_MIN_CHARS, hint).encode()


class Authenticator:
    """Identifies requests according to `[web]`, and makes and checks sessions and CSRF tokens.

    `key` signs sessions and CSRF tokens; by default the shared key of `[web] session_key_env`
    (`session_key`), else a fresh random key per process, so that a restart ends every session
    (people sign in again with their token). Open sessions are kept in `sessions`: by default
    this process's memory (`ProcessSessions`).
    """

    def __init__(
        self,
        web: Web,
        clock: Clock,
        key: bytes | None = None,
        *,
        sessions: Sessions | None = None,
    ) -> None:
        self.web = web
        self.clock = clock
        self._key = key or session_key(web) or secrets.token_bytes(32)
        self._sessions = sessions or ProcessSessions()

    # --- identity -----------------------------------------------------------------------------

    def identify(self, request: RequestFacts) -> Identity | None:
        """The person behind `request`, or None when it carries no identity at all.

        Raises `Refused` for a claim that must not be believed (a forged SSO header, a wrong
        token or a tampered session).
        """
        if self.web.identity == "sso":
            return self._from_proxy(request)
        authorization = request.headers.get("authorization", "")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Refused(401, "use `Authorization: Bearer <token>`")
            name = self.user_of_token(token.strip())
            if name is None:
                raise Refused(401, "unknown token")
            return Identity(name)
        cookie = request.cookies.get(SESSION_COOKIE)
        return None if cookie is None else self._from_session(cookie)

    def _from_proxy(self, request: RequestFacts) -> Identity | None:
        value = request.headers.get(self.web.sso_header.lower(), "").strip()
        if not self._trusted(request.peer):
            if value:
                raise Refused(403, f"{self.web.sso_header} is only accepted from the SSO proxy")
            return None
        return Identity(value) if value else None

    def _trusted(self, peer: str | None) -> bool:
        if peer is None:
            return False
        try:
            address = ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.web.trusted_proxies)

    def user_of_token(self, token: str) -> str | None:
        """The user whose configured token is `token`, comparing in constant time."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        found = None
        for name, user in self.web.users.items():
            if user.token_sha256 is not None:
                expected = user.token_sha256
            else:
                secret = os.environ.get(user.token_env or "")
                if not secret:
                    continue  # an unset variable must never match an empty token
                expected = hashlib.sha256(secret.encode()).hexdigest()
            # No early return: every user is compared, so timing says nothing about the match.
            if hmac.compare_digest(digest, expected):
                found = name
        return found

    # --- sessions -----------------------------------------------------------------------------

    def new_session(self, name: str) -> str:
        """A signed session cookie value for `name`, valid for SESSION_HOURS."""
        now = self.clock.now()
        expires = now + timedelta(hours=SESSION_HOURS)
        session = secrets.token_urlsafe(16)
        self._sessions.open(session, name, now, expires)
        body = {"n": name, "s": session, "e": expires.isoformat()}
        payload = base64.urlsafe_b64encode(json.dumps(body).encode()).decode()
        return f"{payload}.{self._sign('session', payload)}"

    def _from_session(self, cookie: str) -> Identity:
        payload, _, signature = cookie.partition(".")
        if not hmac.compare_digest(signature, self._sign("session", payload)):
            raise Refused(401, "your session is not valid here any more; sign in again")
        body = json.loads(base64.urlsafe_b64decode(payload))
        now = self.clock.now()
        if datetime.fromisoformat(body["e"]) <= now:
            raise Refused(401, "your session has expired; sign in again")
        if body["n"] not in self.web.users:
            raise Refused(401, "you are no longer a dashboard user")
        if not self._sessions.is_open(body["s"], now):
            raise Refused(401, "you signed out of this session; sign in again")
        return Identity(body["n"], session=body["s"])

    def end_session(self, identity: Identity) -> None:
        """Sign `identity` out: their session cookie is refused from now on."""
        self._sessions.end(identity.session, self.clock.now())

    # --- CSRF ---------------------------------------------------------------------------------

    def csrf_token(self, identity: Identity) -> str:
        """The token `identity` must send with every state-changing request."""
        return self._sign("csrf", f"{identity.name}\n{identity.session}")

    def csrf_ok(self, identity: Identity, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token or "", self.csrf_token(identity))

    def login_csrf_token(self, nonce: str) -> str:
        """The login form's token, bound to the browser's random `LOGIN_COOKIE`."""
        return self._sign("login", nonce)

    def login_csrf_ok(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(token, self.login_csrf_token(nonce))

    def _sign(self, purpose: str, message: str) -> str:
        mac = hmac.new(self._key, f"{purpose}\n{message}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")
