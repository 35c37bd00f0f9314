"""The authorization matrix through Slack's buttons: the sandbox plays Slack, its people click
the buttons under oob's messages (and submit the form a reason needs), and `oob serve`'s Slack
routes decide with the real `Control`.

Each action a button takes x each person (the sandbox config's operator, product owner and
helpdesk, and `STRANGER`, a member of the workspace who is no oob person) x a sample of the run
states: the decision is taken or refused as the policy's rules say (computed here from
`oob.policy.RULES` and the run's frozen roles, and checked against `oob.policy.decide`), every
refusal is in the run's audit log as `command.refused` from `slack`, and the person is told
the answer in a message only they see.

One sandbox and one Slack app serve every cell; a run is used until a decision on it is taken.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from oob.adapters import make_chat
from oob.commands import Control
from oob.config import Config, Roles
from oob.events import KIND_COMMAND_REFUSED
from oob.messages import MESSAGES, buttons
from oob.plan import freeze
from oob.policy import RULES, Action, Situation, decide
from oob.rehearse import _sandbox_config
from oob.sandbox.interactions import SLACK_USERS, STRANGER
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.states import RunState, Source
from oob.store import RunRequest, Store
from oob.web.server import serving
from oob.web.slack import DONE, FORMS, interactions_for, slack_app
from tests.support import behind_oobs_back

START = 1_750_000_000.0
REQUESTER = "operator"  # requests every run (a deployer; not an approver, so not_own_run is moot)
REASON = "the editors cannot wait"
# The message whose buttons take each action (`oob.messages.BUTTONS`).
MESSAGE = {
    Action.APPROVE: "approval_request",
    Action.DENY: "approval_request",
    Action.CANCEL: "release_started",
    Action.CONFIRM_FIX: "deploy_complete",
    Action.REJECT_FIX: "deploy_complete",
}
SLACK_ACTIONS = tuple(MESSAGE)
# The states sampled as test_authz_ways_in does: waiting for approval, a later cancellable
# state, verifying, and an ended run.
STATES = (
    RunState.AWAITING_APPROVAL,
    RunState.RELEASE_WAIT,
    RunState.VERIFYING,
    RunState.RESOLVED,
)
PEOPLE = ("operator", "po", "helpdesk", STRANGER)  # as the sandbox's control endpoints name them


def actor_of(config: Config, person: str) -> str:
    """The oob person a Slack click is taken from (`slack:<ID>` for the stranger)."""
    slack = config.services.slack
    assert slack is not None
    user = SLACK_USERS.get(person, person)
    return slack.users.get(user) or f"slack:{user}"


def expected(roles: Roles, action: Action, actor: str, state: RunState, text: str) -> bool:
    """The rules' answer, from `RULES`' data and the run's roles (not from `decide`)."""
    rule = RULES[action]
    names: set[str] = set()
    for role in rule.roles:
        named: list[str] = getattr(roles, role.value)
        if role.value == "fix_confirmers" and not named:
            named = roles.deployers
        names |= set(named)
    return (
        actor in names
        and (not rule.needs_reason or bool(text.strip()))
        and not (rule.not_own_run and actor == REQUESTER and not roles.allow_self_approval)
        and (rule.states is None or state in rule.states)
    )


@dataclass
class World:
    sandbox: SandboxServer
    config: Config
    store: Store
    plan: dict[str, Any]
    fresh: dict[tuple[RunState, str], str] = field(default_factory=dict)
    made: int = 0
    chat: Any = None

    def __post_init__(self) -> None:
        self.chat = make_chat(self.config)

    @property
    def roles(self) -> Roles:
        return Roles.model_validate(self.plan["roles"])

    def run(self, state: RunState, message: str) -> str:
        """A run in `state` (not yet decided on) with `message` and its buttons posted."""
        key = (state, message)
        if key in self.fresh:
            return self.fresh[key]
        self.made += 1
        run = self.store.create_run(
            RunRequest(
                pipeline=f"p{self.made}",
                requester=REQUESTER,
                fix_sha="c" * 40,
                symptoms="editors cannot log in",
                cause="a bad cookie",
                fix_summary="restore the cookie",
            ),
            self.plan,
        )
        values: dict[str, object] = {"state": state.value}
        if state.terminal:
            values |= {"outcome": state.value, "active_pipeline": None, "ended_at": run.created_at}
        with behind_oobs_back(self.store) as conn:
            table = sa.Table("oob_runs", sa.MetaData(), autoload_with=conn)
            conn.execute(table.update().where(table.c.id == run.id).values(**values))
        audience = MESSAGES[message][0]
        channel = getattr(self.config.audiences, audience).channels[0]
        self.chat.post(
            channel, f"{message} of {run.id}", f"{run.id}:{message}", buttons(message, run.id)
        )
        self.fresh[key] = run.id
        return run.id

    def used(self, state: RunState, message: str) -> None:
        del self.fresh[state, message]

    # -- the sandbox's people ------------------------------------------------------------------

    def shown_to(self, what: str, person: str) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.sandbox.url}/_sandbox/slack/{what}", params={"user": person}, timeout=10
        )
        answer.raise_for_status()
        shown: list[dict[str, Any]] = answer.json()[what]
        return shown

    def play(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(f"{self.sandbox.url}/_sandbox/slack/{what}", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()
        assert data["status"] == 200, data
        assert data["late"] is False, data  # acknowledged within Slack's three seconds
        return data

    def new(self, what: str, person: str, before: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 20
        while True:
            shown = self.shown_to(what, person)
            if len(shown) > before:
                return shown[before:]
            assert time.monotonic() < deadline, f"nothing new in {what} of {person}"
            time.sleep(0.01)

    def click(self, person: str, run_id: str, action: Action, text: str) -> list[str]:
        """`person` clicks the button (and submits the form with `text` where it asks for a
        reason); what they were told then."""
        told = len(self.shown_to("ephemeral", person))
        views = len(self.shown_to("views", person))
        self.play("click", {"user": person, "run": run_id, "action": f"oob:{action.value}"})
        if action in FORMS:
            (view,) = self.new("views", person, views)
            assert view["callback_id"] == f"oob:{action.value}"
            submitted = self.submit(person, view["id"], text)
            assert submitted["closed"] is True, submitted
        return [str(e["text"]) for e in self.new("ephemeral", person, told)]

    def submit(self, person: str, view: str, text: str) -> dict[str, Any]:
        body = {"user": person, "view": view, "values": {"reason": {"reason": text}}}
        return self.play("submit", body)

    def refusals(self, run_id: str) -> list[tuple[str, Source, str]]:
        return [
            (e.actor, e.source, str(e.details.get("command")))
            for e in self.store.events(run_id)
            if e.kind == KIND_COMMAND_REFUSED
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("slack-matrix")
    sandbox = SandboxServer(Options(scenario="happy", time_scale=0, start=START)).start()
    try:
        config = _sandbox_config(sandbox, home)
        url = f"sqlite:///{home / 'oob.sqlite'}"
        store = Store(url)
        interactions = interactions_for(
            config, store, Control(store, url), now=sandbox.world.clock.now
        )
        assert interactions is not None
        with serving(slack_app(interactions)) as base:
            httpx.post(
                f"{sandbox.url}/_sandbox/slack/app",
                json={"interactivity_url": f"{base}/slack/interactions"},
            ).raise_for_status()
            yield World(sandbox, config, store, dict(freeze(config)))
        store.close()
    finally:
        sandbox.stop()


def test_every_button_answers_as_the_rules_say_and_every_refusal_is_audited(
    world: World,
) -> None:
    tally: Counter[tuple[Action, bool]] = Counter()
    for action in SLACK_ACTIONS:
        message = MESSAGE[action]
        rule = RULES[action]
        text = REASON if action in FORMS else ""
        for state in STATES:
            for person in PEOPLE:
                actor = actor_of(world.config, person)
                allowed = expected(world.roles, action, actor, state, text)
                run_id = world.run(state, message)
                situation = Situation(run_id, REQUESTER, state, world.roles)
                assert bool(decide(situation, action, actor, text)) is allowed  # one policy
                cell = (action.value, person, state.value)
                refused_before = world.refusals(run_id)
                events_before = len(world.store.events(run_id))
                told = world.click(person, run_id, action, text)
                tally[action, allowed] += 1
                events = world.store.events(run_id)[events_before:]
                if allowed:
                    assert told == [DONE[action].format(run=run_id)], cell
                    assert [(e.kind, e.actor, e.source) for e in events] == [
                        (rule.event_kind, actor, Source.SLACK)
                    ], cell
                    if action in FORMS:
                        assert events[0].details["reason"] == REASON
                    world.used(state, message)
                else:
                    (said,) = told
                    assert said.startswith("Not done: refused"), (cell, said)
                    if person == STRANGER:
                        assert "not an oob person" in said, said
                    assert [e.kind for e in events] == [KIND_COMMAND_REFUSED], cell
                    assert world.refusals(run_id) == [
                        *refused_before,
                        (actor, Source.SLACK, action.value),
                    ], cell
    cells = len(SLACK_ACTIONS) * len(STATES) * len(PEOPLE)
    assert sum(tally.values()) == cells
    for action in SLACK_ACTIONS:  # no rule is vacuous through Slack either
        assert tally[action, True] > 0, action
        assert tally[action, False] > 0, action
    taken = sum(n for (_, ok), n in tally.items() if ok)
    # docs/reliability.md gives these figures.
    assert (cells, taken, cells - taken) == (80, 8, 72), dict(tally)


@pytest.mark.parametrize("action", list(FORMS), ids=str)
def test_a_blank_reason_is_refused_by_the_form_before_the_policy(
    world: World, action: Action
) -> None:
    """As on the CLI and the dashboard: a reason of blanks is asked again, nothing recorded."""
    state = (
        RunState.VERIFYING if MESSAGE[action] == "deploy_complete" else RunState.AWAITING_APPROVAL
    )
    person = next(
        p for p in PEOPLE if expected(world.roles, action, actor_of(world.config, p), state, "x")
    )
    run_id = world.run(state, MESSAGE[action])
    events = len(world.store.events(run_id))
    views = len(world.shown_to("views", person))
    world.play("click", {"user": person, "run": run_id, "action": f"oob:{action.value}"})
    (view,) = world.new("views", person, views)
    blank = world.submit(person, view["id"], "   ")
    assert (blank["closed"], blank["response_action"]) == (False, "errors"), blank
    time.sleep(0.2)
    assert len(world.store.events(run_id)) == events  # not decided, not refused: not asked
    told = len(world.shown_to("ephemeral", person))
    assert world.submit(person, view["id"], REASON)["closed"] is True
    assert world.new("ephemeral", person, told)[0]["text"] == DONE[action].format(run=run_id)
    world.used(state, MESSAGE[action])
