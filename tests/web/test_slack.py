"""Decisions from Slack's buttons: signed, mapped to people, decided by the one policy, audited.

The sandbox plays Slack: it posts oob's messages, sends its people's clicks to `oob serve`'s
interactivity URL signed with the app's signing secret (in its simulated time), and keeps what
each person was told and how each message was changed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from oob.adapters import make_chat
from oob.commands import Control
from oob.config import Config
from oob.errors import OobError
from oob.events import KIND_COMMAND_REFUSED, KIND_MESSAGE_POSTED
from oob.messages import buttons
from oob.plan import freeze
from oob.policy import Action, Topic
from oob.rehearse import _sandbox_config, rehearse
from oob.sandbox.configfile import SERVICE_TOKEN_VARIABLES
from oob.sandbox.interactions import STRANGER, sign
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.states import RunState, Source
from oob.store import RunRequest, Store
from oob.web.server import serving
from oob.web.slack import interactions_for, slack_app

START = 1_750_000_000.0


def test_a_rehearsal_decides_only_through_signed_clicks(tmp_path: Path) -> None:
    result = rehearse("happy", time_scale=600, drafts=tmp_path)
    assert result.outcome == "resolved", result.reason
    assert result.decisions == [
        ("approval.approved", "po", "slack"),
        ("verify.confirmed", "helpdesk", "slack"),
    ]
    effects = result.side_effects
    assert effects["slack_interactions"] == 2  # the two clicks, and nothing else decided
    # Every message lost its buttons: the two clicked, and "cancel release" once the release
    # picked its commit. A click's answer and the workflow may both settle the same message
    # (each looks first; the same content either way), so at least three updates.
    assert effects["chat_messages_updated"] >= 3


@dataclass
class Slack:
    sandbox: SandboxServer
    config: Config
    store: Store
    control: Control
    url: str  # where oob serves Slack's requests
    posted: dict[str, str] = field(default_factory=dict)  # the ts of each run's message

    def run(self, state: RunState = RunState.AWAITING_APPROVAL, requester: str = "operator") -> str:
        """A run in `state` whose approval request is in the product owner's channel."""
        run = self.store.create_run(
            RunRequest(
                pipeline=f"p-{time.monotonic_ns()}",
                requester=requester,
                fix_sha="c" * 40,
                symptoms="editors cannot log in",
                cause="a bad cookie",
                fix_summary="restore the cookie",
            ),
            freeze(self.config),
        )
        for step in (RunState.AWAITING_APPROVAL, state):
            if self.store.run(run.id).state is not step:
                self.store.transition(run.id, step)
        channel = self.config.audiences.product_owner.channels[0]
        posted = make_chat(self.config).post(
            channel, "Approval requested", f"{run.id}:1", buttons("approval_request", run.id)
        )
        self.posted[run.id] = str(posted.ts)
        self.store.append_event(  # as the workflow records what it posted
            run.id,
            actor="oob",
            source=Source.WORKER,
            kind=KIND_MESSAGE_POSTED,
            summary="told product_owner: approval request",
            details={"channel": channel, "purpose": "approval_request", "ts": posted.ts},
        )
        return run.id

    def click(self, person: str, run_id: str, action: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.sandbox.url}/_sandbox/slack/click",
            json={"user": person, "run": run_id, "action": f"oob:{action}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        assert data["status"] == 200, data
        assert data["late"] is False  # acknowledged within Slack's three seconds, acted on after
        return data

    def told(self, person: str, count: int = 1) -> list[str]:
        """What `person` was told in Slack (waiting for `count` messages)."""
        deadline = time.monotonic() + 20
        while True:
            shown = httpx.get(
                f"{self.sandbox.url}/_sandbox/slack/ephemeral", params={"user": person}
            ).json()["ephemeral"]
            if len(shown) >= count or time.monotonic() > deadline:
                return [str(e["text"]) for e in shown]
            time.sleep(0.02)

    def message(self, run_id: str) -> dict[str, Any]:
        """The approval request of `run_id` as Slack shows it now (and its channel's id)."""
        with self.sandbox.world.session() as world:
            for channel in world.slack.channels.values():
                for message in channel.messages:
                    if message.ts == self.posted[run_id]:
                        shown = message.as_json(team=world.slack.team_id, with_metadata=False)
                        return {**shown, "channel": channel.id}
        raise AssertionError(f"no message of {run_id}")

    def refusals(self, run_id: str) -> list[tuple[str, str]]:
        return [
            (e.actor, e.source) for e in self.store.events(run_id) if e.kind == KIND_COMMAND_REFUSED
        ]

    def signed(self, payload: dict[str, Any], stamp: float) -> tuple[bytes, dict[str, str]]:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        secret = self.sandbox.options.signing_secret
        headers = {
            **sign(secret, int(stamp), body),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return body, headers


@pytest.fixture
def slack(tmp_path: Path) -> Iterator[Slack]:
    sandbox = SandboxServer(Options(scenario="happy", time_scale=0, start=START)).start()
    try:
        config = _sandbox_config(sandbox, tmp_path)
        url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
        store = Store(url)
        control = Control(store, url)
        interactions = interactions_for(config, store, control, now=sandbox.world.clock.now)
        assert interactions is not None
        with serving(slack_app(interactions)) as base:
            httpx.post(
                f"{sandbox.url}/_sandbox/slack/app",
                json={"interactivity_url": f"{base}/slack/interactions"},
            ).raise_for_status()
            yield Slack(sandbox, config, store, control, base)
        store.close()
    finally:
        sandbox.stop()


def _payload(slack: Slack, run_id: str, person_id: str) -> dict[str, Any]:
    message = slack.message(run_id)
    return {
        "type": "block_actions",
        "user": {"id": person_id},
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": message["channel"],
        },
        "actions": [{"action_id": "oob:approve", "value": run_id, "type": "button"}],
    }


def _po_id(slack: Slack) -> str:
    return next(u for u, p in slack.config.services.slack.users.items() if p == "po")  # type: ignore[union-attr]


def test_a_bad_signature_is_refused_and_decides_nothing(slack: Slack) -> None:
    run_id = slack.run()
    body, headers = slack.signed(_payload(slack, run_id, _po_id(slack)), time.time())
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    answer = httpx.post(f"{slack.url}/slack/interactions", content=body, headers=headers)
    assert answer.status_code == 401
    time.sleep(0.3)
    assert slack.store.run(run_id).state is RunState.AWAITING_APPROVAL
    assert "approval" not in {t.value for t in slack.store.taken(run_id)}


def test_a_stale_timestamp_is_refused(slack: Slack) -> None:
    run_id = slack.run()
    stale = time.time() - 301
    body, headers = slack.signed(_payload(slack, run_id, _po_id(slack)), stale)
    answer = httpx.post(f"{slack.url}/slack/interactions", content=body, headers=headers)
    assert answer.status_code == 401
    assert slack.store.run(run_id).state is RunState.AWAITING_APPROVAL


def test_a_replayed_request_is_refused(slack: Slack) -> None:
    run_id = slack.run()
    body, headers = slack.signed(_payload(slack, run_id, _po_id(slack)), time.time())
    first = httpx.post(f"{slack.url}/slack/interactions", content=body, headers=headers)
    again = httpx.post(f"{slack.url}/slack/interactions", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 401)
    assert "replayed" in again.text


def test_an_unmapped_slack_user_is_told_and_audited(slack: Slack) -> None:
    run_id = slack.run()
    slack.click(STRANGER, run_id, "approve")
    (said,) = slack.told(STRANGER)
    assert "not an oob person" in said
    assert "[services.slack.users]" in said
    assert slack.refusals(run_id) == [(f"slack:{STRANGER}", Source.SLACK)]
    assert slack.store.run(run_id).state is RunState.AWAITING_APPROVAL


def test_a_person_without_the_role_is_refused(slack: Slack) -> None:
    run_id = slack.run()
    slack.click("helpdesk", run_id, "approve")
    (said,) = slack.told("helpdesk")
    assert said.startswith("Not done: refused")
    assert slack.refusals(run_id) == [("helpdesk", Source.SLACK)]
    assert "actions" in json.dumps(slack.message(run_id)["blocks"])  # still open for the PO


def test_the_requester_cannot_approve_their_own_run(slack: Slack) -> None:
    run_id = slack.run(requester="po")
    slack.click("po", run_id, "approve")
    (said,) = slack.told("po")
    assert "Not done" in said
    assert slack.refusals(run_id) == [("po", Source.SLACK)]


def _settled(slack: Slack, run_id: str) -> str:
    """The run's message once its buttons are gone (as JSON)."""
    deadline = time.monotonic() + 10
    while True:
        shown = json.dumps(slack.message(run_id)["blocks"])
        if '"actions"' not in shown or time.monotonic() > deadline:
            return shown
        time.sleep(0.02)


def test_a_click_decides_and_replaces_the_buttons_with_the_decision(slack: Slack) -> None:
    run_id = slack.run()
    slack.click("po", run_id, "approve")
    assert slack.told("po") == [f"You approved the deploy of run {run_id}."]
    shown = _settled(slack, run_id)
    assert '"actions"' not in shown
    assert "*Approved* by po" in shown
    taken = slack.store.taken(run_id)
    assert [(t.action, t.actor) for t in taken.values()] == [(Action.APPROVE, "po")]
    assert [e.source for e in slack.store.events(run_id) if e.kind == "approval.approved"] == [
        Source.SLACK
    ]


def test_a_click_on_a_message_decided_elsewhere_is_told_and_settles_it(slack: Slack) -> None:
    run_id = slack.run()
    slack.control.deny(run_id, "po", "wait for the daily deploy")  # the CLI leaves the buttons
    slack.click("po", run_id, "approve")
    (said,) = slack.told("po")
    assert said.startswith("Not done: refused")
    shown = _settled(slack, run_id)
    assert '"actions"' not in shown
    assert "*Denied* by po" in shown
    assert "wait for the daily deploy" in shown
    assert slack.store.taken(run_id)[Topic.APPROVAL].action is Action.DENY


def _race(slack: Slack, run_id: str) -> str:
    """The CLI denies while the product owner taps Approve: what the CLI answered."""
    barrier = threading.Barrier(2)
    cli: list[str] = []

    def deny() -> None:
        barrier.wait()
        try:
            slack.control.deny(run_id, "po", "not now", source=Source.CLI)
            cli.append("ok")
        except OobError as exc:
            cli.append(str(exc))

    def click() -> None:
        barrier.wait()
        slack.click("po", run_id, "approve")

    threads = [threading.Thread(target=deny), threading.Thread(target=click)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return cli[0]


def test_a_click_racing_a_cli_decision_one_wins_and_the_other_is_told(slack: Slack) -> None:
    for attempt in range(1, 6):
        run_id = slack.run()
        cli = _race(slack, run_id)
        said = slack.told("po", attempt)[attempt - 1]
        won = slack.store.taken(run_id)[Topic.APPROVAL]
        if won.action is Action.DENY:
            assert cli == "ok"
            assert said.startswith("Not done: refused"), said
        else:
            assert cli.startswith("refused"), cli
            assert said.startswith("You approved"), said
        decided = [e for e in slack.store.events(run_id) if e.kind.startswith("approval.")]
        assert len(decided) == 1


def _doctor(config: Config, **slack: Any) -> dict[str, tuple[bool, str]]:
    from oob.doctor import diagnose

    assert config.services.slack is not None
    changed = config.services.slack.model_copy(update=slack)
    services = config.services.model_copy(update={"slack": changed})
    checks = diagnose(config.model_copy(update={"services_": services}))
    return {
        c.name: (c.ok, c.detail)
        for c in checks
        if c.name in ("signing secret", "interactivity URL")
    }


def test_doctor_checks_the_signing_secret_and_that_the_interactivity_url_is_oob(
    slack: Slack, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = f"{slack.url}/slack/interactions"
    assert _doctor(slack.config, interactivity_url=ours) == {
        "signing secret": (True, "OOB_SLACK_SIGNING_SECRET is set"),
        "interactivity URL": (True, f"{ours} is oob, refusing unsigned requests"),
    }
    elsewhere = f"{slack.sandbox.url}/_sandbox/state"
    ok, detail = _doctor(slack.config, interactivity_url=elsewhere)["interactivity URL"]
    assert not ok
    assert "not 401" in detail
    monkeypatch.delenv("OOB_SLACK_SIGNING_SECRET", raising=False)
    for variable in SERVICE_TOKEN_VARIABLES:  # without [sandbox], tokens come from these
        monkeypatch.setenv(variable, slack.sandbox.options.token)
    unset = slack.config.model_copy(update={"sandbox": None})
    found = _doctor(unset, signing_secret_env="OOB_SLACK_SIGNING_SECRET")
    assert found["signing secret"][0] is False
    assert "buttons nobody can use" in found["signing secret"][1]


def test_the_shipped_slack_app_manifest_asks_what_oob_uses() -> None:
    from oob.sandbox.slack import NEEDED

    manifest = json.loads((Path(__file__).parents[2] / "slack-app-manifest.json").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {s for s in NEEDED.values() if s} <= scopes
    assert "commands" in scopes
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/oob"
    assert command["url"].endswith("/slack/commands")
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/interactions")


def test_deny_from_slack_asks_why_in_a_form_then_decides(slack: Slack) -> None:
    run_id = slack.run()
    slack.click("po", run_id, "deny")
    deadline = time.monotonic() + 10
    while True:
        views = httpx.get(
            f"{slack.sandbox.url}/_sandbox/slack/views", params={"user": "po"}
        ).json()["views"]
        if views or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    (view,) = views
    assert view["callback_id"] == "oob:deny"
    assert slack.store.run(run_id).state is RunState.AWAITING_APPROVAL  # nothing decided yet
    answer = httpx.post(
        f"{slack.sandbox.url}/_sandbox/slack/submit",
        json={"user": "po", "values": {"reason": {"reason": "wait for the <daily> deploy"}}},
        timeout=30,
    ).json()
    assert (answer["status"], answer["closed"]) == (200, True)
    assert slack.told("po") == [f"You denied the deploy of run {run_id}."]
    taken = slack.store.taken(run_id)[Topic.APPROVAL]
    assert (taken.action, taken.actor, taken.text) == (
        Action.DENY,
        "po",
        "wait for the <daily> deploy",
    )
    assert "wait for the &lt;daily&gt; deploy" in _settled(slack, run_id)  # escaped for Slack


def _command(slack: Slack, person: str, text: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{slack.sandbox.url}/_sandbox/slack/command",
        json={"user": person, "text": text},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    assert data["status"] == 200, data
    return data


def test_the_oob_command_tells_where_a_run_is(slack: Slack) -> None:
    httpx.post(
        f"{slack.sandbox.url}/_sandbox/slack/app",
        json={"commands_url": f"{slack.url}/slack/commands"},
    ).raise_for_status()
    run_id = slack.run()
    status = json.loads(_command(slack, "po", f"status {run_id}")["body"])
    assert status["response_type"] == "ephemeral"
    assert status["text"].startswith(f"{run_id} ")
    assert "awaiting_approval" in status["text"]
    assert "Waiting for the product owner" in status["text"]
    runs = json.loads(_command(slack, "helpdesk", "runs")["body"])
    assert run_id in runs["text"]
    stranger = json.loads(_command(slack, STRANGER, "runs")["body"])
    assert "not an oob person" in stranger["text"]


def test_freshness_is_the_wire_s_whatever_the_rehearsal_s_clock(slack: Slack) -> None:
    """At 600 times real time, a click's 300 ms trip is three simulated minutes: a signature
    checked in simulated time was refused as stale under load (a rehearsal's stderr said so)."""
    run_id = slack.run()
    body, headers = slack.signed(_payload(slack, run_id, _po_id(slack)), time.time())
    slack.sandbox.advance(3600)  # an hour of simulated time passes while the request travels
    answer = httpx.post(f"{slack.url}/slack/interactions", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
