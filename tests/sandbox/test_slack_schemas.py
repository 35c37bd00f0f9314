"""The sandbox's Slack answers, validated against Slack's published Web API description.

The schemas are an excerpt of slackapi/slack-api-specs (`tests/fixtures/recorded/slack/`, MIT).
That description is no longer maintained (its last version, 1.7.0, predates message `metadata`
and `response_metadata` on several methods), so two of its rules are not applied: closed objects
(`additionalProperties: false`) and the closed list of error codes where Slack's current method
pages name more (NEWER_ERRORS, each with the page that lists it). Everything else is: required
fields, types, and the patterns of ids and timestamps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web import SlackResponse

from .conftest import Clients, Connect, StartSandbox

SCHEMAS = json.loads(
    (Path(__file__).parents[1] / "fixtures/recorded/slack/web_api_schemas.json").read_text()
)
# Error codes Slack's current method pages document that the 2021 description does not list.
NEWER_ERRORS = {
    # https://api.slack.com/methods/conversations.history: "not_in_channel"
    "conversations.history": {"not_in_channel"},
    # https://api.slack.com/methods/conversations.list: "invalid_cursor"
    "conversations.list": {"invalid_cursor"},
    # https://api.slack.com/methods/chat.postMessage: "missing_scope"
    "chat.postMessage": {"missing_scope"},
}
TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def problems(value: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """What in `value` breaks `schema` (the draft-4 subset Slack's description uses)."""
    if "$ref" in schema:
        return problems(value, SCHEMAS["definitions"][schema["$ref"].rsplit("/", 1)[-1]], where)
    found: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        matches = [k for k in kinds if isinstance(value, TYPES[k])]
        if not matches or (isinstance(value, bool) and "boolean" not in kinds):
            return [f"{where}: {type(value).__name__} is not {kinds}"]
    alternatives = schema.get("items")
    if isinstance(alternatives, list) and not isinstance(value, list):
        # Slack's description writes "one of these objects" as a list under `items`.
        if all(problems(value, alt, where) for alt in alternatives):
            found.append(f"{where}: matches none of {len(alternatives)} alternatives")
        return found
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        found.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        found += [
            f"{where}.{name}: missing" for name in schema.get("required", []) if name not in value
        ]
        for name, sub in schema.get("properties", {}).items():
            if name in value:
                found += problems(value[name], sub, f"{where}.{name}")
    if isinstance(value, list) and isinstance(alternatives, dict):
        for index, item in enumerate(value):
            found += problems(item, alternatives, f"{where}[{index}]")
    return found


def check(method: str, answer: SlackResponse | dict[str, Any]) -> None:
    data = dict(answer.data) if isinstance(answer, SlackResponse) else answer
    if data.get("ok"):
        assert problems(data, SCHEMAS["paths"][method]["200"]) == []
        return
    schema = SCHEMAS["paths"][method]["default"]
    listed = set(schema["properties"]["error"].get("enum", []))
    assert data["error"] in listed | NEWER_ERRORS.get(method, set()), data["error"]
    error = {k: v for k, v in schema["properties"]["error"].items() if k != "enum"}
    shape = {**schema, "properties": {**schema["properties"], "error": error}}
    assert problems({"ok": data["ok"], "error": data["error"]}, shape) == []


def test_successful_answers_match_slacks_description(clients: Clients) -> None:
    slack = clients.slack
    check("auth.test", slack.auth_test())
    listed = slack.conversations_list(limit=50)
    check("conversations.list", listed)
    helpdesk = next(
        c["id"] for c in slack.conversations_list()["channels"] if c["name"] == "cms-helpdesk"
    )
    check("conversations.info", slack.conversations_info(channel=helpdesk))
    metadata = {"event_type": "oob_message", "event_payload": {"key": "k"}}
    posted = slack.chat_postMessage(channel=helpdesk, text="Deploy starting", metadata=metadata)
    check("chat.postMessage", posted)
    check("chat.update", slack.chat_update(channel=helpdesk, ts=posted["ts"], text="Deploy done"))
    check("chat.getPermalink", slack.chat_getPermalink(channel=helpdesk, message_ts=posted["ts"]))
    history = slack.conversations_history(channel=helpdesk, limit=200, include_all_metadata=True)
    check("conversations.history", history)


def raw(clients: Clients, method: str, token: str = "sandbox-token", **args: Any) -> dict[str, Any]:
    answer = clients.http.post(
        f"/slack/api/{method}", json=args, headers={"Authorization": f"Bearer {token}"}
    )
    data: dict[str, Any] = answer.json()
    return data


def test_error_answers_match_slacks_description(clients: Clients) -> None:
    check("chat.postMessage", raw(clients, "chat.postMessage", channel="C0NOSUCH000", text="x"))
    check(
        "chat.postMessage",
        raw(clients, "chat.postMessage", channel="#cms-helpdesk", text="x" * 40_001),
    )
    check("chat.postMessage", raw(clients, "chat.postMessage", token="xoxb-wrong", channel="x"))
    check("chat.update", raw(clients, "chat.update", channel="C0NOSUCH000", ts="1.000001"))
    check("conversations.list", raw(clients, "conversations.list", cursor="bad"))


@pytest.mark.parametrize(
    ("scenario", "method", "args"),
    [
        ("slack-not-invited", "chat.postMessage", {"channel": "#cms-editors", "text": "x"}),
        ("slack-not-invited", "chat.postMessage", {"channel": "#cms-product", "text": "x"}),
        ("slack-missing-scope", "conversations.history", {"channel": "C0NOSUCH000"}),
    ],
)
def test_refusals_of_a_misconfigured_app_match_slacks_description(
    start_sandbox: StartSandbox, connect: Connect, scenario: str, method: str, args: dict[str, str]
) -> None:
    clients = connect(start_sandbox(scenario))
    check(method, raw(clients, method, **args))
