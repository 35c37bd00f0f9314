"""The audit log's proof: each run's events form a hash chain (`oob.store.event_hash`).

`verify` walks a chain in id order and names the first event that was changed, removed or
inserted. An event changed in place no longer hashes to its `hash`; an event removed leaves
its successor pointing at a hash the chain does not hold; an event inserted is one its
successor skips. Events written before the store had the chain (no hash) verify as
"unchained", as long as they all come before the first chained one. The head recorded with
the run's outcome (`facts["audit"]`) must still be in the chain, at the same position: that
catches events removed from the end.

The chain shows edits made by someone who did not recompute the hashes after them; the head
cited in the postmortem pull request (outside the database) shows edits by anyone who did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oob.store import event_hash

if TYPE_CHECKING:
    from oob.store import Store

__all__ = ["Verdict", "verify", "verify_rows", "verify_store"]


@dataclass(frozen=True)
class Verdict:
    """What `verify` found in one chain."""

    run_id: str | None
    events: int  # every event of the chain
    chained: int  # those with a hash
    head: str | None
    problem: str | None = None  # the first change, removal or insertion, in words
    event_id: int | None = None  # the event it names
    unchained_before: int | None = None  # old events without hashes precede this event id

    @property
    def ok(self) -> bool:
        return self.problem is None

    def line(self) -> str:
        name = f"run {self.run_id}" if self.run_id else "events outside runs"
        if self.problem:
            return f"{name}: TAMPERED: {self.problem}"
        text = f"{name}: ok, {self.events} events, chain head {self.head or '-'}"
        unchained = self.events - self.chained
        if unchained:
            before = f" before event #{self.unchained_before}" if self.unchained_before else ""
            text += f" ({unchained} unchained{before}: written before the chain existed)"
        return text


def _first_break(rows: Sequence[Mapping[str, Any]]) -> tuple[str, int] | None:
    """The first change, removal or insertion in `rows`, with the event it names."""
    prev: str | None = None
    started = False  # a chained event was seen: from then on, every event must be chained
    seen: dict[str, int] = {}  # hash -> its position in rows
    for i, row in enumerate(rows):
        eid, kind = int(row["id"]), row["kind"]
        if row["hash"] is None:
            if started:
                return f"event #{eid} ({kind}) has no hash: it was inserted", eid
            continue
        started = True
        intact = event_hash(row) == row["hash"]
        if intact and row["prev_hash"] == prev:
            prev = row["hash"]
            seen[row["hash"]] = i
            continue
        following = rows[i + 1] if i + 1 < len(rows) else None
        if following is not None and following["prev_hash"] == prev:
            return f"event #{eid} ({kind}) was inserted: the next one skips it", eid
        if not intact:
            return f"event #{eid} ({kind}) was changed: its hash does not match", eid
        if row["prev_hash"] in seen:  # several events inserted before it: name the first
            first = rows[seen[row["prev_hash"]] + 1]
            return f"event #{first['id']} ({first['kind']}) was inserted", int(first["id"])
        return f"an event before #{eid} ({kind}) was removed: the hash it follows is gone", eid
    return None


def _head_break(rows: Sequence[Mapping[str, Any]], recorded: Mapping[str, Any]) -> str | None:
    """Whether the head recorded with the outcome is still where it was."""
    head, count = str(recorded["head"]), int(recorded.get("events", 0))
    position = next((i for i, r in enumerate(rows) if r["hash"] == head), None)
    if position is None:
        return (
            f"the head recorded with the outcome ({head[:12]}…, event {count}) is gone: "
            "events at the end were removed"
        )
    if position + 1 != count:
        return (
            f"the head recorded with the outcome was event {count}; it is now event "
            f"{position + 1}: events before it were removed or inserted"
        )
    return None


def verify_rows(
    run_id: str | None,
    rows: Sequence[Mapping[str, Any]],
    recorded: Mapping[str, Any] | None = None,
) -> Verdict:
    """Check one chain's `rows` (in id order) and, if given, the head recorded with the outcome
    (`{"events": N, "head": hash}`)."""
    chained = [r for r in rows if r["hash"] is not None]
    broken = _first_break(rows)
    if broken is None and recorded and recorded.get("head"):
        problem = _head_break(rows, recorded)
        broken = None if problem is None else (problem, -1)
    if broken is not None:
        problem, eid = broken
        return Verdict(run_id, len(rows), len(chained), None, problem, eid if eid >= 0 else None)
    first = int(chained[0]["id"]) if chained and chained[0] is not rows[0] else None
    head = chained[-1]["hash"] if chained else None
    return Verdict(run_id, len(rows), len(chained), head, None, None, first)


def verify(store: Store, run_id: str | None) -> Verdict:
    """Check the chain of run `run_id` (of the events outside runs when None)."""
    recorded = None
    if run_id is not None:
        recorded = store.run(run_id).facts.get("audit")
    return verify_rows(run_id, store.chained_rows(run_id), recorded)


def verify_store(store: Store) -> list[Verdict]:
    """Check every run's chain and the chain of the events outside runs."""
    return [verify(store, run_id) for run_id in store.run_ids()] + [verify(store, None)]
