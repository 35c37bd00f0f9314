"""The audit log is a hash chain: a row changed, removed or inserted behind oob's back is named.

Each test tampers with the database directly (SQL on the `oob_events` table), on SQLite and on
PostgreSQL, as someone with write access to the database would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from oob.audit import verify, verify_store
from oob.policy import Action
from oob.states import RunState
from oob.store import RunRequest, Source, Store, event_hash
from tests.conftest import RunCli
from tests.support import behind_oobs_back, preset_plan


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'oob.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    yield s
    s.close()


def _request(pipeline: str = "cms") -> RunRequest:
    return RunRequest(
        pipeline=pipeline,
        requester="alice",
        fix_sha="a" * 40,
        symptoms="login fails",
        cause="a bad cert",
        fix_summary="renew it",
    )


def _two_runs(store: Store) -> tuple[str, str]:
    """Two runs whose events interleave, so that a run's event ids have gaps to insert in."""
    one = store.create_run(_request("cms"), preset_plan()).id
    two = store.create_run(_request("other"), preset_plan(), run_id="other-run").id
    for i in range(4):
        for run_id in (one, two):
            store.append_event(
                run_id,
                actor="worker",
                source=Source.WORKER,
                kind="step.done",
                summary=f"step {i} of {run_id}",
                details={"i": i, "nested": {"b": [1, 2.5, None], "a": "é"}},
            )
    store.decide(one, Action.APPROVE, "bob", Source.CLI)  # refused or accepted: audited
    return one, two


def _ids(store: Store, run_id: str) -> list[int]:
    return [int(r["id"]) for r in store.chained_rows(run_id)]


def _sql(store: Store, statement: str, **params: Any) -> None:
    with behind_oobs_back(store) as conn:
        conn.execute(sa.text(statement), params)


def test_an_untouched_store_verifies(store: Store) -> None:
    one, _ = _two_runs(store)
    verdicts = verify_store(store)
    assert [v.ok for v in verdicts] == [True, True, True]
    assert verify(store, one).events == len(store.events(one)) == 5
    assert verify(store, one).head == store.chain_head(one)[1]


def test_a_changed_summary_is_named(store: Store) -> None:
    one, _ = _two_runs(store)
    victim = _ids(store, one)[2]
    _sql(store, "UPDATE oob_events SET summary = 'nothing happened' WHERE id = :id", id=victim)
    verdict = verify(store, one)
    assert not verdict.ok
    assert verdict.event_id == victim
    assert "changed" in (verdict.problem or "")


@pytest.mark.parametrize("column", ["actor", "kind", "at", "details", "hash"])
def test_any_changed_column_is_named(store: Store, column: str) -> None:
    one, _ = _two_runs(store)
    victim = _ids(store, one)[1]
    values = {
        "actor": "'mallory'",
        "kind": "'run.note'",
        "at": "created_at",  # any other time
        "details": "details",  # replaced below
        "hash": "'" + "0" * 64 + "'",
    }
    with behind_oobs_back(store) as conn:
        if column == "details":
            table = sa.Table("oob_events", sa.MetaData(), autoload_with=conn)
            conn.execute(table.update().where(table.c.id == victim).values(details={"i": 99}))
        elif column == "at":
            conn.execute(
                sa.text(
                    "UPDATE oob_events SET at = (SELECT created_at FROM oob_runs WHERE id = :r) "
                    "WHERE id = :id"
                ),
                {"r": one, "id": victim},
            )
        else:
            conn.execute(
                sa.text(f"UPDATE oob_events SET {column} = {values[column]} WHERE id = :id"),
                {"id": victim},
            )
    verdict = verify(store, one)
    assert not verdict.ok
    assert verdict.event_id == victim


def test_a_removed_event_is_named_by_its_successor(store: Store) -> None:
    one, two = _two_runs(store)
    ids = _ids(store, one)
    _sql(store, "DELETE FROM oob_events WHERE id = :id", id=ids[2])
    verdict = verify(store, one)
    assert verdict.event_id == ids[3]
    assert "removed" in (verdict.problem or "")
    assert verify(store, two).ok  # the other run's chain is its own


def test_removing_the_first_event_is_seen(store: Store) -> None:
    one, _ = _two_runs(store)
    ids = _ids(store, one)
    _sql(store, "DELETE FROM oob_events WHERE id = :id", id=ids[0])
    assert verify(store, one).event_id == ids[1]


def _insert_copy(store: Store, run_id: str, new_id: int, *, rehash: bool) -> None:
    """Insert an event at `new_id` (a gap in the run's ids), hashed on its predecessor if
    `rehash` (an attacker who knows the scheme), else with no hash at all."""
    rows = store.chained_rows(run_id)
    before = [r for r in rows if r["id"] < new_id][-1]
    fake = dict(before)
    fake.update(id=new_id, key=None, summary="approved by the director", actor="director")
    fake["prev_hash"] = before["hash"] if rehash else None
    fake["hash"] = event_hash(fake) if rehash else None
    with behind_oobs_back(store) as conn:
        table = sa.Table("oob_events", sa.MetaData(), autoload_with=conn)
        conn.execute(table.insert().values(**fake))


@pytest.mark.parametrize("rehash", [False, True])
def test_an_inserted_event_is_named(store: Store, rehash: bool) -> None:
    one, two = _two_runs(store)
    # The other run's event between two of this run's events: its id is free once deleted.
    ids_one, ids_two = _ids(store, one), _ids(store, two)
    gap = next(i for i in ids_two if ids_one[1] < i < ids_one[2])
    _sql(store, "UPDATE oob_events SET id = :new WHERE id = :id", new=gap + 100000, id=gap)
    _insert_copy(store, one, gap, rehash=rehash)
    verdict = verify(store, one)
    assert verdict.event_id == gap
    assert "inserted" in (verdict.problem or "")


def test_an_event_appended_without_its_hash_is_named(store: Store) -> None:
    one, _ = _two_runs(store)
    _sql(
        store,
        "INSERT INTO oob_events (run_id, at, actor, source, kind, summary, details) "
        "VALUES (:r, (SELECT created_at FROM oob_runs WHERE id = :r2), 'x', 'cli', 'k', 's', '{}')",
        r=one,
        r2=one,
    )
    verdict = verify(store, one)
    assert not verdict.ok
    assert verdict.event_id == _ids(store, one)[-1]


def test_events_removed_from_the_end_are_seen_by_the_recorded_head(store: Store) -> None:
    one, _ = _two_runs(store)
    store.transition(one, RunState.CLOSING)
    store.append_event(one, actor="w", source=Source.WORKER, kind="run.ended", summary="ended")
    store.transition(one, RunState.CANCELLED)
    audit = store.run(one).facts["audit"]
    assert audit == {"events": 6, "head": store.chain_head(one)[1]}
    # Events after the outcome (the postmortem's) are allowed; the head stays in the chain.
    store.append_event(one, actor="w", source=Source.WORKER, kind="pm", summary="drafted")
    assert verify(store, one).ok
    last_two = _ids(store, one)[-2:]
    _sql(store, "DELETE FROM oob_events WHERE id IN (:a, :b)", a=last_two[0], b=last_two[1])
    verdict = verify(store, one)
    assert not verdict.ok
    assert "removed" in (verdict.problem or "")


def test_concurrent_writers_keep_one_chain(store: Store) -> None:
    one = store.create_run(_request(), preset_plan()).id

    def write(name: str) -> None:
        for i in range(15):
            store.append_event(
                one, actor=name, source=Source.WORKER, kind="k", summary=f"{name} {i}"
            )

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = verify(store, one)
    assert verdict.ok, verdict.problem
    assert verdict.chained == 45


def test_an_old_store_keeps_working_and_its_old_events_verify_as_unchained(url: str) -> None:
    old = Store(url)
    run_id = old.create_run(_request(), preset_plan()).id
    old.append_event(run_id, actor="a", source=Source.CLI, kind="k", summary="old one")
    old.append_event(run_id, actor="a", source=Source.CLI, kind="k", summary="old two")
    _sql(old, "ALTER TABLE oob_events DROP COLUMN prev_hash")
    _sql(old, "ALTER TABLE oob_events DROP COLUMN hash")
    old.close()

    store = Store(url)  # migrates
    try:
        store.append_event(run_id, actor="a", source=Source.CLI, kind="k", summary="new one")
        store.append_event(run_id, actor="a", source=Source.CLI, kind="k", summary="new two")
        verdict = verify(store, run_id)
        assert verdict.ok, verdict.problem
        assert (verdict.events, verdict.chained) == (4, 2)
        first_chained = _ids(store, run_id)[2]
        assert f"2 unchained before event #{first_chained}" in verdict.line()
        _sql(store, "UPDATE oob_events SET summary = 'x' WHERE id = :id", id=first_chained)
        assert verify(store, run_id).event_id == first_chained
    finally:
        store.close()


def test_oob_audit_verify(
    run_cli: RunCli, store: Store, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    one, two = _two_runs(store)
    result = run_cli("audit", "verify")
    assert result.code == 0, result.err
    assert f"run {one}: ok, 5 events, chain head " in result.out
    assert f"run {two}: ok" in result.out
    victim = _ids(store, one)[3]
    _sql(store, "UPDATE oob_events SET actor = 'mallory' WHERE id = :id", id=victim)
    result = run_cli("audit", "verify")
    assert result.code == 1
    assert f"run {one}: TAMPERED: event #{victim}" in result.out
    assert run_cli("audit", "verify", two).code == 0
    assert run_cli("audit", "verify", one).code == 1
    missing = run_cli("audit", "verify", "no-such-run")
    assert missing.code != 0
    assert "no run" in missing.err
    assert "Traceback" not in missing.err


def test_the_postmortem_draft_cites_the_chain_head(store: Store, preset_text: str) -> None:
    from oob.config import parse
    from oob.postmortem.publish import build_draft

    one, _ = _two_runs(store)
    count, head = store.chain_head(one)
    assert head is not None
    draft = build_draft(store, parse(preset_text, Path("oob.toml")), one)
    assert f"Audit log: {count} events, chain head `{head}`" in draft.text
