"""The sandbox's Slack user groups, as slack_sdk reads them, and whom a message notified."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from oob.sandbox.slack import USERGROUPS

from .conftest import Clients


def test_usergroups_list_as_slack_answers_it(clients: Clients) -> None:
    answer = clients.slack.usergroups_list()
    assert answer["ok"] is True
    groups = {g["id"]: g for g in answer["usergroups"]}
    ident, handle, name, _ = USERGROUPS[0]
    assert groups[ident]["handle"] == handle
    assert groups[ident]["name"] == name
    assert groups[ident]["is_usergroup"] is True
    assert "users" not in groups[ident]
    with_users = clients.slack.usergroups_list(include_users=True)["usergroups"]
    assert [g["users"] for g in with_users if g["id"] == ident] == [list(USERGROUPS[0][3])]


def test_usergroups_list_needs_a_token(clients: Clients) -> None:
    from slack_sdk import WebClient

    bad = WebClient(base_url=f"{clients.sandbox.url}/slack/api/", token="xoxb-wrong")
    with pytest.raises(SlackApiError) as caught:
        bad.usergroups_list()
    assert caught.value.response["error"] == "invalid_auth"


def test_the_ledger_says_whom_a_message_notified(clients: Clients) -> None:
    ident, handle, _, members = USERGROUPS[0]
    text = f"<!subteam^{ident}|@{handle}> hold merges; &lt;!here&gt; is only text <@U0PERSON1>"
    clients.slack.chat_postMessage(channel="#sitewide-program", text=text)
    clients.slack.chat_postMessage(channel="#sitewide-program", text="<!subteam^S0NOSUCH0> hi")
    [first, second] = [e["summary"]["notified"] for e in clients.sandbox.ledger()]
    assert first == [f"@{handle}", *members, "U0PERSON1"]
    assert second == []  # a group Slack does not have notifies nobody
