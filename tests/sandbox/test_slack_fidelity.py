"""Slack behaviours a lenient imitation never shows: refusals, scopes, paging, real-time limits,
and channels where people talk too."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from .conftest import Clients, Connect, StartSandbox


def channel_id(clients: Clients, name: str) -> str:
    cursor = None
    while True:
        page = clients.slack.conversations_list(limit=1000, cursor=cursor)
        for channel in page["channels"]:
            if channel["name"] == name:
                return str(channel["id"])
        cursor = page["response_metadata"]["next_cursor"]
        assert cursor, f"no channel {name}"


def test_every_answer_names_the_tokens_scopes(clients: Clients) -> None:
    answer = clients.slack.auth_test()
    assert "chat:write" in answer.headers["x-oauth-scopes"].split(",")
    history = clients.slack.conversations_history(channel=channel_id(clients, "cms-helpdesk"))
    assert history.headers["x-accepted-oauth-scopes"] == "channels:history"


def test_conversations_list_pages_with_a_cursor(clients: Clients) -> None:
    first = clients.slack.conversations_list(limit=1000)
    assert len(first["channels"]) < 1000  # fewer than asked, though more follow
    assert first["response_metadata"]["next_cursor"]
    names: list[str] = []
    cursor = None
    while True:
        page = clients.slack.conversations_list(limit=100, cursor=cursor)
        names += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert len(names) == len(set(names)) > 200
    with pytest.raises(SlackApiError) as caught:
        clients.slack.conversations_list(cursor="not-a-cursor")
    assert caught.value.response["error"] == "invalid_cursor"


def test_channels_hold_other_peoples_messages(clients: Clients) -> None:
    channel = channel_id(clients, "cms-helpdesk")
    before = clients.slack.conversations_history(channel=channel, limit=200)["messages"]
    people = [m for m in before if "bot_id" not in m]
    assert len(people) > 20
    assert all(m["user"].startswith("U") and "client_msg_id" in m for m in people)
    posted = clients.slack.chat_postMessage(channel=channel, text="Deploy starting")
    clients.sandbox.advance(3 * 3600)  # people keep talking during the run
    after = clients.slack.conversations_history(channel=channel, limit=200)["messages"]
    newer = [m for m in after if float(m["ts"]) > float(posted["ts"])]
    assert newer
    assert all("bot_id" not in m or m["bot_id"] != "B0OOBSANDBOX" for m in newer)


def test_someone_elses_message_cannot_be_updated(clients: Clients) -> None:
    channel = channel_id(clients, "cms-helpdesk")
    theirs = next(
        m
        for m in clients.slack.conversations_history(channel=channel)["messages"]
        if "bot_id" not in m
    )
    with pytest.raises(SlackApiError) as caught:
        clients.slack.chat_update(channel=channel, ts=theirs["ts"], text="hijacked")
    assert caught.value.response["error"] == "cant_update_message"


def test_a_message_too_long_is_refused(clients: Clients) -> None:
    with pytest.raises(SlackApiError) as caught:
        clients.slack.chat_postMessage(channel="#cms-helpdesk", text="x" * 40_001)
    assert caught.value.response["error"] == "msg_too_long"
    assert clients.sandbox.ledger() == []


def test_archived_and_uninvited_channels_refuse_posts(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("slack-not-invited"))
    for name, error in (("#cms-editors", "is_archived"), ("#cms-product", "not_in_channel")):
        with pytest.raises(SlackApiError) as caught:
            clients.slack.chat_postMessage(channel=name, text="Deploy starting")
        assert caught.value.response["error"] == error
    product = channel_id(clients, "cms-product")
    assert clients.slack.conversations_info(channel=product)["channel"]["is_member"] is False
    with pytest.raises(SlackApiError) as caught:
        clients.slack.conversations_history(channel=product)
    assert caught.value.response["error"] == "not_in_channel"
    listed = clients.slack.conversations_list(exclude_archived=True, limit=200)["channels"]
    assert "cms-editors" not in {c["name"] for c in listed}
    assert clients.sandbox.ledger() == []


def test_a_missing_scope_names_what_is_needed(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("slack-missing-scope"))
    channel = channel_id(clients, "cms-helpdesk")
    with pytest.raises(SlackApiError) as caught:
        clients.slack.conversations_history(channel=channel)
    assert caught.value.response["error"] == "missing_scope"
    assert caught.value.response["needed"] == "channels:history"
    assert "chat:write" in caught.value.response["provided"].split(",")


def test_the_rate_limit_runs_in_real_time_whatever_the_time_scale(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    """At 600 simulated seconds a second, fourteen fast posts are still fourteen posts in a
    second or so of real time: Slack refuses the ones beyond its burst."""
    clients = connect(start_sandbox(time_scale=600))
    codes = []
    for n in range(14):
        try:
            clients.slack.chat_postMessage(channel="#cms-helpdesk", text=f"update {n}")
            codes.append(200)
        except SlackApiError as error:
            codes.append(error.response.status_code)
    assert 429 in codes
