"""Slack's response_url: where an app answers the person who clicked or typed a command.

Mounted at `/slack/hooks/`; an interaction hands out `/slack/hooks/actions/TEAM/ID/SECRET`
(a command, `/commands/...`), as Slack hands out `https://hooks.slack.com/actions/...`. It
takes a JSON message: `text` and/or `blocks`, `response_type` (`ephemeral`, the default, or
`in_channel`), `replace_original` or `delete_original` (the message the button was on). Slack
honours one five times within thirty minutes; the sandbox counts those minutes in simulated
time. Answers are Slack's: `ok`, or a 4xx with a short error.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from oob.sandbox.slack import BOT_ID, BOT_USER
from oob.sandbox.workspace import Ephemeral, Hook, Message, Workspace
from oob.sandbox.world import World

HOOK_USES = 5
HOOK_SECONDS = 30 * 60


def issue_hook(
    world: World, user: str, channel: str, message_ts: str | None, *, ephemeral: bool
) -> str:
    """A new response_url for an interaction of `user` in `channel` (on message `message_ts`)."""
    ws = world.slack
    ident = f"{7_200_000_000 + ws.serial()}"
    hook = Hook(ident, secrets.token_hex(12), user, channel, world.now, message_ts, ephemeral)
    ws.hooks[ident] = hook
    kind = "commands" if message_ts is None else "actions"
    return f"{world.options.public_url}/slack/hooks/{kind}/{ws.team_id}/{ident}/{hook.secret}"


class Hooks:
    """The response_url endpoints over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        """POST to a response_url."""
        return [Route("/{kind}/{team}/{ident}/{secret}", self.respond, methods=["POST"])]

    async def respond(self, request: Request) -> Response:
        """POST /slack/hooks/{kind}/{team}/{id}/{secret}: an answer to the person."""
        raw = await request.body()
        params = request.path_params
        with self.world.session() as world:
            hook = world.slack.hooks.get(params["ident"])
            if hook is None or hook.secret != params["secret"]:
                return PlainTextResponse("no_service", 404)
            if world.now - hook.issued > HOOK_SECONDS:
                return PlainTextResponse("expired_url", 404)
            if hook.uses >= HOOK_USES:
                return PlainTextResponse("used_url", 404)
            try:
                data = json.loads(raw)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return PlainTextResponse("invalid_payload", 400)
            text, blocks = str(data.get("text") or ""), data.get("blocks")
            if not _flag(data.get("delete_original")) and not text and not blocks:
                return PlainTextResponse("no_text", 400)
            hook.uses += 1
            done = _apply(world, hook, data, text, blocks if isinstance(blocks, list) else None)
            summary = {"hook": hook.id, "user": hook.user, "channel": hook.channel, "did": done}
            world.ledger.record("slack", "POST", "/hooks", summary, world.now)
        return PlainTextResponse("ok")


def _apply(
    world: World,
    hook: Hook,
    data: dict[str, Any],
    text: str,
    blocks: list[dict[str, Any]] | None,
) -> str:
    ws = world.slack
    original = _original(ws, hook)
    if _flag(data.get("delete_original")) and original is not None:
        if isinstance(original, Ephemeral):
            ws.ephemerals.remove(original)
        else:
            ws.channels[hook.channel].messages.remove(original)
        return "deleted"
    if _flag(data.get("replace_original")) and original is not None:
        original.text, original.blocks = text, blocks
        return "replaced"
    ts = ws.next_ts(world.now)
    if data.get("response_type") == "in_channel":
        message = Message(ts=ts, text=text, user=BOT_USER, bot_id=BOT_ID, blocks=blocks)
        ws.channels[hook.channel].messages.append(message)
        return "posted"
    thread = str(data.get("thread_ts") or "") or None
    told = Ephemeral(hook.channel, hook.user, ts, text, blocks, thread, via="response_url")
    ws.ephemerals.append(told)
    return "ephemeral"


def _original(ws: Workspace, hook: Hook) -> Message | Ephemeral | None:
    if hook.message_ts is None:
        return None
    if hook.ephemeral:
        return next(
            (e for e in ws.ephemerals if e.ts == hook.message_ts and e.user == hook.user), None
        )
    return ws.channels[hook.channel].find(hook.message_ts)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
