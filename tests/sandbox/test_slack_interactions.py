"""Slack interactivity: the simulated people click, submit and type `/oob`, signed as Slack signs,
and the app answers through views.open, chat.postEphemeral and response_url."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from oob.sandbox.configfile import PEOPLE
from oob.sandbox.interactions import sign
from oob.sandbox.server import SandboxServer
from oob.sandbox.workspace import SLACK_USERS, STRANGER
from tests.sandbox.conftest import Clients

SLACK_ID = re.compile(r"^U[A-Z0-9]{8,10}$")
CHANNEL = "sitewide-program"


@dataclass
class Received:
    """One request the app got."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.form["payload"])
        return data


def verifier(sandbox: SandboxServer, secret: str | None = None) -> SignatureVerifier:
    """slack_sdk's verifier of the sandbox app's signature, on the real clock (as Slack's)."""
    return SignatureVerifier(secret or sandbox.signing_secret)


Answer = tuple[int, str, str]  # status, content type, body


@dataclass
class Receiver:
    """A tiny app on a real socket: records requests; `answer` makes the response."""

    url: str
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = lambda _: (200, "text/plain", "")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The app Slack sends interactions to."""
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            got = Received(self.path, dict(self.headers.items()), self.rfile.read(length))
            box[0].received.append(got)
            status, kind, body = box[0].answer(got)
            raw = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box[0]
    server.shutdown()
    server.server_close()


def register(clients: Clients, receiver: Receiver) -> None:
    answer = clients.http.post(
        "/_sandbox/slack/app",
        json={
            "interactivity_url": f"{receiver.url}/slack/interactions",
            "commands_url": f"{receiver.url}/slack/commands",
        },
    )
    assert answer.status_code == 200


def post_buttons(clients: Clients, run: str = "r-1") -> dict[str, Any]:
    """A message with oob's approval buttons, as oob's chat adapter posts it."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"Approve release {run}?"}},
        {
            "type": "actions",
            "block_id": "oob",
            "elements": [
                {
                    "type": "button",
                    "action_id": "oob:approve",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": run,
                    "style": "primary",
                },
                {
                    "type": "button",
                    "action_id": "oob:deny",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "value": run,
                    "style": "danger",
                },
            ],
        },
    ]
    response = clients.slack.chat_postMessage(
        channel=CHANNEL, text=f"Approve release {run}?", blocks=blocks
    )
    data: dict[str, Any] = response.data  # type: ignore[assignment]
    return data


def click(
    clients: Clients, user: str, run: str = "r-1", action: str = "oob:approve"
) -> httpx.Response:
    return clients.http.post(
        "/_sandbox/slack/click", json={"user": user, "run": run, "action": action}
    )


MODAL = {
    "type": "modal",
    "callback_id": "deny",
    "private_metadata": "r-1",
    "title": {"type": "plain_text", "text": "Deny the release"},
    "submit": {"type": "plain_text", "text": "Deny"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Why?"},
            "element": {"type": "plain_text_input", "action_id": "text", "multiline": True},
        }
    ],
}


def test_the_people_have_slack_users(clients: Clients) -> None:
    assert set(SLACK_USERS) == set(PEOPLE)
    assert all(SLACK_ID.match(ident) for ident in [*SLACK_USERS.values(), STRANGER])
    assert STRANGER not in SLACK_USERS.values()
    listed = clients.http.get("/_sandbox/slack/users").json()
    assert listed["people"] == SLACK_USERS
    assert listed["stranger"] == STRANGER


def test_a_click_is_signed_and_shaped_as_slack_sends_it(
    sandbox: SandboxServer, clients: Clients, receiver: Receiver
) -> None:
    register(clients, receiver)
    posted = post_buttons(clients)
    sandbox.advance(30)
    answer = click(clients, "po")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["status"] == 200
    assert result["late"] is False
    [got] = receiver.received
    assert got.path == "/slack/interactions"
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier(sandbox).is_valid_request(got.body, got.headers)
    assert not verifier(sandbox, "another-secret").is_valid_request(got.body, got.headers)
    # Stamped in real seconds as it left, as Slack stamps it (whatever the simulated time).
    assert abs(int(got.headers["X-Slack-Request-Timestamp"]) - time.time()) <= 5
    assert (
        sign(sandbox.signing_secret, got.headers["X-Slack-Request-Timestamp"], got.body)[
            "X-Slack-Signature"
        ]
        == got.headers["X-Slack-Signature"]
    )

    payload = got.payload
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == SLACK_USERS["po"]
    assert set(payload["user"]) == {"id", "username", "name", "team_id"}
    assert payload["trigger_id"] == result["trigger_id"]
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": posted["channel"],
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": posted["channel"], "name": CHANNEL}
    assert payload["team"]["id"] == payload["user"]["team_id"]
    assert payload["enterprise"] is None
    assert payload["is_enterprise_install"] is False
    assert payload["api_app_id"].startswith("A")
    assert payload["token"]
    assert payload["token"] != "sandbox-token"  # the app's verification token, not the API's
    assert payload["state"] == {"values": {}}
    assert payload["response_url"].startswith(f"{sandbox.url}/slack/hooks/actions/")
    assert payload["message"]["ts"] == posted["ts"]
    assert all("block_id" in block for block in payload["message"]["blocks"])
    [action] = payload["actions"]
    assert action["action_id"] == "oob:approve"
    assert action["block_id"] == "oob"
    assert action["value"] == "r-1"
    assert action["style"] == "primary"
    assert action["type"] == "button"
    assert action["text"] == {"type": "plain_text", "text": "Approve"}
    assert float(action["action_ts"]) == pytest.approx(sandbox.world.now, abs=1)
    [entry] = [e for e in sandbox.ledger() if e["path"] == "/interactions"]
    assert entry["service"] == "slack"
    assert entry["summary"]["user"] == SLACK_USERS["po"]
    assert entry["summary"]["status"] == 200


def test_a_click_finds_the_newest_message_with_the_button(
    clients: Clients, receiver: Receiver
) -> None:
    register(clients, receiver)
    post_buttons(clients, "r-1")
    newer = post_buttons(clients, "r-1")
    post_buttons(clients, "r-2")
    assert click(clients, "operator", action="oob:deny").status_code == 200
    assert receiver.received[0].payload["container"]["message_ts"] == newer["ts"]


def test_a_stranger_clicks_too(clients: Clients, receiver: Receiver) -> None:
    register(clients, receiver)
    post_buttons(clients)
    assert click(clients, STRANGER).status_code == 200
    assert receiver.received[0].payload["user"]["id"] == STRANGER


def test_what_cannot_be_clicked_is_refused(clients: Clients, receiver: Receiver) -> None:
    post_buttons(clients)
    assert click(clients, "po").status_code == 409  # the app has no interactivity URL yet
    register(clients, receiver)
    assert click(clients, "po", run="r-9").status_code == 404
    assert click(clients, "po", action="oob:cancel").status_code == 404
    assert click(clients, "nobody").status_code == 400
    assert click(clients, "U0NOBODY00").status_code == 400
    assert receiver.received == []


def test_an_unreachable_app_is_a_502(clients: Clients) -> None:
    clients.http.post("/_sandbox/slack/app", json={"interactivity_url": "http://127.0.0.1:9/"})
    post_buttons(clients)
    answer = click(clients, "po")
    assert answer.status_code == 502
    assert answer.json()["status"] is None


def test_a_trigger_opens_one_view(
    sandbox: SandboxServer, clients: Clients, receiver: Receiver
) -> None:
    """While the sandbox waits for the answer to the click, the app opens a modal with the
    trigger; the trigger opens no second one."""
    register(clients, receiver)
    post_buttons(clients)
    outcomes: list[Any] = []

    def answer(got: Received) -> Answer:
        trigger = got.payload["trigger_id"]
        opened = clients.slack.views_open(trigger_id=trigger, view=MODAL)
        outcomes.append(opened.data)
        try:
            clients.slack.views_open(trigger_id=trigger, view=MODAL)
        except SlackApiError as error:
            outcomes.append(error.response["error"])
        return 200, "text/plain", ""

    receiver.answer = answer
    assert click(clients, "po", action="oob:deny").json()["status"] == 200
    opened, second = outcomes
    assert second == "exchanged_trigger_id"
    view = opened["view"]
    assert re.match(r"^V[A-Z0-9]{8,12}$", view["id"])
    assert view["type"] == "modal"
    assert view["callback_id"] == "deny"
    assert view["private_metadata"] == "r-1"
    assert view["title"] == MODAL["title"]
    assert view["state"] == {"values": {}}
    assert view["blocks"][0]["block_id"] == "reason"
    views = clients.http.get("/_sandbox/slack/views", params={"user": "po"}).json()["views"]
    assert [v["id"] for v in views] == [view["id"]]
    assert [e["summary"]["view"] for e in sandbox.ledger() if e["path"].endswith("views.open")] == [
        view["id"]
    ]


def test_a_trigger_is_refused_when_unknown_late_or_the_view_is_wrong(
    sandbox: SandboxServer, clients: Clients, receiver: Receiver
) -> None:
    register(clients, receiver)
    post_buttons(clients)
    trigger = click(clients, "po").json()["trigger_id"]

    def refused(trigger_id: str, view: Any) -> str:
        with pytest.raises(SlackApiError) as caught:
            clients.slack.views_open(trigger_id=trigger_id, view=view)
        return str(caught.value.response["error"])

    assert refused("1234.5678.abcdef", MODAL) == "invalid_trigger_id"
    assert refused(trigger, {**MODAL, "type": "home"}) == "invalid_arguments"
    assert refused(trigger, {k: v for k, v in MODAL.items() if k != "title"}) == (
        "invalid_arguments"
    )
    assert refused(trigger, {k: v for k, v in MODAL.items() if k != "submit"}) == (
        "invalid_arguments"
    )
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    assert refused(trigger, long_title) == "invalid_arguments"
    with sandbox.world.session() as world:
        world.slack.triggers[trigger].issued -= 3.5  # three and a half real seconds ago
    assert refused(trigger, MODAL) == "expired_trigger_id"


def open_modal(clients: Clients, receiver: Receiver, user: str = "po") -> str:
    views: list[str] = []

    def answer(got: Received) -> Answer:
        opened = clients.slack.views_open(trigger_id=got.payload["trigger_id"], view=MODAL)
        views.append(opened["view"]["id"])
        return 200, "text/plain", ""

    receiver.answer = answer
    assert click(clients, user, action="oob:deny").json()["status"] == 200
    receiver.answer = lambda _: (200, "text/plain", "")
    return views[0]


def submit(clients: Clients, values: dict[str, Any], **body: Any) -> httpx.Response:
    return clients.http.post(
        "/_sandbox/slack/submit", json={"user": "po", "values": values, **body}
    )


def test_a_submission_carries_what_was_typed(
    sandbox: SandboxServer, clients: Clients, receiver: Receiver
) -> None:
    register(clients, receiver)
    post_buttons(clients)
    view = open_modal(clients, receiver)
    answer = submit(clients, {"reason": {"text": "The fix is not verified"}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["closed"] is True
    got = receiver.received[-1]
    assert verifier(sandbox).is_valid_request(got.body, got.headers)
    payload = got.payload
    assert payload["type"] == "view_submission"
    assert payload["user"]["id"] == SLACK_USERS["po"]
    assert payload["response_urls"] == []
    assert payload["trigger_id"]
    assert payload["view"]["id"] == view
    assert payload["view"]["callback_id"] == "deny"
    assert payload["view"]["private_metadata"] == "r-1"
    assert payload["view"]["state"] == {
        "values": {
            "reason": {"text": {"type": "plain_text_input", "value": "The fix is not verified"}}
        }
    }
    assert clients.http.get("/_sandbox/slack/views", params={"user": "po"}).json()["views"] == []
    assert submit(clients, {}).status_code == 404  # nothing open any more


def test_a_submission_slack_would_not_send_is_refused(clients: Clients, receiver: Receiver) -> None:
    register(clients, receiver)
    post_buttons(clients)
    view = open_modal(clients, receiver)
    sent = len(receiver.received)
    assert submit(clients, {}).status_code == 400  # the reason is required
    assert submit(clients, {"other": {"text": "x"}}).status_code == 400
    assert submit(clients, {"reason": {"nope": "x"}}).status_code == 400
    assert submit(clients, {"reason": {"text": "x"}}, view="V0NOTOPEN00").status_code == 404
    assert len(receiver.received) == sent
    assert submit(clients, {"reason": {"text": "x"}}, view=view).status_code == 200


def test_an_answer_with_errors_keeps_the_view_open(clients: Clients, receiver: Receiver) -> None:
    register(clients, receiver)
    post_buttons(clients)
    view = open_modal(clients, receiver)
    errors = {"response_action": "errors", "errors": {"reason": "Say why"}}
    receiver.answer = lambda _: (200, "application/json", json.dumps(errors))
    result = submit(clients, {"reason": {"text": "x"}}).json()
    assert result["closed"] is False
    assert result["response_action"] == "errors"
    [shown] = clients.http.get("/_sandbox/slack/views", params={"user": "po"}).json()["views"]
    assert shown["id"] == view
    assert shown["errors"] == {"reason": "Say why"}
    receiver.answer = lambda _: (500, "text/plain", "boom")
    assert submit(clients, {"reason": {"text": "x"}}).json()["closed"] is False


def test_post_ephemeral_is_kept_for_the_person(sandbox: SandboxServer, clients: Clients) -> None:
    helpdesk = SLACK_USERS["helpdesk"]
    sent = clients.slack.chat_postEphemeral(channel=CHANNEL, user=helpdesk, text="Only you")
    assert sent["ok"] is True
    assert re.match(r"^\d+\.\d{6}$", sent["message_ts"])
    told = clients.http.get("/_sandbox/slack/ephemeral", params={"user": "helpdesk"}).json()
    [message] = told["ephemeral"]
    assert message["text"] == "Only you"
    assert message["ts"] == sent["message_ts"]
    assert message["user"] == helpdesk
    others = clients.http.get("/_sandbox/slack/ephemeral", params={"user": "po"}).json()
    assert others["ephemeral"] == []
    [entry] = [e for e in sandbox.ledger() if e["path"].endswith("chat.postEphemeral")]
    assert entry["service"] == "slack"
    assert entry["summary"]["user"] == helpdesk


def test_post_ephemeral_errors_are_slacks(sandbox: SandboxServer, clients: Clients) -> None:
    def error(**kwargs: Any) -> str:
        answer = clients.http.post(
            "/slack/api/chat.postEphemeral",
            data=kwargs,
            headers={"Authorization": "Bearer " + clients.token},
        )
        assert answer.status_code == 200
        assert answer.json()["ok"] is False
        return str(answer.json()["error"])

    po = SLACK_USERS["po"]
    other = next(c for c in sandbox.world.slack.channels.values() if not c.people)
    assert error(channel="C0NOSUCH00", user=po, text="x") == "channel_not_found"
    assert error(channel=CHANNEL, user="U0NOBODY00", text="x") == "user_not_found"
    assert error(channel=CHANNEL, user=po, text="") == "no_text"
    assert error(channel=other.id, user=po, text="x") in ("user_not_in_channel", "not_in_channel")


def test_a_button_on_an_ephemeral_message(clients: Clients, receiver: Receiver) -> None:
    register(clients, receiver)
    blocks = post_buttons(clients)["message"]["blocks"]
    clients.slack.chat_postEphemeral(
        channel=CHANNEL, user=SLACK_USERS["po"], text="Yours", blocks=blocks
    )
    assert click(clients, "po").status_code == 200
    payload = receiver.received[0].payload
    assert payload["container"]["is_ephemeral"] is True
    assert "message" not in payload


def test_response_url_replaces_the_message(
    sandbox: SandboxServer, clients: Clients, receiver: Receiver
) -> None:
    register(clients, receiver)
    posted = post_buttons(clients)
    click(clients, "po")
    hook = receiver.received[0].payload["response_url"]
    replaced = clients.http.post(hook, json={"replace_original": True, "text": "Approved by po"})
    assert (replaced.status_code, replaced.text) == (200, "ok")
    history = clients.slack.conversations_history(channel=posted["channel"], limit=1)
    assert history["messages"][0]["text"] == "Approved by po"
    assert clients.http.post(hook, content=b"not json").status_code == 400
    assert clients.http.post(hook + "x", json={"text": "x"}).status_code == 404
    sandbox.advance(31 * 60)
    assert clients.http.post(hook, json={"text": "late"}).text == "expired_url"


def test_a_slash_command_is_signed_and_its_answer_shown(
    sandbox: SandboxServer, clients: Clients, receiver: Receiver
) -> None:
    register(clients, receiver)
    receiver.answer = lambda _: (200, "text/plain", "Run r-1 waits for approval")
    answer = clients.http.post(
        "/_sandbox/slack/command", json={"user": "operator", "text": "status r-1"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == 200
    [got] = receiver.received
    assert got.path == "/slack/commands"
    assert verifier(sandbox).is_valid_request(got.body, got.headers)
    form = got.form
    assert form["command"] == "/oob"
    assert form["text"] == "status r-1"
    assert form["user_id"] == SLACK_USERS["operator"]
    assert form["channel_name"] == CHANNEL
    for key in ("token", "team_id", "team_domain", "channel_id", "user_name", "api_app_id"):
        assert form[key]
    assert form["response_url"].startswith(f"{sandbox.url}/slack/hooks/commands/")
    assert form["trigger_id"]
    told = clients.http.get("/_sandbox/slack/ephemeral", params={"user": "operator"}).json()
    assert [e["text"] for e in told["ephemeral"]] == ["Run r-1 waits for approval"]
    assert [e["path"] for e in sandbox.ledger()] == ["/commands"]
