"""SlackChat against a scripted Slack on a socket, and apprise channels with a fake sender."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from oob.adapters.chat import EVENT_TYPE, SECTION_LIMIT, SlackChat, blocks, slack_client
from oob.config import Channel
from oob.errors import ChatError, ConfigError
from oob.ports import Button, PostedMessage
from tests.adapters.conftest import POLICY
from tests.adapters.fake_slack import FakeSlack, Reply, fail, okay, serve

CHANNELS = {
    "sitewide-program": Channel(slack="#sitewide-program"),
    "helpdesk-mail": Channel(apprise_url_env="OOB_HELPDESK_URL"),
}
LISTED = okay(channels=[{"id": "C0SITEWIDE", "name": "sitewide-program"}])
BUTTON = Button("approve", "Approve", "r-1", "primary")
LINK = "https://example.slack.com/archives/C0SITEWIDE/p1719151200000100"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with serve() as fake:
        yield fake


@pytest.fixture
def sent() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def chat(slack: FakeSlack, sent: list[tuple[str, str]]) -> SlackChat:
    def send(url: str, text: str) -> bool:
        sent.append((url, text))
        return "fail" not in url

    return SlackChat(
        CHANNELS,
        slack=slack_client("xoxb-s3cret", slack.url, 5, POLICY),
        token_env="OOB_SLACK_TOKEN",
        policy=POLICY,
        environ={"OOB_HELPDESK_URL": "mailto://helpdesk@example.org"},
        send_apprise=send,
    )


def message(key: str, ts: str) -> dict[str, Any]:
    return {
        "ts": ts,
        "text": "x",
        "metadata": {"event_type": EVENT_TYPE, "event_payload": {"key": key}},
    }


def test_post_carries_the_key_in_metadata(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on("conversations.list", LISTED)
    slack.on("chat.getPermalink", okay(channel="C0SITEWIDE", permalink=LINK))
    slack.on("conversations.history", okay(messages=[message("other", "1.0")]))
    slack.on("chat.postMessage", okay(channel="C0SITEWIDE", ts="1719151200.000100"))
    posted = chat.post("sitewide-program", "Hold merges", key="run-1/hold")
    assert posted == PostedMessage("sitewide-program", "run-1/hold", "1719151200.000100", LINK)
    [link] = slack.called("chat.getPermalink")
    assert link == {"channel": "C0SITEWIDE", "message_ts": "1719151200.000100"}
    [args] = slack.called("chat.postMessage")
    assert args["channel"] == "C0SITEWIDE"
    assert args["metadata"] == {"event_type": EVENT_TYPE, "event_payload": {"key": "run-1/hold"}}
    [history] = slack.called("conversations.history")
    assert history["channel"] == "C0SITEWIDE"


def test_post_returns_the_message_already_there(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on("conversations.list", LISTED)
    slack.on("chat.getPermalink", okay(channel="C0SITEWIDE", permalink=LINK))
    slack.on("conversations.history", okay(messages=[message("run-1/hold", "5.5")]))
    assert chat.post("sitewide-program", "Hold merges", key="run-1/hold").ts == "5.5"
    assert slack.called("chat.postMessage") == []


def test_a_server_error_while_posting_looks_again_before_posting_again(
    chat: SlackChat, slack: FakeSlack
) -> None:
    # The first post reached Slack but its answer was a 500: the retry must find it, not repost.
    posted: list[str] = []

    def history(_: dict[str, Any]) -> Reply:
        return okay(messages=[message("k", ts) for ts in posted])

    def post_then_fail(_: dict[str, Any]) -> Reply:
        posted.append("7.7")
        return fail("fatal_error", 500)

    slack.on("conversations.list", LISTED)
    slack.on("chat.getPermalink", okay(channel="C0SITEWIDE", permalink=LINK))
    slack.on("conversations.history", history)
    slack.on("chat.postMessage", post_then_fail)
    assert chat.post("sitewide-program", "Hold merges", key="k").ts == "7.7"
    assert len(slack.called("chat.postMessage")) == 1


def test_a_rate_limit_is_waited_out(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on("conversations.list", LISTED)
    slack.on("chat.getPermalink", okay(channel="C0SITEWIDE", permalink=LINK))
    slack.on("conversations.history", okay(messages=[]))
    slack.on(
        "chat.postMessage",
        fail("ratelimited", 429, **{"Retry-After": "1"}),
        okay(channel="C0SITEWIDE", ts="2.0"),
    )
    assert chat.post("sitewide-program", "x", key="k").ts == "2.0"
    assert len(slack.called("chat.postMessage")) == 2


def test_a_rate_limit_that_lasts_is_explained(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on("conversations.list", LISTED)
    slack.on("conversations.history", okay(messages=[]))
    slack.on("chat.postMessage", fail("ratelimited", 429, **{"Retry-After": "600"}))
    with pytest.raises(ChatError, match="rate limiting") as caught:
        chat.post("sitewide-program", "x", key="k")
    assert caught.value.hint == "try again in 600 seconds"
    assert len(slack.called("chat.postMessage")) == 1


@pytest.mark.parametrize(
    ("error", "message", "hint"),
    [
        ("invalid_auth", "Slack refused the token (invalid_auth)", "check OOB_SLACK_TOKEN"),
        ("not_in_channel", "the Slack app is not in #sitewide-program", "/invite"),
        ("is_archived", "#sitewide-program is archived", "unarchive"),
        (
            "msg_too_long",
            "the message for #sitewide-program is longer than Slack allows (40,000 characters)",
            "shorten the template",
        ),
        (
            "channel_not_found",
            "Slack has no channel #sitewide-program that the app can see",
            "check the name",
        ),
        ("missing_scope", "the Slack token lacks a scope for #sitewide-program", "reinstall"),
    ],
)
def test_ok_false_becomes_a_chat_error_without_retry(
    chat: SlackChat, slack: FakeSlack, error: str, message: str, hint: str | None
) -> None:
    slack.on("conversations.list", LISTED)
    slack.on("conversations.history", okay(messages=[]))
    slack.on("chat.postMessage", fail(error))
    with pytest.raises(ChatError) as caught:
        chat.post("sitewide-program", "x", key="k")
    assert caught.value.message == message
    assert hint is None or hint in (caught.value.hint or "")
    assert "xoxb" not in str(caught.value)
    assert caught.value.transient is False
    assert len(slack.called("chat.postMessage")) == 1


def test_an_unknown_channel_name(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on("conversations.list", okay(channels=[{"id": "C0OTHER000", "name": "other"}]))
    with pytest.raises(ChatError, match="no channel #sitewide-program"):
        chat.post("sitewide-program", "x", key="k")


def test_channel_ids_are_paged_and_remembered(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on(
        "conversations.list",
        okay(channels=[], response_metadata={"next_cursor": "page2"}),
        LISTED,
    )
    assert chat.channel_id("#sitewide-program") == "C0SITEWIDE"
    assert chat.channel_id("sitewide-program") == "C0SITEWIDE"
    assert [c.get("cursor") for c in slack.called("conversations.list")] == [None, "page2"]
    assert chat.channel_id("C0123456789") == "C0123456789"


def test_settle_replaces_the_buttons_with_who_decided(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on("conversations.list", LISTED)
    asked = {"ts": "5.5", "text": "Approve?", "blocks": blocks("Approve?", (BUTTON,))}
    slack.on("conversations.history", okay(messages=[asked]))
    slack.on("chat.update", okay(ts="5.5"))
    chat.settle(PostedMessage("sitewide-program", "k", "5.5"), "Approved by po")
    (call,) = slack.called("chat.update")
    assert (call["channel"], call["ts"], call["text"]) == ("C0SITEWIDE", "5.5", "Approve?")
    assert [b["type"] for b in call["blocks"]] == ["section", "context"]


def test_settle_leaves_a_message_that_is_gone_and_channels_without_buttons(
    chat: SlackChat, slack: FakeSlack, sent: list[tuple[str, str]]
) -> None:
    slack.on("conversations.list", LISTED)
    slack.on("conversations.history", okay(messages=[]))
    chat.settle(PostedMessage("sitewide-program", "k", "5.5"), "Approved by po")  # gone
    settled = {"ts": "5.6", "text": "Approve?", "blocks": blocks("Approve?", footer="Approved")}
    slack.on("conversations.history", okay(messages=[settled]))
    chat.settle(PostedMessage("sitewide-program", "k", "5.6"), "Approved by po")  # no buttons
    chat.settle(PostedMessage("helpdesk-mail", "k", None), "Approved by po")
    assert slack.called("chat.update") == []
    assert sent == []


def test_buttons_go_under_the_text_in_sections_slack_accepts() -> None:
    text = "\n".join(f"line {n} " + "x" * 90 for n in range(80))  # about 8,000 characters
    found = blocks(text, (Button("approve", "Approve", "r-1", "primary"),))
    sections = [b["text"]["text"] for b in found if b["type"] == "section"]
    assert "".join(sections) == text
    assert all(len(s) <= SECTION_LIMIT for s in sections)
    (actions,) = [b for b in found if b["type"] == "actions"]
    assert actions["elements"][0] == {
        "type": "button",
        "action_id": "oob:approve",
        "text": {"type": "plain_text", "text": "Approve"},
        "value": "r-1",
        "style": "primary",
    }


def test_apprise_channels_send_once_and_have_no_ts(
    chat: SlackChat, sent: list[tuple[str, str]]
) -> None:
    posted = chat.post("helpdesk-mail", "Deploy done", key="k")
    assert posted == PostedMessage("helpdesk-mail", "k", None)
    assert sent == [("mailto://helpdesk@example.org", "Deploy done")]


def test_apprise_failure_names_the_variable_not_the_url(slack: FakeSlack) -> None:
    chat = SlackChat(
        CHANNELS,
        slack=None,
        token_env=None,
        environ={"OOB_HELPDESK_URL": "mailto://fail:pw@example.org"},
        send_apprise=lambda url, text: False,
    )
    with pytest.raises(ChatError) as caught:
        chat.post("helpdesk-mail", "x", key="k")
    assert "OOB_HELPDESK_URL" in (caught.value.hint or "")
    assert "pw@" not in str(caught.value)


def test_unset_apprise_variable_and_unknown_channel_are_config_errors(chat: SlackChat) -> None:
    empty = SlackChat(CHANNELS, slack=None, token_env=None, environ={})
    with pytest.raises(ConfigError, match="OOB_HELPDESK_URL"):
        empty.post("helpdesk-mail", "x", key="k")
    with pytest.raises(ConfigError, match="no channel 'nope'"):
        chat.post("nope", "x", key="k")


def test_can_post_checks_membership(chat: SlackChat, slack: FakeSlack) -> None:
    slack.on("conversations.list", LISTED)
    slack.on(
        "conversations.info",
        okay(channel={"id": "C0SITEWIDE", "is_member": True, "is_archived": False}),
        okay(channel={"id": "C0SITEWIDE", "is_member": False, "is_archived": False}),
    )
    assert "member" in chat.can_post("sitewide-program")
    with pytest.raises(ChatError, match="not a member"):
        chat.can_post("sitewide-program")
