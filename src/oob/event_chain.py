"""The timeline's hash chain, written inside the store's transactions.

Each run's events, and the events outside runs, form one chain: an event carries the hash of
the one before it (`prev_hash`) and its own (`hash`, `oob.schema.event_hash`). `append` reads
the chain's head and writes after it with the chain locked, so that two writers of one run
never both follow the same event. `oob.audit` verifies what this writes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oob.schema import event_hash, utc
from oob.states import Source

if TYPE_CHECKING:
    from oob.database import Tx
    from oob.records import NewEvent


def append(tx: Tx, new: NewEvent, now: datetime) -> int:
    """Insert `new` at the head of its chain (at `now` unless it names its time); its id."""
    run_id = new.run_id
    _lock(tx, run_id)
    values: dict[str, Any] = {
        "run_id": run_id,
        "key": new.key,
        # Stored in UTC (SQLite keeps no zone), so that the hash reads back the same time.
        "at": utc(new.at or now),
        "actor": new.actor,
        "source": Source(new.source).value,
        "kind": new.kind,
        "summary": new.summary,
        # A round trip through json fails here, loudly, rather than in the driver.
        "details": json.loads(json.dumps(dict(new.details or {}))),
        "prev_hash": _last_hash(tx, run_id),
    }
    values["hash"] = event_hash(values)
    return int(tx.insert("oob_events", values, returning="id"))


def head(tx: Tx, run_id: str | None) -> tuple[int, str | None]:
    """How many events the chain of `run_id` holds, and its last one's hash."""
    where, params = chain_of(run_id)
    row = tx.first(f"SELECT count(*) AS n FROM oob_events WHERE {where}", *params)
    assert row is not None
    return int(row["n"]), _last_hash(tx, run_id)


def chain_of(run_id: str | None) -> tuple[str, tuple[Any, ...]]:
    """The condition (and its parameters) of run `run_id`'s chain (outside runs when None)."""
    return ("run_id IS NULL", ()) if run_id is None else ("run_id = ?", (run_id,))


def _lock(tx: Tx, run_id: str | None) -> None:
    # SQLite: BEGIN IMMEDIATE already holds the one write lock. PostgreSQL: a transaction
    # lock per chain, so two writers of one run read the same head one after the other.
    if tx.dialect == "postgresql":
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(?, 7))", f"oob_events:{run_id or ''}"
        )


def _last_hash(tx: Tx, run_id: str | None) -> str | None:
    where, params = chain_of(run_id)
    last = tx.first(f"SELECT hash FROM oob_events WHERE {where} ORDER BY id DESC LIMIT 1", *params)
    return None if last is None else last["hash"]
