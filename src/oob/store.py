"""The run store: oob's own tables beside DBOS's system database, in the same database.

One URL configures both (`database_url`): a SQLite file under `OOB_HOME` (default: the per-user
state directory) or the PostgreSQL database `OOB_DATABASE_URL` names. DBOS keeps the workflow
checkpoints; this module keeps what people read and audit:

- `oob_runs`: one row per out-of-band deploy, with its request (fix, symptoms, cause, ...), its
  state and, once ended, its outcome. At most one active run per pipeline, enforced by the
  database itself (a unique column that is NULL once a run ends), so two `oob deploy` racing on
  two machines cannot both win.
- `oob_events`: the append-only timeline and audit log. Every row has a UTC time with its date,
  the actor, the source (cli, web, worker, simulated), a kind, a one-line summary and JSON
  details. The run id is nullable, so that actions outside a run (an `oob override-status`
  before a deploy) are audited too. Events written from a workflow step carry a `key`, so that
  a step run again after a crash does not write its event twice.
  Each run's events (and the events outside runs) form a hash chain: an event carries the hash
  of the one before it (`prev_hash`) and its own (`hash`, over its canonical JSON and
  `prev_hash`), computed in the transaction that inserts it, with the chain's head locked
  (`oob.event_chain`). The head is recorded with the outcome (`facts["audit"]`);
  `oob.audit.verify` checks the chain.

The run's life is `RunState`, whose allowed transitions are declared in `TRANSITIONS` and
checked in one place (`Store.transition`); a decision is asked of the policy in the run's
own transaction (`Store.decide`, with `oob.decisions`). Secrets never reach these tables:
callers pass summaries and details, never tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oob import event_chain
from oob.clock import Clock, SystemClock
from oob.database import Conflict
from oob.errors import ProcedureError, RunNotFound
from oob.records import (
    BadTransition,
    CancelPending,
    Decision,
    Event,
    NewEvent,
    Run,
    RunBusy,
    RunRequest,
    StoreUnavailable,
    Worker,
)
from oob.schema import (
    ENV_DATABASE_URL,
    ENV_HOME,
    SQLITE_FILE,
    database_url,
    event_hash,
    new_run_id,
    open_database,
    redact_url,
    sqlalchemy_url,
    state_dir,
    utc,
)
from oob.states import CANCELLABLE, TRANSITIONS, RunState, Source

if TYPE_CHECKING:
    from oob.database import Tx
    from oob.payload import Payload
    from oob.policy import Action, Situation, Taken, Topic

__all__ = [  # RunState and Source are re-exported: a Run carries its state, an Event its source
    "ENV_DATABASE_URL",
    "ENV_HOME",
    "SQLITE_FILE",
    "BadTransition",
    "CancelPending",
    "Decision",
    "Event",
    "Run",
    "RunBusy",
    "RunRequest",
    "RunState",
    "Source",
    "Store",
    "StoreUnavailable",
    "Worker",
    "database_url",
    "event_hash",
    "new_run_id",
    "open_store",
    "redact_url",
    "sqlalchemy_url",
    "state_dir",
]


class Store:
    """oob's tables in the database at `url`; created on first use."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self.database = open_database(url)

    def close(self) -> None:
        self.database.close()

    # --- runs ---------------------------------------------------------------------------------

    def create_run(
        self, request: RunRequest, plan: Mapping[str, Any], run_id: str | None = None
    ) -> Run:
        """Record a new active run following `plan` (the config, frozen); `RunBusy` (naming who
        holds it) if the pipeline has one."""
        now = self.clock.now()
        run_id = run_id or new_run_id(now)
        row = {
            **asdict(request),
            "id": run_id,
            "active_pipeline": request.pipeline,
            "state": RunState.AWAITING_APPROVAL.value,
            "outcome": None,
            "created_at": now,
            "updated_at": now,
            "ended_at": None,
            "facts": {},
        }
        try:
            with self.database.write() as tx:
                tx.insert("oob_runs", row)
                tx.insert("oob_plans", {"run_id": run_id, "plan": dict(plan)})
        except Conflict:
            holder = self.active_run(request.pipeline)
            if holder is None:  # it ended between our insert and this read: a retry will do
                raise RunBusy(
                    f"another run of {request.pipeline} was starting at the same moment",
                    hint="try again",
                ) from None
            raise RunBusy(
                f"run {holder.id} of {request.pipeline} is active, started by "
                f"{holder.requester} at {holder.created_at:%Y-%m-%d %H:%M} UTC "
                f"({holder.state.value})",
                hint=f"follow it with `oob watch {holder.id}`, or end it with "
                f"`oob cancel {holder.id} --reason ...`",
            ) from None
        return self.run(run_id)

    def run(self, run_id: str) -> Run:
        """The run `run_id`; `RunNotFound` if there is none."""
        with self.database.read() as tx:
            return self._run(self._row(tx, run_id))

    def runs(
        self, limit: int = 50, *, pipeline: str | None = None, active: bool = False
    ) -> list[Run]:
        """The most recent runs, newest first: of `pipeline` only, the active ones only."""
        where, params = ["1 = 1"], []
        if pipeline is not None:
            where.append("pipeline = ?")
            params.append(pipeline)
        if active:
            where.append("active_pipeline IS NOT NULL")
        query = f"SELECT * FROM oob_runs WHERE {' AND '.join(where)} ORDER BY created_at DESC"
        with self.database.read() as tx:
            return [self._run(r) for r in tx.rows(f"{query} LIMIT ?", *params, limit)]

    def active_run(self, pipeline: str) -> Run | None:
        """The active run of `pipeline`, if any."""
        with self.database.read() as tx:
            row = tx.first("SELECT * FROM oob_runs WHERE active_pipeline = ?", pipeline)
        return None if row is None else self._run(row)

    def transition(self, run_id: str, to: RunState) -> Run:
        """Move a run to `to` if its current state leads there (the one place that checks).

        Moving to the state it is already in is accepted and changes nothing, so that a
        workflow step repeated after a crash is harmless. Reaching an outcome ends the run and
        frees its pipeline for the next one. Leaving the states where a run can be cancelled
        for any but CLOSING is refused with `CancelPending` once a cancel was accepted: the
        cancel and the release job's pick are decided in one order, here.
        """
        from oob import decisions
        from oob.policy import Topic

        with self.database.write() as tx:
            row = self._row(tx, run_id, lock=True)
            current = RunState(row["state"])
            if current is to:
                return self._run(row)
            if to not in TRANSITIONS[current]:
                raise BadTransition(f"run {run_id} is {current.value}; it cannot become {to.value}")
            leaving = (
                current in CANCELLABLE and to not in CANCELLABLE and to is not RunState.CLOSING
            )
            if leaving and Topic.CANCEL in decisions.taken(tx, run_id):
                raise CancelPending(f"run {run_id} is being cancelled")
            now = self.clock.now()
            values: dict[str, Any] = {"state": to.value, "updated_at": now}
            if to.terminal:
                values |= {"outcome": to.value, "ended_at": now, "active_pipeline": None}
                count, head = event_chain.head(tx, run_id)
                values["facts"] = {
                    **(row["facts"] or {}),
                    "audit": {"events": count, "head": head},
                }
            _update_run(tx, run_id, values)
        return self.run(run_id)

    def plan(self, run_id: str) -> dict[str, Any]:
        """The plan run `run_id` follows: its config as it was when the run started."""
        with self.database.read() as tx:
            row = tx.first('SELECT "plan" FROM oob_plans WHERE run_id = ?', run_id)
        if row is None:
            raise RunNotFound(f"no plan for run {run_id!r}", hint="list the runs with `oob runs`")
        return dict(row["plan"])

    def decide(
        self,
        run_id: str,
        action: Action,
        actor: str,
        source: Source | str,
        text: str = "",
        *,
        asserted: bool = False,
    ) -> Decision:
        """Accept or refuse a person's (or the workflow's) `action` on a run, atomically.

        In one transaction, with the run's row locked: the policy is asked with the run's own
        roles (from its plan), its state and the decisions already taken; the answer is written
        to the timeline (the decision's own event, or `command.refused`). Of two racing
        decisions, exactly one is accepted; the other is refused, saying who decided first.
        """
        from oob import decisions

        with self.database.write() as tx:
            row = self._row(tx, run_id, lock=True)
            situation = decisions.situation(tx, row)
            verdict, new = decisions.ruling(
                situation, action, actor, source, text, asserted=asserted
            )
            if new is None:
                return Decision(True, "", None)  # the caller records what it does
            event = event_chain.append(tx, new, self.clock.now())
        return Decision(verdict.accepted, verdict.reason, self._event_by_id(event), verdict.by_role)

    def situation(self, run_id: str) -> Situation:
        """What the policy needs to know of run `run_id` now."""
        from oob import decisions

        with self.database.read() as tx:
            return decisions.situation(tx, self._row(tx, run_id))

    def taken(self, run_id: str) -> dict[Topic, Taken]:
        """The decisions taken on a run so far, by topic."""
        from oob import decisions

        with self.database.read() as tx:
            return decisions.taken(tx, run_id)

    def _row(self, tx: Tx, run_id: str, *, lock: bool = False) -> dict[str, Any]:
        """The row of run `run_id` (locked until the transaction ends, with `lock`).

        The lock is PostgreSQL's FOR NO KEY UPDATE: it orders the run's state changes and
        decisions, but lets an event of the run be inserted meanwhile (the insert's foreign key
        takes a key-share lock on the row). FOR UPDATE blocked that insert, and a decision
        (row, then the chain's lock) deadlocked with an append (chain, then the row)."""
        query = "SELECT * FROM oob_runs WHERE id = ?"
        if lock and tx.dialect == "postgresql":  # SQLite: BEGIN IMMEDIATE holds the file's
            query += " FOR NO KEY UPDATE"
        row = tx.first(query, run_id)
        if row is None:
            raise RunNotFound(f"no run {run_id!r}", hint="list the runs with `oob runs`")
        return row

    def record_facts(self, run_id: str, **facts: Any) -> Run:
        """Merge JSON facts learned during the run (build number, released commit, ...)."""
        with self.database.write() as tx:
            merged = {**self._row(tx, run_id, lock=True)["facts"], **facts}
            _update_run(tx, run_id, {"facts": merged, "updated_at": self.clock.now()})
        return self.run(run_id)

    @staticmethod
    def _run(row: Mapping[Any, Any]) -> Run:
        outcome = row["outcome"]
        return Run(
            id=row["id"],
            pipeline=row["pipeline"],
            requester=row["requester"],
            fix_sha=row["fix_sha"],
            symptoms=row["symptoms"],
            affects=row["affects"],
            cause=row["cause"],
            fix_summary=row["fix_summary"],
            release_wait_minutes=row["release_wait_minutes"],
            state=RunState(row["state"]),
            outcome=RunState(outcome) if outcome else None,
            created_at=utc(row["created_at"]) or row["created_at"],
            updated_at=utc(row["updated_at"]) or row["updated_at"],
            ended_at=utc(row["ended_at"]),
            facts=dict(row["facts"] or {}),
        )

    # --- events -------------------------------------------------------------------------------

    def append_event(
        self,
        run_id: str | None,
        *,
        actor: str,
        source: Source | str,
        kind: str,
        summary: str,
        details: Mapping[str, Any] | None = None,
        key: str | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Append one event to the timeline (of `run_id`, or the audit log when None).

        With a `key`, appending the same event again returns the first one instead of writing a
        second: a workflow step repeated after a crash leaves one line. `details` must be
        JSON-serializable and must never hold a secret.
        """
        try:
            with self.database.write() as tx:
                new = NewEvent(run_id, actor, source, kind, summary, details, key, at)
                new_id = event_chain.append(tx, new, self.clock.now())
        except Conflict:
            if key is None:
                raise
            existing = self._event_by_key(key)
            if existing is None:
                raise
            if existing.kind != kind:
                raise ProcedureError(
                    f"event key {key!r} is taken by a {existing.kind} event, not {kind}",
                    hint="a bug: the workflow replayed a different path",
                ) from None
            return existing
        return self._event_by_id(new_id)

    def record(
        self,
        run_id: str | None,
        payload: Payload,
        summary: str,
        *,
        actor: str,
        source: Source | str,
        key: str | None = None,
        at: datetime | None = None,
    ) -> Event:
        """Append an event of `payload`'s kind with its details (`append_event`)."""
        kind, details = payload.KIND, payload.details()
        return self.append_event(
            run_id, actor=actor, source=source, kind=kind, summary=summary, details=details,
            key=key, at=at,
        )  # fmt: skip

    def chain_head(self, run_id: str | None) -> tuple[int, str | None]:
        """How many events run `run_id` has (outside runs when None) and its last one's hash."""
        with self.database.read() as tx:
            return event_chain.head(tx, run_id)

    def chained_rows(self, run_id: str | None) -> list[dict[str, Any]]:
        """The raw rows of a chain, in order, with their hashes: what `oob.audit` verifies."""
        where, params = event_chain.chain_of(run_id)
        with self.database.read() as tx:
            return tx.rows(f"SELECT * FROM oob_events WHERE {where} ORDER BY id", *params)

    def run_ids(self) -> list[str]:
        """Every run's id, oldest first."""
        with self.database.read() as tx:
            return [r["id"] for r in tx.rows("SELECT id FROM oob_runs ORDER BY created_at, id")]

    def events(
        self, run_id: str | None, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of `run_id` (of the audit log outside runs when None) with id > `after`."""
        where, params = event_chain.chain_of(run_id)
        query = f"SELECT * FROM oob_events WHERE {where} AND id > ? ORDER BY id"
        if limit is not None:
            query, params = f"{query} LIMIT ?", (*params, after, limit)
        else:
            params = (*params, after)
        with self.database.read() as tx:
            return [self._event(r) for r in tx.rows(query, *params)]

    def _event_by_key(self, key: str) -> Event | None:
        with self.database.read() as tx:
            row = tx.first('SELECT * FROM oob_events WHERE "key" = ?', key)
        return None if row is None else self._event(row)

    def _event_by_id(self, event_id: int) -> Event:
        with self.database.read() as tx:
            row = tx.first("SELECT * FROM oob_events WHERE id = ?", event_id)
        assert row is not None
        return self._event(row)

    @staticmethod
    def _event(row: Mapping[Any, Any]) -> Event:
        return Event(
            id=row["id"],
            run_id=row["run_id"],
            at=utc(row["at"]) or row["at"],
            actor=row["actor"],
            source=Source(row["source"]),
            kind=row["kind"],
            summary=row["summary"],
            details=dict(row["details"] or {}),
            key=row["key"],
        )

    # --- workers ------------------------------------------------------------------------------

    def beat(self, executor_id: str, *, host: str, pid: int, version: str) -> None:
        """Record that worker `executor_id` is alive now (registering it on its first beat).

        A worker's liveness is real time, whatever the runs' clock: a lease is real seconds."""
        now = SystemClock().now()
        with self.database.write() as tx:
            updated = tx.execute(
                "UPDATE oob_workers SET heartbeat_at = ? WHERE executor_id = ?", now, executor_id
            ).rowcount
            if not updated:
                worker = Worker(executor_id, host, pid, version, started_at=now, heartbeat_at=now)
                tx.insert("oob_workers", asdict(worker))

    def workers(self) -> list[Worker]:
        """Every worker that has not been forgotten, oldest first."""
        with self.database.read() as tx:
            rows = tx.rows("SELECT * FROM oob_workers ORDER BY started_at")
        return [
            Worker(
                executor_id=r["executor_id"],
                host=r["host"],
                pid=r["pid"],
                version=r["version"],
                started_at=utc(r["started_at"]) or r["started_at"],
                heartbeat_at=utc(r["heartbeat_at"]) or r["heartbeat_at"],
            )
            for r in rows
        ]

    def forget_worker(self, executor_id: str) -> None:
        """Remove a worker that stopped, or whose runs were taken over."""
        with self.database.write() as tx:
            tx.execute("DELETE FROM oob_workers WHERE executor_id = ?", executor_id)


def _update_run(tx: Tx, run_id: str, values: Mapping[str, Any]) -> None:
    sets = ", ".join(f"{name} = ?" for name in values)
    tx.execute(f"UPDATE oob_runs SET {sets} WHERE id = ?", *values.values(), run_id)


def open_store(url: str | None = None, *, clock: Clock | None = None) -> Store:
    """The run store at `url` (default: `database_url()`)."""
    return Store(url or database_url(), clock=clock)
