"""The Web API methods of Slack's interactivity: chat.postEphemeral and views.open.

A trigger_id comes only from an interaction the sandbox sent (`oob.sandbox.interactions`): it
opens one view, within three seconds of real time, as Slack's does. Views are checked the way
Slack checks them before one opens (a modal, a title of at most 24 characters, blocks, a submit
button when it has inputs), so a view the sandbox opens is one Slack would open.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from oob.sandbox.slack_wire import SlackError, json_arg
from oob.sandbox.workspace import PEOPLE, TRIGGER_SECONDS, Channel, Ephemeral, View
from oob.sandbox.world import World

MAX_TEXT = 40_000
MAX_BLOCKS = 100
TITLE_CHARS = 24
BUTTON_CHARS = 24
PRIVATE_METADATA_CHARS = 3000
CALLBACK_ID_CHARS = 255


def member(channel: Channel, user: str) -> bool:
    """Whether `user` (an id) is in `channel`: the workspace's people are in the team's."""
    return channel.people and any(ident == user for ident, _ in PEOPLE)


async def post_ephemeral(args: dict[str, Any], world: World) -> dict[str, Any]:
    """chat.postEphemeral: a message in a channel (by id or name) only `user` sees."""
    ref = str(args.get("channel") or "")
    channel = world.slack.channel(ref, by_name=True) if ref else None
    if channel is None:
        raise SlackError("channel_not_found")
    if channel.archived:
        raise SlackError("is_archived")
    if not channel.member:
        raise SlackError("not_in_channel")
    user = str(args.get("user") or "")
    if world.slack.user_name(user) is None:
        raise SlackError("user_not_found")
    if not member(channel, user):
        raise SlackError("user_not_in_channel")
    text = str(args.get("text") or "")
    blocks = json_arg(args.get("blocks"))
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if not text and not blocks:
        raise SlackError("no_text")
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    thread_ts = str(args.get("thread_ts") or "") or None
    ephemeral = Ephemeral(
        channel=channel.id,
        user=user,
        ts=world.slack.next_ts(world.now),
        text=text,
        blocks=with_block_ids(blocks) if blocks else None,
        thread_ts=thread_ts,
    )
    world.slack.ephemerals.append(ephemeral)
    return {"ok": True, "message_ts": ephemeral.ts}


def opener(
    app_id: str, bot_id: str, monotonic: Callable[[], float] = time.monotonic
) -> Callable[[dict[str, Any], World], Any]:
    """views.open for the app `app_id` whose bot is `bot_id`; `monotonic` is the real clock
    triggers expire by."""

    async def views_open(args: dict[str, Any], world: World) -> dict[str, Any]:
        """views.open: a modal for the person whose interaction issued `trigger_id`."""
        ident = str(args.get("trigger_id") or "")
        if not ident or not args.get("view"):
            raise SlackError("invalid_arguments", response_metadata=_messages("missing", ident))
        trigger = world.slack.triggers.get(ident)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if monotonic() - trigger.issued > TRIGGER_SECONDS:
            raise SlackError("expired_trigger_id")
        spec = json_arg(args.get("view"))
        problem = view_problem(spec)
        if problem is not None:
            raise SlackError("invalid_arguments", response_metadata={"messages": [problem]})
        trigger.used = True
        number = world.slack.serial()
        view = View(
            id=view_id(number),
            user=trigger.user,
            spec={**spec, "blocks": with_block_ids(spec["blocks"])},
            hash=f"{int(world.now)}.{view_id(number)[2:10].lower()}",
        )
        world.slack.views.append(view)
        shown = view.as_json(team=world.slack.team_id, app_id=app_id, bot_id=bot_id)
        return {"ok": True, "view": shown}

    return views_open


def _messages(kind: str, trigger: str) -> dict[str, list[str]]:
    field = "trigger_id" if not trigger else "view"
    return {"messages": [f"[ERROR] {kind} required field: {field}"]}


def view_problem(spec: Any) -> str | None:
    """Why Slack would refuse to open `spec` as a modal (its error message), None if it would
    open it."""
    if not isinstance(spec, dict):
        return _error("must provide an object", "")
    problems = (*_frame_problems(spec), *_block_problems(spec.get("blocks"), spec))
    return problems[0] if problems else None


def _error(text: str, pointer: str) -> str:
    return f"[ERROR] {text} [json-pointer:/view{pointer}]"


def _frame_problems(spec: dict[str, Any]) -> list[str]:
    found = []
    if spec.get("type") != "modal":
        found.append(_error("must be a valid enum value", "/type"))
    if not _plain_text(spec.get("title"), TITLE_CHARS):
        found.append(_error(f"must be plain_text of at most {TITLE_CHARS} characters", "/title"))
    for name in ("submit", "close"):
        if name in spec and not _plain_text(spec[name], BUTTON_CHARS):
            text = f"must be plain_text of at most {BUTTON_CHARS} characters"
            found.append(_error(text, f"/{name}"))
    if len(str(spec.get("private_metadata", ""))) > PRIVATE_METADATA_CHARS:
        text = f"must be at most {PRIVATE_METADATA_CHARS} characters"
        found.append(_error(text, "/private_metadata"))
    if len(str(spec.get("callback_id", ""))) > CALLBACK_ID_CHARS:
        found.append(_error(f"must be at most {CALLBACK_ID_CHARS} characters", "/callback_id"))
    return found


def _block_problems(blocks: Any, spec: dict[str, Any]) -> list[str]:
    if not isinstance(blocks, list) or not all(
        isinstance(b, dict) and b.get("type") for b in blocks
    ):
        return [_error("must provide an array of blocks", "/blocks")]
    found = []
    if len(blocks) > MAX_BLOCKS:
        found.append(_error(f"must provide at most {MAX_BLOCKS} items", "/blocks"))
    if any(b["type"] == "input" for b in blocks) and "submit" not in spec:
        found.append(_error("must provide a submit button with input blocks", "/submit"))
    for index, block in enumerate(blocks):
        if block["type"] != "input":
            continue
        element = block.get("element")
        if not isinstance(element, dict) or not element.get("type"):
            found.append(_error("must provide an element", f"/blocks/{index}/element"))
        if not _plain_text(block.get("label"), 2000):
            found.append(_error("must provide a plain_text label", f"/blocks/{index}/label"))
    return found


def _typed(block: Any) -> bool:
    return isinstance(block, dict) and bool(block.get("type"))


def _plain_text(value: Any, limit: int) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "plain_text"
        and isinstance(value.get("text"), str)
        and 0 < len(value["text"]) <= limit
    )


def view_id(number: int) -> str:
    """A view id shaped like Slack's (`V` and nine or ten capitals and digits)."""
    digest = hashlib.sha1(f"view-{number}".encode(), usedforsecurity=False).hexdigest().upper()
    return "V0" + digest[:9]


def with_block_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The blocks as Slack keeps them: one without a `block_id` gets one, and so does an
    interactive element without an `action_id` (Slack makes them up, short and random)."""
    kept = []
    for index, given in enumerate(blocks):
        block = dict(given)
        seed = f"{index}:{sorted(block.items())!r}"
        block.setdefault("block_id", _short(seed))
        if isinstance(block.get("element"), dict):
            block["element"] = _with_action_id(block["element"], seed + "e")
        if isinstance(block.get("accessory"), dict):
            block["accessory"] = _with_action_id(block["accessory"], seed + "a")
        if isinstance(block.get("elements"), list) and block["type"] == "actions":
            block["elements"] = [
                _with_action_id(e, f"{seed}{n}") if isinstance(e, dict) else e
                for n, e in enumerate(block["elements"])
            ]
        kept.append(block)
    return kept


def _with_action_id(element: dict[str, Any], seed: str) -> dict[str, Any]:
    if element.get("type") in ("plain_text_input", "button", "static_select", "datepicker"):
        return {"action_id": _short(seed), **element}
    return element


def _short(seed: str) -> str:
    digest = hashlib.sha1(seed.encode(), usedforsecurity=False).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:5])
