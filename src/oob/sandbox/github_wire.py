"""GitHub's answers on the wire: JSON bodies, errors, rate-limit headers, ETags and pages.

Errors are `{message, documentation_url, status}` with GitHub's status codes (and `errors[]` for
validation failures); every answer carries the rate-limit headers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oob.sandbox.github_rate import GitHubRate

DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
PROTECTED_DOCS = "https://docs.github.com/articles/about-protected-branches"
VARY = "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding"


class GitHubError(Exception):
    """An error answer: HTTP status, message, and `errors[]` for validation failures."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        documentation_url: str = DOCS,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url


def invalid(resource: str, field: str | None, code: str, message: str | None = None) -> GitHubError:
    """422 "Validation Failed" with one error: what is wrong with which field of `resource`."""
    error: dict[str, Any] = {"resource": resource}
    if field is not None:
        error["field"] = field
    error["code"] = code
    if message is not None:
        error["message"] = message
    return GitHubError(422, "Validation Failed", [error])


def answer(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer, as GitHub labels it."""
    return JSONResponse(data, status, headers=headers, media_type="application/json; charset=utf-8")


def fail(error: GitHubError) -> Response:
    """The answer to `error`."""
    data: dict[str, Any] = {
        "message": error.message,
        "documentation_url": error.documentation_url,
        "status": str(error.status),
    }
    if error.errors is not None:
        data["errors"] = error.errors
    return answer(data, error.status)


def rate_headers(rate: GitHubRate) -> dict[str, str]:
    """The `X-RateLimit-*` headers every answer carries."""
    return {
        "X-RateLimit-Limit": str(rate.limit),
        "X-RateLimit-Remaining": str(rate.remaining),
        "X-RateLimit-Used": str(rate.used),
        "X-RateLimit-Reset": str(rate.reset),
        "X-RateLimit-Resource": "core",
        "X-GitHub-Api-Version-Selected": "2022-11-28",
    }


def conditional(request: Request, response: Response) -> Response:
    """ETags on successful GETs; a matching `If-None-Match` gets 304 without a body."""
    if request.method != "GET" or response.status_code != 200:
        return response
    etag = f'W/"{hashlib.sha256(response.body).hexdigest()}"'
    cache = {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60", "Vary": VARY}
    asked = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
    if asked & {etag, etag.removeprefix("W/"), "*"}:
        return Response(status_code=304, headers=cache)
    response.headers.update(cache)
    return response


def paging(request: Request) -> tuple[int, int]:
    """`page` and `per_page` (30 unless asked, at most 100)."""
    try:
        per_page = min(100, max(1, int(request.query_params.get("per_page", "30"))))
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError as exc:
        raise GitHubError(400, "Invalid pagination parameters") from exc
    return page, per_page


def last_page(count: int, per_page: int) -> int:
    """The number of the last page of `count` items (1 when there are none)."""
    return max(1, -(-count // per_page))


def links(url: URL, page: int, last: int) -> dict[str, str]:
    """GitHub's `Link` header: next and last after this page, prev and first before it."""
    rels = []
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels += [("prev", page - 1), ("first", 1)]
    if not rels:
        return {}
    return {"Link": ", ".join(f'<{url.include_query_params(page=n)}>; rel="{r}"' for r, n in rels)}
