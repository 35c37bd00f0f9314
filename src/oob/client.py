"""The dashboard's API as the CLI calls it on a shared installation (`OOB_SERVER`, `OOB_TOKEN`).

The token is that person's dashboard token: it goes in the `Authorization` header and nowhere
else, so it is never printed nor logged (errors name the server, never a request's headers).
Transient failures (no connection, 429, 5xx) are tried again by the adapters' one retry layer
(`oob.adapters.retry.send`), briefly, since a person waits; a request that changes something
is sent again only when the server surely did not act on it. An answer that refuses becomes
the `OobError` the same command would raise locally, with its exit code.

httpx is imported only when a client is made, so that the local commands start fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from oob.errors import (
    IntegrationError,
    OobError,
    PermissionDenied,
    ProcedureError,
    RunNotFound,
    UsageError,
)

if TYPE_CHECKING:
    import httpx

ENV_SERVER = "OOB_SERVER"
ENV_TOKEN = "OOB_TOKEN"  # noqa: S105 - the variable's name, not a token

# What a status answer means when it says no exit code of its own.
_ERRORS: dict[int, type[OobError]] = {
    401: PermissionDenied,
    403: PermissionDenied,
    404: RunNotFound,
    409: ProcedureError,
}


def from_environment() -> tuple[str, str] | None:
    """`OOB_SERVER` and `OOB_TOKEN` when both are set; None when neither is (local mode)."""
    server = os.environ.get(ENV_SERVER, "").strip()
    token = os.environ.get(ENV_TOKEN, "").strip()
    if not server and not token:
        return None
    if not (server and token):
        given, missing = (ENV_SERVER, ENV_TOKEN) if server else (ENV_TOKEN, ENV_SERVER)
        raise UsageError(
            f"{given} is set but {missing} is not",
            hint=f"set both to act through the dashboard, or unset {given} to act locally",
        )
    return server, token


class Client:
    """One person's requests to the dashboard at `server`, authenticated by `token`."""

    def __init__(self, server: str, token: str) -> None:
        import httpx

        from oob.adapters import tls
        from oob.adapters.retry import RetryPolicy

        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            verify=tls.context(),
        )
        self._policy = RetryPolicy(attempts=3, total_seconds=20, wait_initial=0.3, wait_max=2)
        self._me: dict[str, Any] | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def me(self) -> dict[str, Any]:
        """Who the token says you are (`name`), and your CSRF token; asked once."""
        if self._me is None:
            self._me = self.get("/api/me")
        return self._me

    def get(self, path: str, **params: Any) -> Any:
        """The JSON answer to a GET of `path`."""
        return self._answer(self._send("GET", path, params=params)).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON answer to a POST of `body` to `path`, with your CSRF token."""
        headers = {"X-CSRF-Token": self.me()["csrf_token"]}
        response = self._send("POST", path, json=body, headers=headers, idempotent=False)
        return self._answer(response).json()

    def poll(self, path: str, etag: str | None) -> tuple[str | None, Any]:
        """The JSON at `path` and its ETag; (etag, None) while it has not changed since `etag`."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._send("GET", path, headers=headers)
        if response.status_code == 304:
            return etag, None
        return response.headers.get("etag"), self._answer(response).json()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        from oob.adapters.retry import default_classifier, send

        try:
            return send(
                self._http,
                method,
                path,
                policy=self._policy,
                classify=default_classifier(),
                **kwargs,
            )
        except httpx.TransportError as exc:
            raise IntegrationError(
                f"cannot reach {ENV_SERVER} {self.server}: {type(exc).__name__} {exc}".rstrip(),
                hint=f"is the dashboard (`oob serve`) running there? check {ENV_SERVER}",
                transient=True,
            ) from None

    def _answer(self, response: httpx.Response) -> httpx.Response:
        """`response` when it succeeded, else the error it stands for."""
        if response.is_success:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        status = response.status_code
        message = str(body.get("error") or _invalid(body) or f"HTTP {status}")
        hint = body.get("hint")
        if status == 401:
            message = f"your {ENV_TOKEN} is not valid on {ENV_SERVER} {self.server}: {message}"
            hint = f"ask for your dashboard token, or check {ENV_SERVER}"
        kind = _ERRORS.get(status, IntegrationError if status >= 500 else UsageError)
        error = kind(message, hint=hint)
        if isinstance(body.get("exit_code"), int):
            error.exit_code = body["exit_code"]
        raise error


def _invalid(body: dict[str, Any]) -> str:
    """FastAPI's account of a request body it refused (422), in one line."""
    problems = body.get("detail")
    if not isinstance(problems, list) or not problems:
        return ""
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ())[1:])
    return f"{where}: {first.get('msg', 'not valid')}"
