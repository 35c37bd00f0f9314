"""Slack's Web API on the wire, as slack_sdk's WebClient speaks it.

Mounted at `/slack/api/`. Every answer is HTTP 200 with `ok`, except rate limiting (HTTP 429 with
`Retry-After`), as Slack does. Channels are addressed by id; chat.postMessage also accepts a
channel name, which real Slack allows there, but history and update need the id.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oob.sandbox.pages import SLACK_PAGES
from oob.sandbox.slack_modals import opener, post_ephemeral, with_block_ids
from oob.sandbox.slack_wire import SlackError, json_arg
from oob.sandbox.wire import bearer, body_params, origin
from oob.sandbox.workspace import BURST, Channel, Message
from oob.sandbox.world import World

BOT_USER = "U0OOBSANDBOX"
BOT_ID = "B0OOBSANDBOX"
APP_ID = "A0OOBSANDBOX"
MAX_TEXT = 40_000
# The scope each method needs with a bot token (Slack's method pages); None: no scope.
NEEDED: dict[str, str | None] = {
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.getPermalink": None,
    "conversations.history": "channels:history",
    "conversations.list": "channels:read",
    "conversations.info": "channels:read",
    "usergroups.list": "usergroups:read",
    "views.open": None,
}
# The methods whose effects the ledger records.
RECORDED = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open")
# conversations.list hands out at most this many channels a page, whatever `limit` asks
# ("fewer than the requested number of items may be returned").
LIST_PAGE = 200

# The workspace's user groups (id, handle, name, members), as usergroups.list shows them.
USERGROUPS = (
    ("S0CMSENG01", "cms-engineers-group", "CMS Engineers", ("U0ENG00001", "U0ENG00002")),
    ("S0HELPDSK1", "cms-helpdesk-group", "CMS Helpdesk", ("U0HLP00001",)),
)
# What a message notifies beyond the channel's readers: special mentions, groups, people.
MENTION = re.compile(
    r"<!(here|channel|everyone)(?:\|[^>]*)?>|<!subteam\^(\w+)(?:\|[^>]*)?>|<@(\w+)"
)

Method = Callable[[dict[str, Any], World], Awaitable[dict[str, Any]]]


class SlackApi:
    """The Slack Web API methods over one world's workspace."""

    def __init__(self, world: World, monotonic: Callable[[], float] = time.monotonic) -> None:
        """`monotonic` is the real clock of the rate limit (tests may pass their own)."""
        self.world = world
        self._monotonic = monotonic
        self._origin = ""  # where the request being served addressed the sandbox

    def routes(self) -> list[Route]:
        """One route per Web API method; GET and POST alike, as Slack accepts both."""
        methods: dict[str, Method] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.postEphemeral": post_ephemeral,
            "chat.getPermalink": self.permalink,
            "conversations.history": self.history,
            "conversations.list": self.list_channels,
            "conversations.info": self.info,
            "usergroups.list": self.usergroups,
            "views.open": opener(APP_ID, BOT_ID),
        }
        return [
            Route(f"/{name}", self._endpoint(name, method), methods=["GET", "POST"])
            for name, method in methods.items()
        ]

    def _endpoint(self, name: str, method: Method) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            args: dict[str, Any] = dict(request.query_params)
            args.update(await body_params(request))
            token = bearer(request, "bearer") or args.pop("token", None)
            headers = {"X-Slack-Req-Id": f"sandbox-{time.monotonic_ns()}"}
            try:
                if not token:
                    raise SlackError("not_authed")
                if token != self.world.options.token:
                    raise SlackError("invalid_auth")
                with self.world.session() as world:
                    self._origin = origin(request)  # requests are served one at a time here
                    scopes = world.slack.scopes
                    needed = NEEDED[name]
                    headers["x-oauth-scopes"] = ",".join(scopes)
                    headers["x-accepted-oauth-scopes"] = needed or ""
                    if needed is not None and needed not in scopes:
                        raise SlackError("missing_scope", needed=needed, provided=",".join(scopes))
                    data = await method(args, world)
                    if name in RECORDED:
                        world.ledger.record(
                            "slack",
                            request.method,
                            request.url.path,
                            _summary(name, args, data),
                            world.now,
                        )
            except SlackError as error:
                data = {"ok": False, "error": error.error, **error.details}
            except RateLimitedError as limited:
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    429,
                    headers={**headers, "Retry-After": str(limited.retry_after)},
                )
            return JSONResponse(data, headers=headers)

        return endpoint

    def _take(self, channel: Channel) -> None:
        # A token bucket in real seconds, as Slack's is: a sandbox running hours of pipeline
        # in minutes must not let oob post ten times faster than Slack would.
        now = self._monotonic()
        tokens = min(float(BURST), channel.allowance + (now - channel.allowance_at))
        if tokens < 1:
            raise RateLimitedError(1)
        channel.allowance, channel.allowance_at = tokens - 1, now

    # -- methods ------------------------------------------------------------------------------

    async def auth_test(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """auth.test: who the token is."""
        ws = world.slack
        return {
            "ok": True,
            "url": f"https://{ws.domain}.slack.com/",
            "team": ws.team,
            "user": world.options.user,
            "team_id": ws.team_id,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    async def post_message(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """chat.postMessage: post to a channel (by id or name); keeps `metadata`."""
        channel = self._channel(args, world, by_name=True)
        if channel.archived:
            raise SlackError("is_archived")
        if not channel.member and "chat:write.public" not in world.slack.scopes:
            raise SlackError("not_in_channel")
        text = str(args.get("text") or "")
        blocks = json_arg(args.get("blocks"))
        if not text and not blocks:
            raise SlackError("no_text")
        if len(text) > MAX_TEXT:
            raise SlackError("msg_too_long")
        metadata = json_arg(args.get("metadata"))
        if metadata is not None and not (isinstance(metadata, dict) and metadata.get("event_type")):
            raise SlackError("invalid_metadata_format")
        thread_ts = args.get("thread_ts")
        if thread_ts and channel.find(str(thread_ts)) is None:
            raise SlackError("thread_not_found")
        self._take(channel)
        message = Message(
            ts=world.slack.next_ts(world.now),
            text=text,
            user=BOT_USER,
            bot_id=BOT_ID,
            blocks=with_block_ids(blocks) if isinstance(blocks, list) else None,
            metadata=metadata,
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        channel.messages.append(message)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "message": message.as_json(team=world.slack.team_id, with_metadata=True),
        }

    async def update(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """chat.update: change a message the bot posted (channel by id)."""
        channel = self._channel(args, world, by_name=False)
        message = channel.find(str(args.get("ts", "")))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != BOT_USER:
            raise SlackError("cant_update_message")
        if len(str(args.get("text") or "")) > MAX_TEXT:
            raise SlackError("msg_too_long")
        if "text" in args:
            message.text = str(args["text"])
        blocks = json_arg(args.get("blocks"))
        if isinstance(blocks, list):
            message.blocks = with_block_ids(blocks)
        metadata = json_arg(args.get("metadata"))
        if isinstance(metadata, dict):
            message.metadata = metadata
        message.edited_ts = world.slack.next_ts(world.now)
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.as_json(team=world.slack.team_id, with_metadata=False),
        }

    async def permalink(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """chat.getPermalink: the link a person opens to see one message (channel by id)."""
        channel = self._channel(args, world, by_name=False)
        ts = str(args.get("message_ts", ""))
        if channel.find(ts) is None:
            raise SlackError("message_not_found")
        # The sandbox's own page of the message: a drill's links open, and none is real.
        link = f"{self._origin}{SLACK_PAGES}/archives/{channel.id}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel.id, "permalink": link}

    async def history(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """conversations.history: newest first, with limit, oldest/latest, cursor and metadata."""
        channel = self._channel(args, world, by_name=False)
        if not channel.member:
            raise SlackError("not_in_channel")
        try:
            limit = min(999, max(1, int(args.get("limit") or 100)))
            oldest = float(args.get("oldest") or 0)
            latest = float(args.get("latest") or "inf")
            offset = int(args.get("cursor") or 0)
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
        inclusive = _flag(args.get("inclusive"))
        with_metadata = _flag(args.get("include_all_metadata"))

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        found = [m for m in reversed(channel.messages) if within(float(m.ts))]
        page = found[offset : offset + limit]
        more = offset + limit < len(found)
        return {
            "ok": True,
            "messages": [
                m.as_json(team=world.slack.team_id, with_metadata=with_metadata) for m in page
            ],
            "has_more": more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
        }

    async def list_channels(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """conversations.list: a page of the workspace's channels and the cursor of the next.
        Archived ones are left out of a page after it is cut, so a page can come short (even
        empty) while more follow: clients must follow `next_cursor`, not count."""
        try:
            limit = min(LIST_PAGE, max(1, int(args.get("limit") or 100)))
            offset = _offset(str(args.get("cursor") or ""))
        except ValueError as exc:
            raise SlackError("invalid_cursor") from exc
        channels = list(world.slack.channels.values())
        page = channels[offset : offset + limit]
        if _flag(args.get("exclude_archived")):
            page = [c for c in page if not c.archived]
        more = offset + limit < len(channels)
        return {
            "ok": True,
            "channels": [_channel_json(c) for c in page],
            "response_metadata": {"next_cursor": _cursor(offset + limit) if more else ""},
        }

    async def info(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """conversations.info: one channel by id."""
        return {"ok": True, "channel": _channel_json(self._channel(args, world, by_name=False))}

    async def usergroups(self, args: dict[str, Any], world: World) -> dict[str, Any]:
        """usergroups.list: the workspace's user groups; members with `include_users`."""
        users = _flag(args.get("include_users"))
        groups = []
        for ident, handle, name, members in USERGROUPS:
            group: dict[str, Any] = {
                "id": ident,
                "team_id": world.slack.team_id,
                "is_usergroup": True,
                "is_subteam": True,
                "name": name,
                "description": "",
                "handle": handle,
                "is_external": False,
                "auto_type": None,
                "date_create": 1_600_000_000,
                "date_update": 1_600_000_000,
                "date_delete": 0,
                "created_by": BOT_USER,
                "updated_by": BOT_USER,
                "deleted_by": None,
                "prefs": {"channels": [], "groups": []},
                "user_count": len(members),
            }
            if users:
                group["users"] = list(members)
            groups.append(group)
        return {"ok": True, "usergroups": groups}

    @staticmethod
    def _channel(args: dict[str, Any], world: World, *, by_name: bool) -> Channel:
        ref = args.get("channel")
        if not ref:
            raise SlackError("channel_not_found")
        channel = world.slack.channel(str(ref), by_name=by_name)
        if channel is None:
            raise SlackError("channel_not_found")
        return channel


class RateLimitedError(Exception):
    """Slack's HTTP 429: retry after this many seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = retry_after


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _channel_json(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_private": False,
        "is_archived": channel.archived,
        "is_member": channel.member,
        "is_general": False,
        "is_mpim": False,
        "is_shared": False,
        "is_ext_shared": False,
        "is_org_shared": False,
        "is_pending_ext_shared": False,
        "created": channel.created,
        "creator": "U01WORKSPACE",
        "unlinked": 0,
        "name_normalized": channel.name,
        "num_members": 42,
        "previous_names": [],
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {
            "value": f"The {channel.name} channel",
            "creator": "U01WORKSPACE",
            "last_set": channel.created,
        },
    }


def notified(text: str) -> list[str]:
    """Who Slack would notify for `text` beyond the channel: `here`/`channel`/`everyone`, the
    members of each mentioned user group (`@handle` for the group), and mentioned users."""
    groups = {ident: (handle, members) for ident, handle, _, members in USERGROUPS}
    found: list[str] = []
    for special, group, user in MENTION.findall(text):
        if special:
            found.append(f"!{special}")
        elif group in groups:
            handle, members = groups[group]
            found += [f"@{handle}", *members]
        elif user:
            found.append(user)
    return list(dict.fromkeys(found))


def _summary(name: str, args: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    if name == "views.open":
        view = data["view"]
        return {"view": view["id"], "callback_id": view["callback_id"], "title": view["title"]}
    if name == "chat.postEphemeral":
        return {
            "channel": args.get("channel"),
            "user": args.get("user"),
            "ts": data.get("message_ts"),
            "text": str(args.get("text", ""))[:200],
        }
    metadata = json_arg(args.get("metadata"))
    summary = {
        "channel": data.get("channel"),
        "ts": data.get("ts"),
        "text": str(args.get("text", ""))[:200],
        "notified": notified(str(args.get("text", ""))),
    }
    if isinstance(metadata, dict):
        summary["event_type"] = metadata.get("event_type")
        summary["event_payload"] = metadata.get("event_payload")
    return summary


def _cursor(offset: int) -> str:
    """An opaque cursor, shaped like Slack's (base64 of a position)."""
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _offset(cursor: str) -> int:
    if not cursor:
        return 0
    kind, _, value = base64.b64decode(cursor, validate=True).decode().partition(":")
    if kind != "offset" or not value.isdigit():
        raise ValueError(cursor)
    return int(value)
