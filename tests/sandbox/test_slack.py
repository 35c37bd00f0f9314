"""Slack's Web API on the wire, driven by slack_sdk's WebClient (and httpx for form bodies)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from .conftest import TOKEN, Clients, Connect

PRESET_CHANNELS = {"sitewide-program", "cms-helpdesk", "cms-editors", "cms-product"}


def test_auth_test_and_the_presets_channels(clients: Clients) -> None:
    assert clients.slack.auth_test()["user"] == "oob"
    names = {c["name"] for c in clients.slack.conversations_list()["channels"]}
    assert names >= PRESET_CHANNELS


def test_post_message_keeps_metadata_for_history(clients: Clients) -> None:
    metadata = {"event_type": "oob_message", "event_payload": {"key": "run-1/notify"}}
    posted = clients.slack.chat_postMessage(
        channel="#sitewide-program", text="Hold merges", metadata=metadata
    )
    channel = posted["channel"]
    assert channel.startswith("C")
    plain = clients.slack.conversations_history(channel=channel, limit=10)
    assert "metadata" not in plain["messages"][0]
    full = clients.slack.conversations_history(channel=channel, limit=10, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == metadata
    assert full["messages"][0]["ts"] == posted["ts"]


def test_permalink_of_a_posted_message(clients: Clients) -> None:
    posted = clients.slack.chat_postMessage(channel="#cms-helpdesk", text="Deploy complete")
    link = clients.slack.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])
    assert link["permalink"].endswith(
        f"/archives/{posted['channel']}/p{posted['ts'].replace('.', '')}"
    )
    with pytest.raises(SlackApiError) as info:
        clients.slack.chat_getPermalink(channel=posted["channel"], message_ts="1.000001")
    assert info.value.response["error"] == "message_not_found"


def test_history_is_newest_first_with_limit_and_oldest(clients: Clients) -> None:
    channel = clients.slack.chat_postMessage(channel="cms-helpdesk", text="one")["channel"]
    clients.sandbox.advance(60)
    second = clients.slack.chat_postMessage(channel=channel, text="two")
    clients.slack.chat_postMessage(channel=channel, text="three")
    history = clients.slack.conversations_history(channel=channel, limit=2)
    assert [m["text"] for m in history["messages"]] == ["three", "two"]
    assert history["has_more"] is True
    newer = clients.slack.conversations_history(channel=channel, oldest=second["ts"])
    assert [m["text"] for m in newer["messages"]] == ["three"]


def test_chat_update_changes_the_message(clients: Clients) -> None:
    posted = clients.slack.chat_postMessage(channel="#cms-product", text="Approve?")
    clients.slack.chat_update(channel=posted["channel"], ts=posted["ts"], text="Approved")
    history = clients.slack.conversations_history(channel=posted["channel"])
    assert history["messages"][0]["text"] == "Approved"
    with pytest.raises(SlackApiError) as caught:
        clients.slack.chat_update(channel=posted["channel"], ts="1.000001", text="x")
    assert caught.value.response["error"] == "message_not_found"


def test_form_bodies_work_like_json(clients: Clients) -> None:
    answer = clients.http.post(
        "/slack/api/chat.postMessage",
        data={
            "channel": "#cms-editors",
            "text": "Downtime at 3pm",
            "metadata": '{"event_type": "x", "event_payload": {}}',
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert answer.status_code == 200
    assert answer.json()["ok"] is True
    assert answer.json()["message"]["metadata"]["event_type"] == "x"


def test_errors_are_http_200_with_ok_false(clients: Clients, connect: Connect) -> None:
    with pytest.raises(SlackApiError) as caught:
        clients.slack.chat_postMessage(channel="#no-such-channel", text="hi")
    assert caught.value.response.status_code == 200
    assert caught.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as caught:
        clients.slack.conversations_history(channel="#sitewide-program")  # history needs the id
    assert caught.value.response["error"] == "channel_not_found"
    with pytest.raises(SlackApiError) as caught:
        connect(clients.sandbox, token="xoxb-wrong").slack.auth_test()
    assert caught.value.response["error"] == "invalid_auth"
    anonymous = clients.http.post("/slack/api/auth.test")
    assert (anonymous.status_code, anonymous.json()["error"]) == (200, "not_authed")
    assert clients.sandbox.ledger() == []


def test_bursts_beyond_the_rate_limit_get_429_with_retry_after(clients: Clients) -> None:
    codes = []
    for n in range(12):
        answer = clients.http.post(
            "/slack/api/chat.postMessage",
            json={"channel": "#sitewide-program", "text": f"spam {n}"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        codes.append(answer.status_code)
    assert 429 in codes
    limited = codes.index(429)
    assert codes[:limited] == [200] * limited
