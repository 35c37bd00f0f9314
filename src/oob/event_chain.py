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
    import sqlalchemy as sa

    from oob.records import NewEvent


def append(conn: sa.Connection, events: sa.Table, new: NewEvent, now: datetime) -> int:
    """Insert `new` at the head of its chain (at `now` unless it names its time); its id."""
    run_id = new.run_id
    _lock(conn, run_id)
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
        "prev_hash": _last_hash(conn, events, run_id),
    }
    values["hash"] = event_hash(values)
    inserted = conn.execute(events.insert().values(**values)).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def head(conn: sa.Connection, events: sa.Table, run_id: str | None) -> tuple[int, str | None]:
    """How many events the chain of `run_id` holds, and its last one's hash."""
    import sqlalchemy as sa

    count = conn.execute(
        sa.select(sa.func.count()).select_from(events).where(chain_of(events, run_id))
    ).scalar_one()
    return int(count), _last_hash(conn, events, run_id)


def chain_of(events: sa.Table, run_id: str | None) -> sa.ColumnElement[bool]:
    """The events of run `run_id`'s chain (those outside runs when None)."""
    column = events.c.run_id
    return column.is_(None) if run_id is None else column == run_id


def _lock(conn: sa.Connection, run_id: str | None) -> None:
    # SQLite: BEGIN IMMEDIATE already holds the one write lock. PostgreSQL: a transaction
    # lock per chain, so two writers of one run read the same head one after the other.
    if conn.dialect.name == "postgresql":
        import sqlalchemy as sa

        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:chain, 7))"),
            {"chain": f"oob_events:{run_id or ''}"},
        )


def _last_hash(conn: sa.Connection, events: sa.Table, run_id: str | None) -> str | None:
    import sqlalchemy as sa

    last = conn.execute(
        sa.select(events.c.hash)
        .where(chain_of(events, run_id))
        .order_by(events.c.id.desc())
        .limit(1)
    ).first()
    return None if last is None else last.hash
