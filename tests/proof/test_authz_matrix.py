"""Every command x every role (and none, anonymous) x every run state x reason or none,
through the store's one decision transaction, as the policy's rules say; every refusal audited.

The web and the CLI are sampled with real requests and real command lines in
`test_authz_ways_in.py`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from oob.audit import verify
from oob.events import KIND_COMMAND_REFUSED
from oob.policy import RULES, Action
from oob.states import RunState
from oob.store import RunRequest, Source, Store
from tests.proof.authz import ACTORS, REQUESTER, ROLES, RUN_ACTIONS, Cell, cells
from tests.support import behind_oobs_back, preset_plan


def plan() -> dict[str, object]:
    frozen = preset_plan()
    roles = dict(frozen["roles"])  # type: ignore[call-overload]
    roles.update(ROLES, allow_self_approval=False, allow_asserted_identity=False)
    return {**frozen, "roles": roles}


class Runs:
    """Runs in a given state; a run is used until a command on it is accepted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.plan = plan()
        self.fresh: dict[RunState, str] = {}
        self.made = 0

    def get(self, state: RunState) -> str:
        if state not in self.fresh:
            self.made += 1
            run = self.store.create_run(
                RunRequest(
                    pipeline=f"p{self.made}",
                    requester=REQUESTER,
                    fix_sha="c" * 40,
                    symptoms="s",
                    cause="c",
                    fix_summary="f",
                ),
                self.plan,
            )
            values: dict[str, object] = {"state": state.value}
            if state.terminal:
                values |= {
                    "outcome": state.value,
                    "active_pipeline": None,
                    "ended_at": run.created_at,
                }
            with behind_oobs_back(self.store) as conn:
                table = sa.Table("oob_runs", sa.MetaData(), autoload_with=conn)
                conn.execute(table.update().where(table.c.id == run.id).values(**values))
            self.fresh[state] = run.id
        return self.fresh[state]

    def used(self, state: RunState) -> None:
        del self.fresh[state]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}")
    yield s
    s.close()


def test_every_cell_answers_as_the_rules_say_and_every_refusal_is_audited(store: Store) -> None:
    runs = Runs(store)
    tally: Counter[tuple[str, bool]] = Counter()
    wrong = []
    for cell in cells():
        run_id = runs.get(cell.state)
        before = store.chain_head(run_id)[0]
        decision = store.decide(run_id, cell.action, cell.actor, Source.CLI, cell.text)
        tally[cell.action.value, decision.accepted] += 1
        if decision.accepted != cell.expected:
            wrong.append(f"{cell}: {decision.reason or 'accepted'}")
            continue
        events = store.events(run_id)[before:]
        rule = RULES[cell.action]
        if decision.accepted:
            kinds = [] if rule.event_kind is None else [rule.event_kind]
            assert [e.kind for e in events] == kinds, cell
            if rule.event_kind is not None:
                runs.used(cell.state)  # a decision was taken: the next cell needs a fresh run
        else:
            assert [e.kind for e in events] == [KIND_COMMAND_REFUSED], cell
            assert events[0].details["command"] == cell.action.value
            assert events[0].actor == cell.actor
            assert decision.reason in events[0].summary
    assert wrong == []
    total = sum(tally.values())
    assert total == len(RUN_ACTIONS) * 7 * len(RunState) * 2
    # Every action is allowed somewhere and refused somewhere: no rule is vacuous.
    for action in RUN_ACTIONS:
        assert tally[action.value, True] > 0, action
        assert tally[action.value, False] > 0, action


@pytest.mark.parametrize("state", [RunState.AWAITING_APPROVAL, RunState.VERIFYING])
def test_a_decision_taken_refuses_the_second_one_audited(store: Store, state: RunState) -> None:
    runs = Runs(store)
    run_id = runs.get(state)
    first, second = (
        (Action.APPROVE, Action.DENY)
        if state is RunState.AWAITING_APPROVAL
        else (Action.CONFIRM_FIX, Action.REJECT_FIX)
    )
    actor = "abe" if state is RunState.AWAITING_APPROVAL else "fay"
    assert store.decide(run_id, first, actor, Source.WEB, "ok").accepted
    late = store.decide(run_id, second, actor, Source.CLI, "no")
    assert not late.accepted
    assert late.event is not None
    assert late.event.kind == KIND_COMMAND_REFUSED


def test_a_refused_deploy_is_audited_outside_runs(store: Store, preset_text: str) -> None:
    """`deploy` has no run yet: its refusals go to the audit log outside runs."""
    from oob.commands import Control
    from oob.config import parse
    from oob.errors import PermissionDenied

    text = preset_text.replace(
        'deployers = ["cms-oncall"]', f"deployers = {json.dumps(ROLES['deployers'])}"
    )
    config = parse(text, Path("oob.toml"))
    control = Control(store, store.url)
    for who, actor in ACTORS.items():
        cell = Cell(Action.DEPLOY, who, actor, RunState.AWAITING_APPROVAL, "")
        if cell.expected:
            continue  # an accepted deploy queues a DBOS workflow: tests/procedure covers it
        before = len(store.events(None))
        request = RunRequest(
            pipeline="va-cms",
            requester=actor,
            fix_sha="c" * 40,
            symptoms="s",
            cause="c",
            fix_summary="f",
        )
        with pytest.raises(PermissionDenied):
            control.start(config, request)
        refused = store.events(None)[before:]
        assert [(e.kind, e.actor, e.details["command"]) for e in refused] == [
            (KIND_COMMAND_REFUSED, actor, "deploy")
        ]
    assert store.runs() == []
    assert verify(store, None).ok
