"""The one retry layer of the adapters (Jenkins, GitHub, Slack, probes).

One policy, one loop (stamina): only transient failures are tried again -- connection errors,
timeouts, 5xx, 429 and rate limits (GitHub's 403 or 429 with `x-ratelimit-remaining: 0` or a
`retry-after`, or its "secondary rate limit") -- with exponential backoff, or after the wait the
service asked for (`Retry-After`, `X-RateLimit-Reset`). Everything else is permanent and answered
at once: the adapter turns it into an `IntegrationError` whose hint says what to do, with
`transient=False` (401, 403 without rate-limit signs, 404, 422; Slack's `invalid_auth`,
`channel_not_found`, `not_in_channel`, `is_archived`, `missing_scope`, `msg_too_long`). Attempts
and the total time of one call (its deadline) are bounded; a service that asks for a longer wait
than the policy allows is not waited for: the caller gets the last answer, and the error says
when to try again (`transient=True`). Unit tests switch the waits off with
`stamina.set_testing(True, attempts=..., cap=True)`.

A request that changes something (`idempotent=False`) is sent again only when the service surely
did not act on it: the connection was never made, or the answer was 429 or 503.
"""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import httpx
import stamina

from oob.clock import Clock, SystemClock
from oob.errors import IntegrationError

#: Decides whether an answer is transient: None when it is final, else the seconds the service
#: asked us to wait (0.0 when it named no wait, so the policy's backoff applies).
Classifier = Callable[[httpx.Response], "float | None"]
T = TypeVar("T")
E = TypeVar("E", bound=IntegrationError)
# GitHub asks clients that meet a secondary rate limit without a Retry-After to wait a minute.
SECONDARY_WAIT = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on a service."""

    attempts: int = 5
    total_seconds: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 20.0
    longest_wait: float = 90.0
    """A `Retry-After` or rate-limit reset further away than this is not waited for."""
    time_scale: float = 1.0
    """How much faster than real time the services' clock runs: a sandbox's simulated time in a
    rehearsal. Every wait (backoff, `Retry-After`, a rate limit's reset) is in the services'
    seconds, so the run waits as long as it would on the day in its own clock; the deadline
    (`total_seconds`) stays in real seconds, a bound on the time spent on one call."""


class Tally:
    """What this process's requests met, by service: retries (attempts after the first) and
    failures (calls that still failed when the policy gave up). Read by `oob worker
    --metrics-port` (`oob.worker_metrics`); plain counters, so the adapters import nothing more."""

    def __init__(self) -> None:
        self.retries: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, service: str, *, retries: int = 0, failed: bool = False) -> None:
        with self._lock:
            if retries:
                self.retries[service] = self.retries.get(service, 0) + retries
            if failed:
                self.failures[service] = self.failures.get(service, 0) + 1


TALLY = Tally()


class Gate:
    """A service's rate limit as this process knows it, shared by every request with the same
    credential, whichever run sends it: once one answer says the service is limited until a
    moment (a 403 or 429 with its reset or `Retry-After`, or a success leaving no request in the
    window), the others wait for that moment instead of each learning it from a refusal.

    One gate per service URL and credential (`Gate.of`): GitHub and Slack count their limits per
    token, so runs of many pipelines sharing a token share its limit."""

    _gates: ClassVar[dict[str, Gate]] = {}
    _made: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._until = 0.0  # time.monotonic() before which no request is sent
        self._lock = threading.Lock()

    @classmethod
    def of(cls, url: str, credential: str) -> Gate:
        """The process's gate of the service at `url` used with `credential` (only its hash is
        kept)."""
        key = url.rstrip("/") + "|" + hashlib.sha256(credential.encode()).hexdigest()
        with cls._made:
            return cls._gates.setdefault(key, cls())

    def shut(self, seconds: float) -> None:
        """No request for `seconds` (real) from now on."""
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def left(self) -> float:
        """Real seconds until requests may go again (0 when open)."""
        return max(0.0, self._until - time.monotonic())


class _TryAgain(Exception):
    def __init__(self, response: httpx.Response, wait: float) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.wait = wait


# Errors raised before the request reached the service: resending cannot duplicate an action.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def retry_after(response: httpx.Response, clock: Clock | None = None) -> float | None:
    """Seconds the `Retry-After` header asks for (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = (clock or SystemClock()).now()
    return max(0.0, (when - now).total_seconds())


def rate_limit_reset(response: httpx.Response, clock: Clock | None = None) -> float | None:
    """Seconds until `X-RateLimit-Reset` (epoch seconds), if the header is there."""
    value = response.headers.get("x-ratelimit-reset")
    if value is None or not value.strip().isdigit():
        return None
    reset = datetime.fromtimestamp(int(value), UTC)
    now = (clock or SystemClock()).now()
    # One second more: the reset instant itself may still be inside the old window.
    return max(0.0, (reset - now).total_seconds() + 1)


def default_classifier(clock: Clock | None = None) -> Classifier:
    """Transient: 429 and 5xx, waiting what `Retry-After` asks when it says."""

    def classify(response: httpx.Response) -> float | None:
        if response.status_code == 429 or response.status_code >= 500:
            return retry_after(response, clock) or 0.0
        return None

    return classify


def github_classifier(clock: Clock | None = None) -> Classifier:
    """GitHub's transient answers: its rate limits as well as 429 and 5xx.

    The primary limit is a 403 or 429 with `x-ratelimit-remaining: 0` (wait for
    `x-ratelimit-reset`); a secondary limit a 403 or 429 with `retry-after`, or saying "secondary
    rate limit" without one (wait a minute). Any other 403 is a refusal, not a limit."""

    def classify(response: httpx.Response) -> float | None:
        status = response.status_code
        if status in (403, 429):
            if response.headers.get("x-ratelimit-remaining") == "0":
                return rate_limit_reset(response, clock) or SECONDARY_WAIT
            asked = retry_after(response, clock)
            if asked is not None:
                return asked
            if "secondary rate limit" in json_message(response).lower():
                return SECONDARY_WAIT
            return 0.0 if status == 429 else None
        if status >= 500:
            return retry_after(response, clock) or 0.0
        return None

    return classify


def json_message(response: httpx.Response) -> str:
    """The `message` of a JSON error body (GitHub's), or ""."""
    try:
        data = response.json()
    except (ValueError, httpx.ResponseNotRead):
        return ""
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def still_failing(error: type[E], answer: str, status_page: str) -> E:
    """The error for a service that kept failing (a 5xx) through every retry: `answer` says
    what it answered to what; its `status_page` tells of its outages."""
    return error(
        f"{answer}, also after retries",
        hint=f"see {status_page} and try again in a few minutes",
        transient=True,
    )


def call(
    attempt: Callable[[], T],
    *,
    policy: RetryPolicy,
    transient: Callable[[Exception], bool | float],
    service: str = "other",
) -> T:
    """Run `attempt` until it returns, trying again (with the policy's backoff, attempts and
    deadline) while it raises an exception `transient` accepts (a number: the seconds to wait);
    the last one is raised. `send` is built on it; slack_sdk's calls use it directly."""
    scale = policy.time_scale

    def on(exc: Exception) -> bool | float:
        verdict = transient(exc)
        return verdict if isinstance(verdict, bool) else verdict / scale

    tried = 0
    try:
        for trying in stamina.retry_context(
            on=on,
            attempts=policy.attempts,
            timeout=policy.total_seconds,
            wait_initial=policy.wait_initial / scale,
            wait_max=policy.wait_max / scale,
            wait_jitter=1.0 / scale,
        ):
            tried = trying.num
            with trying:
                return attempt()
    except Exception:
        TALLY.count(service, failed=True)
        raise
    finally:
        TALLY.count(service, retries=max(0, tried - 1))
    raise AssertionError("unreachable: stamina returns, raises or tries again")


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    classify: Classifier,
    idempotent: bool = True,
    stream: bool = False,
    gate: Gate | None = None,
    service: str = "other",
    **kwargs: Any,
) -> httpx.Response:
    """Send a request, retrying transient failures; return the last answer, whatever its status.

    With `stream=True` the body is not read: the caller reads it and must close the response.
    Raises the last `httpx.TransportError` when no answer came within the policy's bounds.
    With a `gate`, the request first waits while the service's limit is known to be spent (if
    that wait is one the policy allows), and an answer that says when it is spent shuts it.
    """

    def on(exc: Exception) -> bool | float:
        if isinstance(exc, _TryAgain):
            return (exc.wait or True) if exc.wait <= policy.longest_wait else False
        if isinstance(exc, httpx.TransportError):
            return idempotent or isinstance(exc, _NOT_SENT)
        return False

    def once() -> httpx.Response:
        left = gate.left() if gate is not None and not stamina.is_testing() else 0
        if 0 < left <= policy.longest_wait / scale:
            time.sleep(left)
        request = client.build_request(method, url, **kwargs)
        response = client.send(request, stream=stream)
        wait = classify(response)
        if gate is not None:
            _learn(gate, response, wait, scale)
        if wait is not None and (idempotent or response.status_code in (429, 503)):
            response.close()
            raise _TryAgain(response, wait)
        return response

    scale = policy.time_scale
    try:
        return call(once, policy=policy, transient=on, service=service)
    except _TryAgain as exc:  # still refused when the policy gave up: counted by `call`
        return exc.response


def _learn(gate: Gate, response: httpx.Response, wait: float | None, scale: float) -> None:
    """Shut `gate` for as long as `response` says the service's limit is spent: a transient
    refusal naming its wait, or any answer with no request left in the rate-limit window."""
    if wait:
        gate.shut(wait / scale)
    elif response.headers.get("x-ratelimit-remaining") == "0":
        # The reset is an epoch second of the wall clock, whatever the services' clock.
        reset = rate_limit_reset(response)
        if reset:
            gate.shut(reset)


class RetryingClient:
    """An httpx client whose requests go through `send`, with one service's error for no answer."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        policy: RetryPolicy,
        classify: Classifier,
        error: type[IntegrationError],
        setting: str,
        gate: Gate | None = None,
    ) -> None:
        """`error` is the service's exception; `setting` names the config key of its URL;
        `gate` is the service's rate limit shared with the process's other clients
        (`Gate.of`)."""
        self.client = client
        self.policy = policy
        self.gate = gate
        self._classify = classify
        self._error = error
        self._setting = setting

    def request(
        self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """`send` the request; no answer within the policy becomes the service's error."""
        try:
            return send(
                self.client,
                method,
                url,
                policy=self.policy,
                classify=self._classify,
                idempotent=idempotent,
                gate=self.gate,
                service=self._error.service.lower(),
                **kwargs,
            )
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: httpx.TransportError) -> IntegrationError:
        """The error for a request that got no answer, also after retries."""
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        # An httpx.URL is always true: an empty base URL must be asked for its text.
        where = str(self.client.base_url) or str(exc.request.url.copy_with(path="/", query=None))
        return self._error(
            f"{self._error.service} at {where} {kind}: {type(exc).__name__} {exc}".rstrip(),
            hint=f"check {self._setting} and the network; oob tried {self.policy.attempts} times",
            transient=True,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def json_object(self, response: httpx.Response, what: str, hint: str) -> dict[str, Any]:
        """The body as a JSON object, or the service's error (`hint` says what to check)."""
        try:
            data = response.json()
        except ValueError:
            raise self._error(
                f"{self._error.service} sent something that is not JSON for {what}", hint=hint
            ) from None
        if not isinstance(data, dict):
            raise self._error(f"{self._error.service} sent unexpected JSON for {what}")
        return data
