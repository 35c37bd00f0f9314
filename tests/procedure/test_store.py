"""The run store: one active run per pipeline, declared transitions, an append-only timeline."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oob.errors import RunNotFound
from oob.states import OUTCOMES, TRANSITIONS
from oob.store import (
    BadTransition,
    RunBusy,
    RunRequest,
    RunState,
    Source,
    Store,
    database_url,
    sqlalchemy_url,
)
from tests.support import preset_plan

PLAN = preset_plan()


class StepClock:
    """A clock that moves one second per reading."""

    def __init__(self) -> None:
        self.t = datetime(2026, 6, 23, 14, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.t += timedelta(seconds=1)
        return self.t


def a_request(pipeline: str = "va-cms", requester: str = "operator") -> RunRequest:
    return RunRequest(
        pipeline=pipeline,
        requester=requester,
        fix_sha="a" * 40,
        symptoms="editors cannot log in",
        cause="bad module update",
        fix_summary="revert the module",
        affects="all editors",
        release_wait_minutes=15,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    s = Store(url, clock=StepClock())
    yield s
    s.close()


def test_database_url_follows_oob_home_and_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    assert database_url() == f"sqlite:///{tmp_path / 'oob.sqlite'}"
    monkeypatch.setenv("OOB_DATABASE_URL", "postgresql://u@h:5432/d")
    assert database_url() == "postgresql://u@h:5432/d"
    assert sqlalchemy_url("postgresql://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"


def test_second_active_run_of_a_pipeline_is_refused_naming_the_holder(store: Store) -> None:
    first = store.create_run(a_request(requester="alice"), PLAN, run_id="r1")
    with pytest.raises(RunBusy) as err:
        store.create_run(a_request(requester="bob"), PLAN, run_id="r2")
    assert "r1" in err.value.message
    assert "alice" in err.value.message
    assert first.created_at.strftime("%Y-%m-%d %H:%M") in err.value.message
    # Another pipeline is not blocked.
    store.create_run(a_request(pipeline="other"), PLAN, run_id="r3")


def test_ending_a_run_frees_its_pipeline(store: Store) -> None:
    store.create_run(a_request(), PLAN, run_id="r1")
    store.transition("r1", RunState.CLOSING)
    ended = store.transition("r1", RunState.DENIED)
    assert ended.outcome is RunState.DENIED
    assert ended.ended_at is not None
    assert not ended.active
    assert store.active_run("va-cms") is None
    assert store.create_run(a_request(), PLAN, run_id="r2").active


def test_transitions_are_checked(store: Store) -> None:
    store.create_run(a_request(), PLAN, run_id="r1")
    with pytest.raises(BadTransition):
        store.transition("r1", RunState.DEPLOYING)
    with pytest.raises(BadTransition):
        store.transition("r1", RunState.RESOLVED)
    # Repeating the current state (a step retried after a crash) is harmless.
    assert store.transition("r1", RunState.AWAITING_APPROVAL).state is RunState.AWAITING_APPROVAL
    for state in (
        RunState.PREFLIGHT,
        RunState.NOTIFYING,
        RunState.RELEASE_WAIT,
        RunState.RELEASING,
        RunState.DEPLOYING,
        RunState.VERIFYING,
        RunState.CLOSING,
        RunState.RESOLVED,
    ):
        assert store.transition("r1", state).state is state
    with pytest.raises(BadTransition):
        store.transition("r1", RunState.CLOSING)


def test_outcomes_are_exactly_the_terminal_states() -> None:
    assert {s for s in RunState if not TRANSITIONS[s]} == set(OUTCOMES)
    assert {s.value for s in OUTCOMES} == {
        "resolved",
        "cancelled",
        "denied",
        "release_mismatch",
        "deploy_failed",
        "fix_not_verified",
        "failed",
    }


def test_unknown_run_is_run_not_found(store: Store) -> None:
    with pytest.raises(RunNotFound):
        store.run("nope")


def test_events_are_ordered_keyed_and_audit_log_has_no_run(store: Store) -> None:
    store.create_run(a_request(), PLAN, run_id="r1")
    e1 = store.append_event(
        "r1",
        actor="operator",
        source=Source.CLI,
        kind="run.requested",
        summary="asked",
        details={"fix": "a" * 7},
    )
    again = store.append_event(
        "r1",
        actor="worker",
        source=Source.WORKER,
        kind="message.posted",
        summary="posted",
        key="k1",
    )
    dup = store.append_event(
        "r1",
        actor="worker",
        source=Source.WORKER,
        kind="message.posted",
        summary="posted",
        key="k1",
    )
    audit = store.append_event(
        None,
        actor="operator",
        source="cli",
        kind="status.override",
        summary="cypress forced",
    )
    assert dup == again
    assert [e.id for e in store.events("r1")] == [e1.id, again.id]
    assert store.events("r1", after=e1.id) == [again]
    assert store.events(None) == [audit]
    assert e1.at.tzinfo is UTC
    assert e1.details == {"fix": "aaaaaaa"}


def test_facts_merge(store: Store) -> None:
    store.create_run(a_request(), PLAN, run_id="r1")
    store.record_facts("r1", build=3)
    assert store.record_facts("r1", sha="b" * 40).facts == {"build": 3, "sha": "b" * 40}


def test_workers_beat_and_are_forgotten(store: Store) -> None:
    store.beat("host:1", host="host", pid=1, version="0.1.0")
    first = store.workers()[0]
    store.beat("host:1", host="host", pid=1, version="0.1.0")
    again = store.workers()[0]
    assert again.started_at == first.started_at
    assert again.heartbeat_at > first.heartbeat_at
    store.forget_worker("host:1")
    assert store.workers() == []


def test_an_event_key_taken_by_another_kind_is_a_loud_error(store: Store) -> None:
    from oob.errors import ProcedureError

    store.create_run(a_request(), PLAN, run_id="r1")
    store.append_event("r1", actor="oob", source=Source.WORKER, kind="a", summary="s", key="k")
    again = store.append_event(
        "r1", actor="oob", source=Source.WORKER, kind="a", summary="s", key="k"
    )
    assert again.kind == "a"
    with pytest.raises(ProcedureError, match="taken by a a event, not b"):
        store.append_event("r1", actor="oob", source=Source.WORKER, kind="b", summary="s", key="k")


@pytest.mark.postgres
def test_an_event_is_appended_while_a_decision_holds_its_run(postgres_url: str) -> None:
    """A decision locks its run's row, then the run's chain; a worker appending an event holds
    the chain while its insert checks that the run exists (a key-share lock on the same row).
    The decision's row lock must not block that check: with FOR UPDATE the two deadlocked on
    PostgreSQL (bench/fleet.py, 10 runs on 4 workers: DeadlockDetected in Control.confirm_fix)."""
    store = Store(postgres_url, clock=StepClock())
    store.create_run(a_request(), PLAN, run_id="r1")
    appended = threading.Event()

    def append() -> None:
        store.append_event("r1", actor="oob", source=Source.WORKER, kind="note", summary="x")
        appended.set()

    thread = threading.Thread(target=append)
    with store.database.write() as tx:
        store._row(tx, "r1", lock=True)  # as decide() holds it
        thread.start()
        appended.wait(30)
        held = appended.is_set()
    thread.join()
    store.close()
    assert held, "the append waited for the decision's lock on the run's row"
