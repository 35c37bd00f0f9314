"""The payloads Slack sends an app when a person clicks, submits a view or types `/oob`.

Made under the world's lock (`interactions` sends them after releasing it): Slack's documented
`block_actions`, `view_submission` and slash command shapes, each issuing a trigger_id (and a
response_url where Slack gives one). What Slack's client would not let a person do (click a
button on a message they cannot see, submit a view without a required field) is refused.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from oob.sandbox.slack import APP_ID, BOT_ID
from oob.sandbox.slack_hooks import issue_hook
from oob.sandbox.slack_modals import member
from oob.sandbox.workspace import (
    SLACK_USERS,
    Channel,
    Ephemeral,
    Message,
    Trigger,
    View,
    Workspace,
    verification_token,
)
from oob.sandbox.world import World

COMMAND = "/oob"


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
    trigger_id: str
    summary: dict[str, Any]


def click_payload(world: World, body: dict[str, Any]) -> Outgoing:
    ws = world.slack
    user = resolve_user(ws, body.get("user"))
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
    return Outgoing(url, {"payload": json.dumps(payload)}, trigger.id, summary)


def submission_payload(world: World, body: dict[str, Any]) -> Outgoing:
    ws = world.slack
    user = resolve_user(ws, body.get("user"))
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
    return Outgoing(url, {"payload": json.dumps(payload)}, trigger.id, summary)


def command_payload(world: World, body: dict[str, Any]) -> Outgoing:
    ws = world.slack
    user = resolve_user(ws, body.get("user"))
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
    return Outgoing(url, fields, trigger.id, summary)


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


def resolve_user(ws: Workspace, ref: Any) -> str:
    """The Slack id of `ref`, a person of `SLACK_USERS` or a member's id."""
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
