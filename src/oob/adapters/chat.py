"""The chat port: Slack channels on slack_sdk, other channels (email, Teams, webhooks) on apprise.

Posting is idempotent, since a step that posts may run again after a crash or a lost answer: a
Slack message carries its key in `metadata`, and before posting, the channel's recent history is
searched for that key, so a retry finds the first message instead of posting a second. Rate limits
(HTTP 429) are waited out by slack_sdk's `RateLimitErrorRetryHandler`, bounded by the retry policy;
connection and server errors are retried here, around the look-then-post pair, because slack_sdk's
own server-error retry would post again without looking. apprise channels return no message id:
they are sent once, cannot be looked up, and an update is sent as a new message.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from http.client import HTTPException
from typing import Any, TypeVar
from urllib.error import URLError

import stamina
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from oob.adapters import retry
from oob.adapters.retry import Gate, RetryPolicy
from oob.config import Channel
from oob.errors import ChatError, ConfigError
from oob.ports import Button, PostedMessage

T = TypeVar("T")

EVENT_TYPE = "oob_message"
# How far back `post` looks for its key: the messages oob posts in one run are few and recent.
_HISTORY_LIMIT = 200
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_CHANNEL_ERRORS = {
    "channel_not_found": (
        "Slack has no channel {name} that the app can see",
        "check the name in [channels]; a private channel must invite the app",
    ),
    "not_in_channel": ("the Slack app is not in {name}", "invite it: /invite @<app> in {name}"),
    "is_archived": ("{name} is archived", "unarchive it or configure another channel"),
    "msg_too_long": (
        "the message for {name} is longer than Slack allows (40,000 characters)",
        "shorten the template of that message",
    ),
    "cant_update_message": (
        "Slack refused to change a message in {name}: another app or person posted it",
        "check that [services.slack] uses the token of the app that posted it",
    ),
}
SECTION_LIMIT = 3000  # characters of text in one section block
_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}

#: Sends one message through apprise to the URL; True when delivered.
AppriseSend = Callable[[str, str], bool]


class BoundedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, refusing waits longer than the policy allows and skipping the
    wait in stamina's testing mode, so unit tests stay fast."""

    def __init__(self, policy: RetryPolicy, gate: Gate) -> None:
        super().__init__(max_retry_count=policy.attempts - 1)
        self._longest_wait = policy.longest_wait
        self.gate = gate  # the token's limit, shared with the process's other Slack clients

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None
        values = {k.lower(): v for k, v in response.headers.items()}.get("retry-after") or ["1"]
        if values[0].isdigit():
            self.gate.shut(int(values[0]))  # Slack's waits are in real seconds
        return not values[0].isdigit() or int(values[0]) <= self._longest_wait

    def prepare_for_next_attempt(self, *, state: RetryState, **attempt: Any) -> None:
        if stamina.is_testing():
            state.next_attempt_requested = True
            state.increment_current_attempt()
            return
        super().prepare_for_next_attempt(state=state, **attempt)


def slack_client(
    token: str, api_url: str, timeout_seconds: float, policy: RetryPolicy
) -> WebClient:
    """A WebClient that waits out rate limits but leaves other retries to `SlackChat`."""
    return WebClient(
        token=token,
        base_url=api_url.rstrip("/") + "/",
        timeout=math.ceil(timeout_seconds),
        retry_handlers=[BoundedRateLimitHandler(policy, Gate.of(api_url, token))],
    )


def blocks(text: str, buttons: Sequence[Button] = (), footer: str = "") -> list[dict[str, Any]]:
    """A message's Block Kit: its text in sections (Slack takes at most 3,000 characters in
    one), then its buttons -- each carrying its action and run -- or, once decided, `footer`."""
    found: list[dict[str, Any]] = []
    rest = text
    while rest:
        cut = len(rest) if len(rest) <= SECTION_LIMIT else rest.rfind("\n", 0, SECTION_LIMIT) + 1
        cut = cut or SECTION_LIMIT
        found.append({"type": "section", "text": {"type": "mrkdwn", "text": rest[:cut]}})
        rest = rest[cut:]
    if buttons:
        elements = [
            {
                "type": "button",
                "action_id": f"oob:{b.action}",
                "text": {"type": "plain_text", "text": b.label},
                "value": b.run_id,
                **({"style": b.style} if b.style else {}),
            }
            for b in buttons
        ]
        found.append({"type": "actions", "block_id": "oob", "elements": elements})
    if footer:
        found.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    return found


def apprise_send(url: str, text: str) -> bool:
    """Deliver `text` to an apprise URL (apprise is imported here: it is slow to import)."""
    import apprise

    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise ConfigError(
            "an apprise channel URL is not one apprise understands",
            hint="see https://github.com/caronc/apprise/wiki for the URL forms",
        )
    return bool(notifier.notify(body=text))


class SlackChat:
    """`oob.ports.Chat` over the configured channels."""

    def __init__(
        self,
        channels: Mapping[str, Channel],
        *,
        slack: WebClient | None,
        token_env: str | None,
        policy: RetryPolicy | None = None,
        environ: Mapping[str, str] | None = None,
        send_apprise: AppriseSend = apprise_send,
    ) -> None:
        """`slack` may be None when no channel is a Slack channel; `environ` holds the apprise
        URLs (default: the process environment)."""
        import os

        self._channels = dict(channels)
        self._slack = slack
        self._token_env = token_env or "the Slack token variable"
        self._policy = policy or RetryPolicy()
        self._environ = environ if environ is not None else os.environ
        self._send_apprise = send_apprise
        self._ids: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"SlackChat(channels={sorted(self._channels)!r})"

    def for_channels(self, channels: Mapping[str, Channel]) -> SlackChat:
        """This workspace's client (its rate-limit state, the channel IDs it learnt), posting to
        `channels`."""
        bound = copy.copy(self)
        bound._channels = dict(channels)
        return bound

    # --- the port -------------------------------------------------------------------------

    def post(
        self, channel: str, text: str, key: str, buttons: Sequence[Button] = ()
    ) -> PostedMessage:
        """Post `text` once to the configured channel; a retry returns the first message."""
        target = self._channel(channel)
        if target.slack is None:
            self._apprise(channel, target, text)
            return PostedMessage(channel=channel, key=key, ts=None)
        slack = self._client()
        channel_id = self.channel_id(target.slack)

        def look_then_post() -> str:
            found = self._find(channel_id, key)
            if found is not None:
                return found
            response = slack.chat_postMessage(
                channel=channel_id,
                text=text,
                blocks=blocks(text, buttons) if buttons else None,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}},
                unfurl_links=False,
            )
            return str(response["ts"])

        ts = self._retry(target.slack, look_then_post)
        # The link people open from the timeline, the dashboard and the postmortem.
        link = self._retry(
            target.slack,
            lambda: slack.chat_getPermalink(channel=channel_id, message_ts=ts)["permalink"],
        )
        return PostedMessage(channel=channel, key=key, ts=ts, permalink=str(link))

    def settle(self, message: PostedMessage, footer: str) -> None:
        """Replace the buttons under `message` with `footer`, keeping its text (a message
        without buttons any more, or gone, is left as it is)."""
        target = self._channel(message.channel)
        if target.slack is None or message.ts is None:
            return
        slack = self._client()
        channel_id = self.channel_id(target.slack)
        ts = message.ts

        def shown() -> dict[str, Any] | None:
            page = slack.conversations_history(
                channel=channel_id, latest=ts, inclusive=True, limit=1
            )
            found = [m for m in page.get("messages") or [] if m.get("ts") == ts]
            return dict(found[0]) if found else None

        now = self._retry(target.slack, shown)
        if now is None or not any(b.get("type") == "actions" for b in now.get("blocks") or []):
            return
        text = str(now.get("text", ""))
        self._retry(
            target.slack,
            lambda: slack.chat_update(
                channel=channel_id, ts=ts, text=text, blocks=blocks(text, footer=footer)
            ),
        )

    # --- beyond the port: answering Slack's interactions (`oob.web.slack`) -----------------

    def tell(self, channel_id: str, user: str, text: str) -> None:
        """Show `text` to `user` alone, in the channel where they clicked."""
        slack = self._client()
        self._retry(
            channel_id,
            lambda: slack.chat_postEphemeral(channel=channel_id, user=user, text=text),
        )

    def open_modal(self, trigger_id: str, view: Mapping[str, Any]) -> None:
        """Open `view` for the person whose click gave `trigger_id` (valid for 3 seconds: a
        single attempt)."""
        try:
            self._client().views_open(trigger_id=trigger_id, view=dict(view))
        except SlackApiError as exc:
            raise self._translate(exc, "views.open") from None

    # --- beyond the port: for `oob doctor` ------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """`auth.test`: the bot's user, team and the token's scopes."""
        slack = self._client()
        response = self._retry("auth.test", slack.auth_test)
        scopes = (response.headers or {}).get("x-oauth-scopes", "")
        return {
            "user": response.get("user"),
            "team": response.get("team"),
            "scopes": [s.strip() for s in str(scopes).split(",") if s.strip()],
        }

    def can_post(self, channel: str) -> str:
        """Why the app can post to the configured channel (raises ChatError when it cannot):
        the channel exists, is not archived, and the app is a member."""
        target = self._channel(channel)
        if target.slack is None:
            url = self._apprise_url(channel, target)
            import apprise

            if not apprise.Apprise().add(url):
                raise ChatError(
                    f"channel {channel}: {target.apprise_url_env} holds a URL apprise cannot use",
                    hint="see https://github.com/caronc/apprise/wiki for the URL forms",
                )
            return "apprise URL understood (apprise cannot test delivery without sending)"
        slack = self._client()
        channel_id = self.channel_id(target.slack)
        info = self._retry(target.slack, lambda: slack.conversations_info(channel=channel_id))
        data = info.get("channel") or {}
        if data.get("is_archived"):
            raise ChatError(f"{target.slack} is archived", hint="unarchive it or configure another")
        if data.get("is_member") is False:
            raise ChatError(
                f"the Slack app is not a member of {target.slack}",
                hint=f"invite it: /invite @<app> in {target.slack}",
            )
        return f"{target.slack} ({channel_id}) open, app is a member"

    def channel_id(self, name: str) -> str:
        """The id of a Slack channel given as `#name`, `name` or an id (looked up once)."""
        if _CHANNEL_ID.match(name):
            return name
        bare = name.lstrip("#")
        if bare in self._ids:
            return self._ids[bare]
        slack = self._client()
        cursor: str | None = None
        while True:
            # Archived channels are listed too, so that one is named as archived rather than
            # missing; a page may hold fewer than `limit` channels while more follow.
            page = self._retry(
                name,
                partial(
                    slack.conversations_list,
                    types="public_channel,private_channel",
                    limit=1000,
                    cursor=cursor,
                ),
            )
            for data in page.get("channels") or []:
                if data.get("name") == bare and data.get("is_archived"):
                    message, hint = _CHANNEL_ERRORS["is_archived"]
                    raise ChatError(message.format(name=name), hint=hint.format(name=name))
                if not data.get("is_archived"):
                    self._ids[str(data.get("name"))] = str(data.get("id"))
            if bare in self._ids:
                return self._ids[bare]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                raise ChatError(
                    f"Slack has no channel {name} that the app can see",
                    hint="check the name in [channels]; a private channel must invite the app",
                )

    # --- helpers --------------------------------------------------------------------------

    def _find(self, channel_id: str, key: str) -> str | None:
        history = self._client().conversations_history(
            channel=channel_id,
            limit=_HISTORY_LIMIT,
            include_all_metadata=True,
        )
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("key") == key
            ):
                return str(message["ts"])
        return None

    def _retry(self, name: str, call: Callable[[], T]) -> T:
        """Run `call`, again on connection and server errors; translate what is left."""
        gate = self._gate()

        def gated() -> T:
            left = gate.left() if gate is not None and not stamina.is_testing() else 0
            if 0 < left <= self._policy.longest_wait:
                time.sleep(left)
            return call()

        try:
            return retry.call(gated, policy=self._policy, transient=_transient, service="slack")
        except SlackApiError as exc:
            raise self._translate(exc, name) from None
        except (URLError, OSError, HTTPException) as exc:
            raise ChatError(
                f"Slack could not be reached: {exc}",
                hint="check services.slack.api_url and the network; oob retried "
                f"up to {self._policy.attempts} times",
                transient=True,
            ) from None

    def _translate(self, exc: SlackApiError, name: str) -> ChatError:
        status = exc.response.status_code
        error = str(exc.response.get("error") or f"HTTP {status}")
        if error in _AUTH_ERRORS:
            return ChatError(f"Slack refused the token ({error})", hint=f"check {self._token_env}")
        if error == "missing_scope":
            needed = exc.response.get("needed") or "chat:write, channels:history, channels:read"
            return ChatError(
                f"the Slack token lacks a scope for {name}",
                hint=f"add {needed} to the app and reinstall it",
            )
        if error == "ratelimited":
            after = (exc.response.headers or {}).get("Retry-After") or "a few"
            return ChatError(
                "Slack is rate limiting oob, also after waiting",
                hint=f"try again in {after} seconds",
                transient=True,
            )
        if error in _CHANNEL_ERRORS:
            message, hint = _CHANNEL_ERRORS[error]
            return ChatError(message.format(name=name), hint=hint.format(name=name))
        if status >= 500:
            answer = f"Slack answered {status} for {name}"
            return retry.still_failing(ChatError, answer, "https://slack-status.com")
        return ChatError(f"Slack answered {error} for {name}")

    def _apprise(self, name: str, target: Channel, text: str) -> None:
        url = self._apprise_url(name, target)
        if not self._send_apprise(url, text):
            raise ChatError(
                f"apprise could not deliver to channel {name}",
                hint=f"check the URL in {target.apprise_url_env} and the service it names",
            )

    def _apprise_url(self, name: str, target: Channel) -> str:
        env = target.apprise_url_env or ""
        url = self._environ.get(env)
        if not url:
            raise ConfigError(
                f"channel {name} needs {env}, which is not set",
                hint=f"export {env} with the apprise URL of the channel",
            )
        return url

    def _channel(self, name: str) -> Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise ConfigError(
                f"no channel {name!r} in [channels]",
                hint=f"use one of: {', '.join(sorted(self._channels))}",
            ) from None

    def _gate(self) -> Gate | None:
        """The Slack token's rate limit as this process knows it."""
        handlers = self._slack.retry_handlers if self._slack is not None else []
        return next((h.gate for h in handlers if isinstance(h, BoundedRateLimitHandler)), None)

    def _client(self) -> WebClient:
        if self._slack is None:
            raise ConfigError("a channel uses Slack, but [services.slack] is missing")
        return self._slack


def _transient(exc: Exception) -> bool:
    if isinstance(exc, SlackApiError):
        return int(exc.response.status_code) >= 500
    return isinstance(exc, (URLError, ConnectionError, TimeoutError, HTTPException))
