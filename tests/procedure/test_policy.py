"""One policy, decided atomically in the store: who may do what, in which state, and exactly
one of racing decisions wins (issue: commands and endings)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from oob.commands import Control, Refused
from oob.errors import PermissionDenied
from oob.policy import Action, readme_table
from oob.states import RunState
from oob.store import RunRequest, Store
from tests.support import preset_plan


def plan(**roles: object) -> dict[str, object]:
    frozen = preset_plan()
    frozen["roles"] = {
        "deployers": ["operator"],
        "approvers": ["po", "po2"],
        "status_overriders": ["operator"],
        "fix_confirmers": ["helpdesk"],
        "allow_self_approval": False,
        "allow_asserted_identity": True,
        **roles,
    }
    return frozen


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    s = Store(url)
    yield s
    s.close()


def new_run(store: Store, **roles: object) -> str:
    request = RunRequest(
        pipeline="va-cms",
        requester="operator",
        fix_sha="f" * 40,
        symptoms="editors cannot log in",
        cause="bad module update",
        fix_summary="revert it",
    )
    return store.create_run(request, plan(**roles)).id


def race(store: Store, run_id: str, moves: list[tuple[Action, str, str]]) -> list[bool]:
    """Take every move at once, from its own thread and connection."""
    barrier = threading.Barrier(len(moves))
    answers: list[bool] = [False] * len(moves)

    def take(i: int, action: Action, actor: str, text: str) -> None:
        barrier.wait()
        answers[i] = store.decide(run_id, action, actor, "cli", text).accepted

    threads = [threading.Thread(target=take, args=(i, *m)) for i, m in enumerate(moves)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_twenty_parallel_approvals_exactly_one_wins_and_every_refusal_is_audited(
    store: Store,
) -> None:
    run_id = new_run(store)
    answers = race(store, run_id, [(Action.APPROVE, "po", "")] * 20)
    assert answers.count(True) == 1
    kinds = [e.kind for e in store.events(run_id)]
    assert kinds.count("approval.approved") == 1
    assert kinds.count("command.refused") == 19
    refused = next(e for e in store.events(run_id) if e.kind == "command.refused")
    assert "po approved this run at" in refused.summary


def test_approve_and_deny_at_the_same_moment_one_wins_the_other_is_told(store: Store) -> None:
    run_id = new_run(store)
    answers = race(store, run_id, [(Action.APPROVE, "po", ""), (Action.DENY, "po2", "no")])
    assert sorted(answers) == [False, True]
    decided = [e for e in store.events(run_id) if e.kind.startswith("approval.")]
    assert len(decided) == 1
    refused = next(e for e in store.events(run_id) if e.kind == "command.refused")
    winner = decided[0].actor
    assert f"{winner} {'approved' if winner == 'po' else 'denied'} this run" in refused.summary


def test_a_cancel_and_the_release_pick_are_decided_in_one_order(store: Store) -> None:
    from oob.store import CancelPending

    run_id = new_run(store)
    for state in (RunState.PREFLIGHT, RunState.NOTIFYING, RunState.RELEASE_WAIT):
        store.transition(run_id, state)
    assert store.decide(run_id, Action.CANCEL, "operator", "cli", "wrong fix").accepted
    with pytest.raises(CancelPending):
        store.transition(run_id, RunState.RELEASING)
    store.transition(run_id, RunState.CLOSING)  # the workflow acts on the cancel


def test_roles_are_those_of_the_runs_pipeline_not_the_callers_config(store: Store) -> None:
    # The run's plan names po and po2 as approvers; mallory is an approver in no plan of this
    # run, whatever config she loads: the store asks the run's own plan.
    run_id = new_run(store)
    control = Control(store, "sqlite:///unused")
    with pytest.raises(PermissionDenied, match="mallory may not approve a deploy"):
        control.approve(run_id, "mallory")
    refused = store.events(run_id)[-1]
    assert refused.kind == "command.refused"
    assert refused.actor == "mallory"


def test_asserted_identities_only_where_the_runs_plan_allows_them(store: Store) -> None:
    run_id = new_run(store, allow_asserted_identity=False)
    decision = store.decide(run_id, Action.APPROVE, "po", "cli", "", asserted=True)
    assert not decision.accepted
    assert "does not accept --as" in decision.reason


def test_a_fix_is_confirmed_only_during_verification(store: Store) -> None:
    run_id = new_run(store)
    early = store.decide(run_id, Action.CONFIRM_FIX, "helpdesk", "cli")
    assert not early.accepted
    assert "not in production yet" in early.reason
    assert store.taken(run_id) == {}  # nothing counts later
    for state in (
        RunState.PREFLIGHT,
        RunState.NOTIFYING,
        RunState.RELEASE_WAIT,
        RunState.RELEASING,
        RunState.DEPLOYING,
        RunState.VERIFYING,
    ):
        store.transition(run_id, state)
    answers = race(
        store,
        run_id,
        [(Action.CONFIRM_FIX, "helpdesk", "works"), (Action.REJECT_FIX, "helpdesk", "broken")],
    )
    assert sorted(answers) == [False, True]


def test_refusals_name_what_to_do(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}")
    run_id = new_run(store, approvers=["po", "operator"])
    control = Control(store, "sqlite:///unused")
    with pytest.raises(PermissionDenied, match="requested this run and cannot approve"):
        control.approve(run_id, "operator")
    with pytest.raises(Refused, match="needs a reason") as refused:
        control.deny(run_id, "po", "  ")
    assert refused.value.exit_code == 2
    store.close()


def test_readme_table_says_what_the_policy_decides() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for command, who, _when in readme_table():
        if command in ("deploy", "override-status"):  # described in their own sections
            continue
        row = next(
            (line for line in readme.splitlines() if line.startswith(f"| `oob {command}")), None
        )
        assert row is not None, f"README has no row for oob {command}"
        assert row.split("|")[2].strip() == who, row
