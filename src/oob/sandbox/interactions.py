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
(`X-Slack-Signature`, `X-Slack-Request-Timestamp` in real seconds as the request leaves, as
Slack's: its freshness is the wire's, like the rate limit's), and it answers with what oob answered:
`{status, body, trigger_id, late, ...}`. `late` is an answer Slack would not have waited for
(three seconds): Slack then shows the person an error and ignores the answer, and so does the
sandbox. The world is locked only while a payload is made and while the answer takes effect:
oob calls the Slack API back (views.open, chat.update) while it handles the request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from oob.sandbox.slack import APP_ID, BOT_ID, BOT_USER
from oob.sandbox.slack_modals import view_id, view_problem, with_block_ids
from oob.sandbox.slack_payloads import (
    COMMAND,
    Outgoing,
    RefusedError,
    click_payload,
    command_payload,
    resolve_user,
    submission_payload,
)
from oob.sandbox.wire import json_body
from oob.sandbox.workspace import (
    PEOPLE,
    SLACK_USERS,
    STRANGER,
    Ephemeral,
    Message,
    View,
    Workspace,
)
from oob.sandbox.world import World

__all__ = ["COMMAND", "SLACK_USERS", "STRANGER", "Interactions", "sign"]

ANSWER_SECONDS = 3.0  # how long Slack waits for the app's answer
SEND_TIMEOUT = 10.0
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(secret: str, timestamp: int | str, body: bytes | str) -> dict[str, str]:
    """The headers Slack signs a request with: `v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


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
    """The control endpoints of Slack interactivity over one world (`Control` routes them)."""

    def __init__(self, world: World) -> None:
        self.world = world

    # -- settings and what people see ----------------------------------------------------------

    async def app(self, request: Request) -> Response:
        """GET/POST /_sandbox/slack/app {interactivity_url?, commands_url?}."""
        body = await json_body(request) if request.method == "POST" else {}
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
        return self._shown(
            request,
            "ephemeral",
            lambda ws, user: [e.as_json() for e in ws.ephemerals if user in (None, e.user)],
        )

    async def views(self, request: Request) -> Response:
        """GET /_sandbox/slack/views?user=: the open modals, oldest first."""
        return self._shown(
            request,
            "views",
            lambda ws, user: [
                {
                    "user": v.user,
                    "errors": v.errors,
                    **v.as_json(team=ws.team_id, app_id=APP_ID, bot_id=BOT_ID),
                }
                for v in ws.views
                if user in (None, v.user)
            ],
        )

    def _shown(
        self,
        request: Request,
        what: str,
        pick: Callable[[Workspace, str | None], list[dict[str, Any]]],
    ) -> Response:
        """What `?user=` (everyone without it) sees of `what`, picked from the workspace."""
        with self.world.session() as world:
            try:
                user = _maybe_user(world.slack, request.query_params.get("user"))
            except RefusedError as refused:
                return JSONResponse({"error": refused.message}, refused.status)
            shown = pick(world.slack, user)
        return JSONResponse({"user": user, what: shown})

    async def users(self, request: Request) -> Response:
        """GET /_sandbox/slack/users: the people's Slack ids, the stranger, the members."""
        members = [{"id": ident, "name": name} for ident, name in PEOPLE]
        return JSONResponse({"people": SLACK_USERS, "stranger": STRANGER, "members": members})

    # -- what people do ------------------------------------------------------------------------

    async def click(self, request: Request) -> Response:
        """POST /_sandbox/slack/click {user, run, action}: a block_actions payload."""
        return await self._play(request, click_payload, "/interactions", after=None)

    async def submit(self, request: Request) -> Response:
        """POST /_sandbox/slack/submit {user, view?, values}: a view_submission payload."""
        return await self._play(request, submission_payload, "/interactions", after=_submitted)

    async def command(self, request: Request) -> Response:
        """POST /_sandbox/slack/command {user, text, channel?}: the slash command `/oob`."""
        return await self._play(request, command_payload, "/commands", after=_answered)

    async def _play(
        self,
        request: Request,
        make: Handler,
        path: str,
        after: Callable[[World, Outgoing, Answer], dict[str, Any]] | None,
    ) -> Response:
        body = await json_body(request)
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
        # Stamped as it leaves, in real seconds, as Slack stamps it: a request's freshness is a
        # property of the wire, like Slack's rate limit, not of the run's simulated timeline (at
        # 600 times real time a 300 ms trip would be three simulated minutes).
        **sign(secret, int(time.time()), body),
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


def _maybe_user(ws: Workspace, ref: str | None) -> str | None:
    return None if ref is None else resolve_user(ws, ref)
