"""GitHub's REST API (version 2022-11-28) under oob's retries: the authenticated client, its
conditional GETs, and the errors GitHub's answers become.

Besides the retries every adapter has, GitHub has rate limits of its own: a 403 or 429 with
`x-ratelimit-remaining: 0` lasts until `x-ratelimit-reset`; a secondary limit names a
`retry-after`, or else asks for a minute or more. Short waits are waited for; a reset beyond the
retry policy's longest wait becomes an error that says when to try again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import httpx

from oob.adapters import tls
from oob.adapters.retry import (
    Gate,
    RetryingClient,
    RetryPolicy,
    github_classifier,
    json_message,
    rate_limit_reset,
    retry_after,
    still_failing,
)
from oob.clock import Clock
from oob.errors import GitHubError

# How many answers the ETag cache keeps (least recently used go first).
_ETAG_ENTRIES = 256


class GitHubApi:
    """Requests to one GitHub API with one token; answers checked by `ok` and `ok_list`."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        token_env: str,
        timeout_seconds: float,
        policy: RetryPolicy,
        transport: httpx.BaseTransport | None,
        clock: Clock,
    ) -> None:
        """`token_env` names the variable the token came from, for the errors' hints."""
        self._token_env = token_env
        self._clock = clock
        client = httpx.Client(
            base_url=api_url,
            timeout=timeout_seconds,
            transport=transport,
            verify=tls.context(),
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "oob",
            },
        )
        self._classify = github_classifier(clock)
        self._http = RetryingClient(
            client,
            policy=policy,
            classify=self._classify,
            error=GitHubError,
            setting="services.github.api_url",
            gate=Gate.of(api_url, token),
        )
        self._etags: OrderedDict[str, tuple[str, bytes, httpx.Headers]] = OrderedDict()
        self._etags_lock = threading.Lock()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send through the retrying client; GETs are conditional (`If-None-Match` with the
        ETag of the last answer for that URL), and a 304 becomes that answer again: oob's
        polls of an unchanged status or comparison cost no rate limit."""
        if method != "GET":
            return self._http.request(method, url, **kwargs)
        key = str(self._http.client.build_request(method, url, params=kwargs.get("params")).url)
        with self._etags_lock:
            cached = self._etags.get(key)
        headers = dict(kwargs.pop("headers", None) or {})
        if cached is not None:
            headers["If-None-Match"] = cached[0]
        response = self._http.request(method, url, headers=headers, **kwargs)
        if response.status_code == 304 and cached is not None:
            self._remember(key, cached)
            return httpx.Response(
                200, content=cached[1], headers=cached[2], request=response.request
            )
        etag = response.headers.get("etag")
        if response.status_code == 200 and etag:
            self._remember(key, (etag, response.content, response.headers))
        return response

    def _remember(self, key: str, entry: tuple[str, bytes, httpx.Headers]) -> None:
        """Keep `entry` as the newest answer for `key` (the runs of a worker and pre-flight's
        threads share the cache: one at a time)."""
        with self._etags_lock:
            self._etags[key] = entry
            self._etags.move_to_end(key)
            while len(self._etags) > _ETAG_ENTRIES:
                self._etags.popitem(last=False)

    def ok(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON object GitHub answered about `what`, or the error its answer means."""
        self._raise_for_status(response, what)
        return self._http.json_object(
            response,
            what,
            hint="check services.github.api_url (it should be the API, not the web site)",
        )

    def json(self, method: str, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        """`request`, then `ok`: the JSON object GitHub answered about `what`."""
        return self.ok(self.request(method, url, **kwargs), what)

    def ok_list(self, response: httpx.Response, what: str) -> list[dict[str, Any]]:
        """The JSON objects of the list GitHub answered about `what`, or the error."""
        self._raise_for_status(response, what)
        data = response.json()
        if not isinstance(data, list):
            raise GitHubError(f"GitHub sent unexpected JSON for {what}")
        return [d for d in data if isinstance(d, dict)]

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (403, 429) and self._classify(response) is not None:
            raise self._rate_limited(response)
        if status >= 500:
            answer = f"GitHub answered {status} on {what}"
            raise still_failing(GitHubError, answer, "https://www.githubstatus.com")
        message, hint = self._refusal(response, what)
        raise GitHubError(message, hint=hint)

    def _refusal(self, response: httpx.Response, what: str) -> tuple[str, str | None]:
        """What a 4xx answer about `what` means, and what to do about it."""
        status = response.status_code
        message = json_message(response)
        env = self._token_env
        if status == 401:
            return (
                f"GitHub answered 401 ({message or 'Bad credentials'})",
                f"check the token in {env}",
            )
        if status == 403:
            return (
                f"GitHub answered 403 on {what}: {message}",
                f"the token in {env} lacks a permission: it needs read and write access to "
                "commit statuses, contents and pull requests",
            )
        if status == 404:
            return (
                f"GitHub found no {what} ({response.request.url.path})",
                f"check the repository name, and that the token in {env} can see it (GitHub "
                "answers 404 for private repositories it hides)",
            )
        if status == 422:
            details = "; ".join(
                str(e.get("message") or e.get("code") or e) for e in errors_of(response)
            )
            return (
                f"GitHub refused {what}: {message}" + (f" ({details})" if details else ""),
                "the request was invalid; this is likely a bug in oob or in the config",
            )
        return f"GitHub answered {status} on {what}: {message}", None

    def _rate_limited(self, response: httpx.Response) -> GitHubError:
        wait = rate_limit_reset(response, self._clock) or retry_after(response, self._clock)
        when = ""
        if wait is not None:
            at = datetime.fromtimestamp(self._clock.now().timestamp() + wait, UTC)
            when = f" until {at:%H:%M:%S} UTC (in {wait / 60:.0f} min)"
        return GitHubError(
            f"GitHub is rate limiting the token{when}",
            hint="try again then; a GitHub App or another token has its own limit",
            transient=True,
        )


def all_messages(response: httpx.Response) -> str:
    """The message and those of `errors[]`: GitHub puts "already exists" in either."""
    parts = [json_message(response)]
    parts += [str(e.get("message", "")) for e in errors_of(response)]
    return " ".join(parts)


def errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    """The objects of a JSON error body's `errors[]`."""
    try:
        data = response.json()
    except ValueError:
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
