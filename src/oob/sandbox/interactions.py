"""Slack interactivity, the sandbox's side: the simulated people click, submit and type `/oob`.

Control endpoints under `/_sandbox/slack/` (JSON in, JSON out):

- `POST app {interactivity_url, commands_url}` (and `GET app`): the Slack app's settings.
- `POST click {user, run, action}`: `user` (a person of `SLACK_USERS` or a member's id) clicks
  the button `action` whose value is `run` on the newest message showing one; Slack's
  `block_actions` payload goes to the interactivity URL.
- `POST submit {user, view?, values: {block_id: {action_id: text}}}`: the person submits the
  view (their newest open one if `view` is not given) with what they typed: `view_submission`.
- `POST command {user, text, channel?}`: the person types `/oob TEXT` in a channel.
- `GET ephemeral?user=`, `GET views?user=`, `GET users`: what a person was told or has open.

Each is sent as Slack sends it: a form body, signed with the app's signing secret
(`X-Slack-Signature`, `X-Slack-Request-Timestamp` in the world's simulated time, since a
rehearsal keeps every clock on the sandbox's), and it answers with what oob answered:
`{status, body, trigger_id, late, ...}`. `late` is an answer Slack would not have waited for
(three seconds): Slack then shows the person an error and ignores the answer, and so does the
sandbox. The world is locked only while a payload is made and while the answer takes effect:
oob calls the Slack API back (views.open, chat.update) while it handles the request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oob.sandbox.slack import APP_ID, BOT_ID, BOT_USER
from oob.sandbox.slack_hooks import issue_hook
from oob.sandbox.slack_modals import member, view_id, view_problem, with_block_ids
from oob.sandbox.workspace import (
    PEOPLE,
    SLACK_USERS,
    STRANGER,
    Channel,
    Ephemeral,
    Message,
    Trigger,
    View,
    Workspace,
    verification_token,
)
from oob.sandbox.world import World

__all__ = ["SLACK_USERS", "STRANGER", "Interactions", "sign"]

COMMAND = "/oob"
ANSWER_SECONDS = 3.0  # how long Slack waits for the app's answer
SEND_TIMEOUT = 10.0
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(secret: str, timestamp: int | str, body: bytes | str) -> dict[str, str]:
    """The headers Slack signs a request with: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


class RefusedError(Exception):
    """A control request the sandbox cannot play (HTTP `status`, a sentence why)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Outgoing:
    """One request to the app, made under the lock and sent after it."""

    url: str
    fields: dict[str, str]
    timestamp: int
    trigger_id: str
    summary: dict[str, Any]


@dataclass
class Answer:
    """What the app answered, and how long it took in real seconds."""

    status: int | None
    body: str
    content_type: str
    elapsed: float
    error: str | None = None

    @property
    def heard(self) -> bool:
        """Slack took the answer: 200 within three seconds."""
        return self.status == 200 and self.elapsed <= ANSWER_SECONDS

    def as_json(self) -> dict[str, Any]:
        """The control API's account of it."""
        data: dict[str, Any] = {"status": self.status, "body": self.body}
        data["late"] = self.elapsed > ANSWER_SECONDS
        data["elapsed"] = round(self.elapsed, 3)
        if self.error is not None:
            data["error"] = self.error
        return data


Handler = Callable[[World, dict[str, Any]], Outgoing]


class Interactions:
    """The control endpoints of Slack interactivity over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        """Under `/_sandbox/`: the app's settings, click, submit, command, what people see."""
        return [
            Route("/slack/app", self.app, methods=["GET", "POST"]),
            Route("/slack/click", self.click, methods=["POST"]),
            Route("/slack/submit", self.submit, methods=["POST"]),
            Route("/slack/command", self.command, methods=["POST"]),
            Route("/slack/ephemeral", self.ephemeral, methods=["GET"]),
            Route("/slack/views", self.views, methods=["GET"]),
            Route("/slack/users", self.users, methods=["GET"]),
        ]

    # -- settings and what people see ----------------------------------------------------------

    async def app(self, request: Request) -> Response:
        """GET/POST /_sandbox/slack/app {interactivity_url?, commands_url?}."""
        body = await _json(request) if request.method == "POST" else {}
        for key in ("interactivity_url", "commands_url"):
            value = body.get(key)
            if value is not None and not (
                isinstance(value, str) and value.startswith(("http://", "https://"))
            ):
                return JSONResponse({"error": f"{key} is an http(s) URL"}, 400)
        with self.world.session() as world:
            settings = world.slack.app
            settings.interactivity_url = body.get("interactivity_url", settings.interactivity_url)
            settings.commands_url = body.get("commands_url", settings.commands_url)
            data = {
                "interactivity_url": settings.interactivity_url,
                "commands_url": settings.commands_url,
                "app_id": APP_ID,
            }
        return JSONResponse(data)

    async def ephemeral(self, request: Request) -> Response:
        """GET /_sandbox/slack/ephemeral?user=: the ephemeral messages, oldest first."""
        with self.world.session() as world:
            try:
                user = _user(world.slack, request.query_params.get("user"), optional=True)
            except RefusedError as refused:
                return JSONResponse({"error": refused.message}, refused.status)
            shown = [e.as_json() for e in world.slack.ephemerals if user in (None, e.user)]
        return JSONResponse({"user": user, "ephemeral": shown})

    async def views(self, request: Request) -> Response:
        """GET /_sandbox/slack/views?user=: the open modals, oldest first."""
        with self.world.session() as world:
            try:
                user = _user(world.slack, request.query_params.get("user"), optional=True)
            except RefusedError as refused:
                return JSONResponse({"error": refused.message}, refused.status)
            ws = world.slack
            shown = [
                {
                    "user": v.user,
                    "errors": v.errors,
                    **v.as_json(team=ws.team_id, app_id=APP_ID, bot_id=BOT_ID),
                }
                for v in ws.views
                if user in (None, v.user)
            ]
        return JSONResponse({"user": user, "views": shown})

    async def users(self, request: Request) -> Response:
        """GET /_sandbox/slack/users: the people's Slack ids, the stranger, the members."""
        members = [{"id": ident, "name": name} for ident, name in PEOPLE]
        return JSONResponse({"people": SLACK_USERS, "stranger": STRANGER, "members": members})

    # -- what people do ------------------------------------------------------------------------

    async def click(self, request: Request) -> Response:
        """POST /_sandbox/slack/click {user, run, action}: a block_actions payload."""
        return await self._play(request, _click, "/interactions", after=None)

    async def submit(self, request: Request) -> Response:
        """POST /_sandbox/slack/submit {user, view?, values}: a view_submission payload."""
        return await self._play(request, _submission, "/interactions", after=_submitted)

    async def command(self, request: Request) -> Response:
        """POST /_sandbox/slack/command {user, text, channel?}: the slash command `/oob`."""
        return await self._play(request, _command, "/commands", after=_answered)

    async def _play(
        self,
        request: Request,
        make: Handler,
        path: str,
        after: Callable[[World, Outgoing, Answer], dict[str, Any]] | None,
    ) -> Response:
        body = await _json(request)
        try:
            with self.world.session() as world:
                outgoing = make(world, body)
                secret = world.options.signing_secret
        except RefusedError as refused:
            return JSONResponse({"error": refused.message}, refused.status)
        answer = await _send(outgoing, secret)
        data = {**answer.as_json(), "trigger_id": outgoing.trigger_id}
        with self.world.session() as world:
            if after is not None:
                data.update(after(world, outgoing, answer))
            summary = {**outgoing.summary, "status": answer.status, "late": data["late"]}
            world.ledger.record("slack", "POST", path, summary, world.now)
        return JSONResponse(data, 502 if answer.status is None else 200)


# -- the payloads ------------------------------------------------------------------------------


def _click(world: World, body: dict[str, Any]) -> Outgoing:
    ws = world.slack
    user = _user(ws, body.get("user"))
    run, action = body.get("run"), body.get("action")
    if not isinstance(run, str) or not isinstance(action, str):
        raise RefusedError(400, "give the button's `run` (its value) and `action` (action_id)")
    url = _url(ws.app.interactivity_url, "interactivity_url")
    found = _button(ws, user, action, run)
    if found is None:
        raise RefusedError(404, f"no message {user} sees has a button {action!r} for {run!r}")
    channel, message, block, button = found
    ephemeral = isinstance(message, Ephemeral)
    trigger = _trigger(ws, user)
    hook = issue_hook(world, user, channel.id, message.ts, ephemeral=ephemeral)
    action_json: dict[str, Any] = {
        "action_id": button["action_id"],
        "block_id": block["block_id"],
        "text": button.get("text"),
        "value": button.get("value"),
        "type": "button",
        "action_ts": f"{world.now:.6f}",
    }
    if "style" in button:
        action_json["style"] = button["style"]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user_json(ws, user),
        "api_app_id": APP_ID,
        "token": verification_token(world.options.token),
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": channel.id,
            "is_ephemeral": ephemeral,
        },
        "trigger_id": trigger.id,
        "team": {"id": ws.team_id, "domain": ws.domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel.id, "name": channel.name},
    }
    if isinstance(message, Message):  # Slack leaves an ephemeral message out
        payload["message"] = message.as_json(team=ws.team_id, with_metadata=False)
    payload["state"] = {"values": {}}
    payload["response_url"] = hook
    payload["actions"] = [action_json]
    summary = {"type": "block_actions", "user": user, "action": action, "value": run}
    summary.update(channel=channel.id, message_ts=message.ts)
    return Outgoing(url, {"payload": json.dumps(payload)}, int(world.now), trigger.id, summary)


def _submission(world: World, body: dict[str, Any]) -> Outgoing:
    ws = world.slack
    user = _user(ws, body.get("user"))
    url = _url(ws.app.interactivity_url, "interactivity_url")
    ident = body.get("view")
    mine = [v for v in ws.views if v.user == user and ident in (None, v.id)]
    if not mine:
        raise RefusedError(404, f"{user} has no view {ident or ''} open".replace("  ", " "))
    view = mine[-1]
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise RefusedError(400, "values is {block_id: {action_id: text}}")
    state = _state(view, values)
    trigger = _trigger(ws, user)
    shown = view.as_json(team=ws.team_id, app_id=APP_ID, bot_id=BOT_ID)
    shown["state"] = {"values": state}
    payload = {
        "type": "view_submission",
        "team": {"id": ws.team_id, "domain": ws.domain},
        "user": _user_json(ws, user),
        "api_app_id": APP_ID,
        "token": verification_token(world.options.token),
        "trigger_id": trigger.id,
        "view": shown,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    summary = {"type": "view_submission", "user": user, "view": view.id}
    summary["callback_id"] = view.spec.get("callback_id", "")
    return Outgoing(url, {"payload": json.dumps(payload)}, int(world.now), trigger.id, summary)


def _command(world: World, body: dict[str, Any]) -> Outgoing:
    ws = world.slack
    user = _user(ws, body.get("user"))
    url = _url(ws.app.commands_url, "commands_url")
    text = body.get("text", "")
    if not isinstance(text, str):
        raise RefusedError(400, "text is what the person types after /oob")
    ref = body.get("channel")
    if ref is None:
        channel = next((c for c in ws.channels.values() if member(c, user)), None)
    else:
        channel = ws.channel(str(ref), by_name=True)
    if channel is None or not member(channel, user):
        raise RefusedError(404, f"{user} is in no channel {ref!r}")
    trigger = _trigger(ws, user)
    fields = {
        "token": verification_token(world.options.token),
        "team_id": ws.team_id,
        "team_domain": ws.domain,
        "channel_id": channel.id,
        "channel_name": channel.name,
        "user_id": user,
        "user_name": ws.user_name(user) or "",
        "command": COMMAND,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": issue_hook(world, user, channel.id, None, ephemeral=False),
        "trigger_id": trigger.id,
    }
    summary = {"type": "command", "user": user, "command": COMMAND, "text": text[:200]}
    summary["channel"] = channel.id
    return Outgoing(url, fields, int(world.now), trigger.id, summary)


def _state(view: View, values: dict[str, Any]) -> dict[str, Any]:
    """The view's `state.values` once the person typed `values`; refused where Slack's client
    would not let them submit (an unknown field, a required one left empty, too long)."""
    inputs = {b["block_id"]: b for b in view.spec["blocks"] if b["type"] == "input"}
    for block_id, typed in values.items():
        block = inputs.get(block_id)
        if block is None or not isinstance(typed, dict):
            raise RefusedError(400, f"view {view.id} has no input block {block_id!r}")
        for action_id in typed:
            if block["element"].get("action_id") != action_id:
                raise RefusedError(400, f"input {block_id!r} has no element {action_id!r}")
    state: dict[str, Any] = {}
    for block_id, block in inputs.items():
        element = block["element"]
        text = values.get(block_id, {}).get(element.get("action_id"))
        if element["type"] != "plain_text_input":
            if text is not None or not block.get("optional", False):
                raise RefusedError(400, f"the sandbox's people only type text ({block_id!r})")
            continue
        if text is not None and not isinstance(text, str):
            raise RefusedError(400, f"what is typed in {block_id!r} is text")
        if not text and not block.get("optional", False):
            raise RefusedError(400, f"Slack does not submit without {block_id!r}: it is required")
        if text and not element.get("min_length", 0) <= len(text) <= element.get(
            "max_length", 3000
        ):
            raise RefusedError(
                400, f"Slack does not submit {block_id!r}: its length is out of bounds"
            )
        value = text or None
        state[block_id] = {element["action_id"]: {"type": "plain_text_input", "value": value}}
    return state


# -- after the answer --------------------------------------------------------------------------


def _submitted(world: World, outgoing: Outgoing, answer: Answer) -> dict[str, Any]:
    """A view closes on an empty 200, or as `response_action` says; it stays open (Slack shows
    an error) on anything else."""
    ws = world.slack
    view = next((v for v in ws.views if v.id == outgoing.summary["view"]), None)
    action: str | None = None
    close = False
    if answer.heard and view is not None:
        data = _answer_json(answer)
        action = data.get("response_action") if isinstance(data, dict) else "invalid"
        if data is None or action is None:
            close = True
        elif action == "errors" and isinstance(data.get("errors"), dict):
            view.errors = {str(k): str(v) for k, v in data["errors"].items()}
        elif action == "clear":
            ws.views = [v for v in ws.views if v.user != view.user]
        elif action in ("update", "push"):
            _replace(ws, view, data.get("view"), push=action == "push")
    if close and view is not None:
        ws.views.remove(view)
    still = view is not None and view in ws.views
    return {"view": outgoing.summary["view"], "closed": not still, "response_action": action}


def _replace(ws: Workspace, view: View, spec: Any, *, push: bool) -> None:
    if view_problem(spec) is not None:
        return  # Slack shows the person an error; the view stays as it was
    blocks = with_block_ids(spec["blocks"])
    if push:
        number = ws.serial()
        pushed = View(view_id(number), view.user, {**spec, "blocks": blocks}, f"{number}.push")
        ws.views.append(pushed)
    else:
        view.spec, view.errors = {**spec, "blocks": blocks}, {}
        view.hash = f"{ws.serial()}.update"


def _answered(world: World, outgoing: Outgoing, answer: Answer) -> dict[str, Any]:
    """A command's answer is shown to the person (or posted, `in_channel`); an empty one is
    not; a late or failed one is an error only the person sees."""
    if not answer.heard or not answer.body.strip():
        return {"shown": None}
    data = _answer_json(answer)
    if data is None or not isinstance(data, dict):
        data = {"text": answer.body}
    text, blocks = str(data.get("text") or ""), data.get("blocks")
    channel = outgoing.fields["channel_id"]
    ws = world.slack
    ts = ws.next_ts(world.now)
    if data.get("response_type") == "in_channel":
        kept = blocks if isinstance(blocks, list) else None
        message = Message(ts=ts, text=text, user=BOT_USER, bot_id=BOT_ID, blocks=kept)
        ws.channels[channel].messages.append(message)
        return {"shown": message.as_json(team=ws.team_id, with_metadata=False)}
    user = outgoing.fields["user_id"]
    kept = blocks if isinstance(blocks, list) else None
    ephemeral = Ephemeral(channel, user, ts, text, kept, via="command")
    ws.ephemerals.append(ephemeral)
    return {"shown": ephemeral.as_json()}


def _answer_json(answer: Answer) -> Any:
    """The answer's JSON; None when it has no body, `"invalid"` when it is not JSON."""
    if not answer.body.strip():
        return None
    try:
        return json.loads(answer.body)
    except ValueError:
        return "invalid"


# -- helpers -----------------------------------------------------------------------------------


async def _send(outgoing: Outgoing, secret: str) -> Answer:
    body = urlencode(outgoing.fields).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": USER_AGENT,
        "Accept": "application/json,*/*",
        **sign(secret, outgoing.timestamp, body),
    }
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=SEND_TIMEOUT, trust_env=False) as client:
        try:
            response = await client.post(outgoing.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            elapsed = time.monotonic() - start
            return Answer(None, "", "", elapsed, f"{type(exc).__name__}: {exc}")
    kind = response.headers.get("content-type", "")
    return Answer(response.status_code, response.text, kind, time.monotonic() - start)


def _user(ws: Workspace, ref: Any, *, optional: bool = False) -> Any:
    """The Slack id of `ref`, a person of `SLACK_USERS` or a member's id."""
    if ref is None and optional:
        return None
    ident = SLACK_USERS.get(ref, ref) if isinstance(ref, str) else None
    if ident is None or ws.user_name(ident) is None:
        people = ", ".join(SLACK_USERS)
        raise RefusedError(400, f"user is a person ({people}) or a member's id, not {ref!r}")
    return ident


def _user_json(ws: Workspace, user: str) -> dict[str, str]:
    name = ws.user_name(user) or ""
    return {"id": user, "username": name, "name": name, "team_id": ws.team_id}


def _url(url: str, setting: str) -> str:
    if not url:
        raise RefusedError(409, f"the Slack app has no {setting} (POST /_sandbox/slack/app)")
    return url


def _trigger(ws: Workspace, user: str) -> Trigger:
    number = ws.serial()
    ident = f"{7_100_000_000 + number}.{ws.team_id.encode().hex()[:9]}.{secrets.token_hex(16)}"
    trigger = Trigger(ident, user, time.monotonic())
    ws.triggers[ident] = trigger
    return trigger


def _button(
    ws: Workspace, user: str, action: str, value: str
) -> tuple[Channel, Message | Ephemeral, dict[str, Any], dict[str, Any]] | None:
    """The newest message `user` sees with the button (`action`, `value`), its block and the
    button: channel messages of the channels they are in, and their own ephemeral ones."""
    found: list[tuple[float, Channel, Message | Ephemeral, dict[str, Any], dict[str, Any]]] = []
    for channel in ws.channels.values():
        if member(channel, user):
            for posted in channel.messages:
                for block, button in _buttons(posted.blocks, action, value):
                    found.append((float(posted.ts), channel, posted, block, button))
    for ephemeral in ws.ephemerals:
        if ephemeral.user == user:
            for block, button in _buttons(ephemeral.blocks, action, value):
                channel = ws.channels[ephemeral.channel]
                found.append((float(ephemeral.ts), channel, ephemeral, block, button))
    if not found:
        return None
    _, channel, message, block, button = max(found, key=lambda f: f[0])
    return channel, message, block, button


def _buttons(
    blocks: list[dict[str, Any]] | None, action: str, value: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    matches = []
    for block in blocks or []:
        elements = block.get("elements") if block.get("type") == "actions" else None
        candidates = list(elements or [])
        if block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if (
                isinstance(element, dict)
                and element.get("type") == "button"
                and element.get("action_id") == action
                and element.get("value") == value
            ):
                matches.append((block, element))
    return matches


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
