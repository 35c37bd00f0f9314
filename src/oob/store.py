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
  `prev_hash`), computed in the transaction that inserts it, with the chain's head locked. The
  head is recorded with the outcome (`facts["audit"]`); `oob.audit.verify` checks the chain.

The run's life is `RunState`, whose allowed transitions are declared in `TRANSITIONS` and
checked in one place (`Store.transition`). Secrets never reach these tables: callers pass
summaries and details, never tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oob.clock import Clock, SystemClock
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
    reason_of,
    redact_url,
    sqlalchemy_url,
    sqlite_begin,
    sqlite_connect,
    state_dir,
    tables,
    utc,
)
from oob.states import CANCELLABLE, TRANSITIONS, RunState, Source

if TYPE_CHECKING:
    import sqlalchemy as sa

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
        import sqlalchemy as sa

        self.url = url
        self.clock: Clock = clock or SystemClock()
        real = sqlalchemy_url(url)
        if real.startswith("sqlite:///"):
            folder = Path(real.removeprefix("sqlite:///")).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot create the run store's folder {folder}: {exc.strerror}",
                    hint=f"set {ENV_HOME} to a folder you can write",
                ) from None
        self.engine = sa.create_engine(real, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", sqlite_connect)
            sa.event.listen(self.engine, "begin", sqlite_begin)
        self._metadata, self._runs, self._events, self._workers, self._plans = tables()
        try:
            self._metadata.create_all(self.engine)
            self._migrate()
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            raise StoreUnavailable(
                f"cannot use the run store at {redact_url(url)}: {reason_of(exc)}",
                hint=f"check the file or server; {ENV_HOME} or {ENV_DATABASE_URL} chooses another",
            ) from None

    def _migrate(self) -> None:
        # `create_all` adds tables, never columns: a store made before the hash chain gets its
        # two columns here; its old events stay unchained (`oob audit verify` says so).
        import sqlalchemy as sa

        present = {c["name"] for c in sa.inspect(self.engine).get_columns("oob_events")}
        missing = [name for name in ("prev_hash", "hash") if name not in present]
        if not missing:
            return
        with self._tx() as conn:
            for name in missing:
                conn.exec_driver_sql(f"ALTER TABLE oob_events ADD COLUMN {name} VARCHAR(64)")

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    # --- runs ---------------------------------------------------------------------------------

    def create_run(
        self, request: RunRequest, plan: Mapping[str, Any], run_id: str | None = None
    ) -> Run:
        """Record a new active run following `plan` (the config, frozen); `RunBusy` (naming who
        holds it) if the pipeline has one."""
        import sqlalchemy as sa

        now = self.clock.now()
        run_id = run_id or new_run_id(now)
        row = {
            "id": run_id,
            "pipeline": request.pipeline,
            "active_pipeline": request.pipeline,
            "requester": request.requester,
            "fix_sha": request.fix_sha,
            "symptoms": request.symptoms,
            "affects": request.affects,
            "cause": request.cause,
            "fix_summary": request.fix_summary,
            "release_wait_minutes": request.release_wait_minutes,
            "state": RunState.AWAITING_APPROVAL.value,
            "outcome": None,
            "created_at": now,
            "updated_at": now,
            "ended_at": None,
            "facts": {},
        }
        try:
            with self._tx() as conn:
                conn.execute(self._runs.insert().values(**row))
                conn.execute(self._plans.insert().values(run_id=run_id, plan=dict(plan)))
        except sa.exc.IntegrityError:
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
        with self.engine.connect() as conn:
            row = conn.execute(self._runs.select().where(self._runs.c.id == run_id)).first()
        if row is None:
            raise RunNotFound(f"no run {run_id!r}", hint="list the runs with `oob runs`")
        return self._run(row._mapping)

    def runs(self, limit: int = 50) -> list[Run]:
        """The most recent runs, newest first."""
        query = self._runs.select().order_by(self._runs.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [self._run(r._mapping) for r in conn.execute(query)]

    def active_run(self, pipeline: str) -> Run | None:
        """The active run of `pipeline`, if any."""
        query = self._runs.select().where(self._runs.c.active_pipeline == pipeline)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else self._run(row._mapping)

    def transition(self, run_id: str, to: RunState) -> Run:
        """Move a run to `to` if its current state leads there (the one place that checks).

        Moving to the state it is already in is accepted and changes nothing, so that a
        workflow step repeated after a crash is harmless. Reaching an outcome ends the run and
        frees its pipeline for the next one. Leaving the states where a run can be cancelled
        for any but CLOSING is refused with `CancelPending` once a cancel was accepted: the
        cancel and the release job's pick are decided in one order, here.
        """
        from oob.policy import Topic

        with self._tx() as conn:
            row = self._locked_run(conn, run_id)
            current = RunState(row["state"])
            if current is to:
                return self._run(row)
            if to not in TRANSITIONS[current]:
                raise BadTransition(f"run {run_id} is {current.value}; it cannot become {to.value}")
            if current in CANCELLABLE and to not in CANCELLABLE and to is not RunState.CLOSING:
                taken = self._taken(conn, run_id)
                if Topic.CANCEL in taken:
                    raise CancelPending(f"run {run_id} is being cancelled")
            now = self.clock.now()
            values: dict[str, Any] = {"state": to.value, "updated_at": now}
            if to.terminal:
                values |= {"outcome": to.value, "ended_at": now, "active_pipeline": None}
                count, head = self._chain_head(conn, run_id)
                values["facts"] = {
                    **(row["facts"] or {}),
                    "audit": {"events": count, "head": head},
                }
            conn.execute(self._runs.update().where(self._runs.c.id == run_id).values(**values))
        return self.run(run_id)

    def plan(self, run_id: str) -> dict[str, Any]:
        """The plan run `run_id` follows: its config as it was when the run started."""
        with self.engine.connect() as conn:
            row = conn.execute(self._plans.select().where(self._plans.c.run_id == run_id)).first()
        if row is None:
            raise RunNotFound(f"no plan for run {run_id!r}", hint="list the runs with `oob runs`")
        return dict(row._mapping["plan"])

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
        from oob.config import Roles
        from oob.events import KIND_COMMAND_REFUSED
        from oob.policy import RULES, Situation, Verdict, decide, describe

        rule = RULES[action]
        with self._tx() as conn:
            row = self._locked_run(conn, run_id)
            plan = conn.execute(self._plans.select().where(self._plans.c.run_id == run_id)).first()
            roles = Roles.model_validate((plan._mapping["plan"] if plan else {})["roles"])
            situation = Situation(
                run_id=run_id,
                requester=row["requester"],
                state=RunState(row["state"]),
                roles=roles,
                taken=self._taken(conn, run_id),
            )
            verdict = decide(situation, action, actor, text)
            if verdict and asserted and not roles.allow_asserted_identity:
                verdict = Verdict(
                    False,
                    f"run {run_id}'s pipeline does not accept --as; act under your own name",
                    by_role=True,
                )
            if verdict and rule.event_kind is None:
                return Decision(True, "", None)  # the caller records what it does
            if verdict:
                assert rule.event_kind is not None
                summary, details = describe(action, actor, text)
                kind = rule.event_kind
            else:
                summary = f"{action.value} by {actor} refused: {verdict.reason}"
                details = {"command": action.value, "reason": verdict.reason, "text": text}
                kind = KIND_COMMAND_REFUSED
            event = self._insert_event(
                conn, NewEvent(run_id, actor, source, kind, summary, details)
            )
        return Decision(verdict.accepted, verdict.reason, self._event_by_id(event), verdict.by_role)

    def situation(self, run_id: str) -> Situation:
        """What the policy needs to know of run `run_id` now."""
        from oob.config import Roles
        from oob.policy import Situation

        run = self.run(run_id)
        return Situation(
            run_id=run_id,
            requester=run.requester,
            state=run.state,
            roles=Roles.model_validate(self.plan(run_id)["roles"]),
            taken=self.taken(run_id),
        )

    def taken(self, run_id: str) -> dict[Topic, Taken]:
        """The decisions taken on a run so far, by topic."""
        with self.engine.connect() as conn:
            return self._taken(conn, run_id)

    def _taken(self, conn: sa.Connection, run_id: str) -> dict[Topic, Taken]:
        from oob.policy import DECISION_KINDS, Taken

        query = (
            self._events.select()
            .where(self._events.c.run_id == run_id)
            .where(self._events.c.kind.in_(list(DECISION_KINDS)))
            .order_by(self._events.c.id)
        )
        taken: dict[Topic, Taken] = {}
        for r in conn.execute(query):
            topic, action = DECISION_KINDS[r.kind]
            taken.setdefault(topic, Taken(action, r.actor, utc(r.at) or r.at, dict(r.details)))
        return taken

    def _locked_run(self, conn: sa.Connection, run_id: str) -> Mapping[Any, Any]:
        row = conn.execute(
            self._runs.select().where(self._runs.c.id == run_id).with_for_update()
        ).first()
        if row is None:
            raise RunNotFound(f"no run {run_id!r}", hint="list the runs with `oob runs`")
        return row._mapping

    def record_facts(self, run_id: str, **facts: Any) -> Run:
        """Merge JSON facts learned during the run (build number, released commit, ...)."""
        with self._tx() as conn:
            row = conn.execute(
                self._runs.select().where(self._runs.c.id == run_id).with_for_update()
            ).first()
            if row is None:
                raise RunNotFound(f"no run {run_id!r}")
            merged = {**row._mapping["facts"], **facts}
            conn.execute(
                self._runs.update()
                .where(self._runs.c.id == run_id)
                .values(facts=merged, updated_at=self.clock.now())
            )
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
        import sqlalchemy as sa

        try:
            with self._tx() as conn:
                new = NewEvent(run_id, actor, source, kind, summary, details, key, at)
                new_id = self._insert_event(conn, new)
        except sa.exc.IntegrityError:
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

    def _insert_event(self, conn: sa.Connection, new: NewEvent) -> int:
        run_id = new.run_id
        self._lock_chain(conn, run_id)
        prev_hash = self._last_hash(conn, run_id)
        values: dict[str, Any] = {
            "run_id": run_id,
            "key": new.key,
            # Stored in UTC (SQLite keeps no zone), so that the hash reads back the same time.
            "at": utc(new.at or self.clock.now()),
            "actor": new.actor,
            "source": Source(new.source).value,
            "kind": new.kind,
            "summary": new.summary,
            # A round trip through json fails here, loudly, rather than in the driver.
            "details": json.loads(json.dumps(dict(new.details or {}))),
            "prev_hash": prev_hash,
        }
        values["hash"] = event_hash(values)
        inserted = conn.execute(self._events.insert().values(**values)).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def _lock_chain(self, conn: sa.Connection, run_id: str | None) -> None:
        # SQLite: BEGIN IMMEDIATE already holds the one write lock. PostgreSQL: a transaction
        # lock per chain, so two writers of one run read the same head one after the other.
        if self.engine.dialect.name == "postgresql":
            import sqlalchemy as sa

            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:chain, 7))"),
                {"chain": f"oob_events:{run_id or ''}"},
            )

    def _chain_of(self, run_id: str | None) -> sa.ColumnElement[bool]:
        column = self._events.c.run_id
        return column.is_(None) if run_id is None else column == run_id

    def _last_hash(self, conn: sa.Connection, run_id: str | None) -> str | None:
        import sqlalchemy as sa

        last = conn.execute(
            sa.select(self._events.c.hash)
            .where(self._chain_of(run_id))
            .order_by(self._events.c.id.desc())
            .limit(1)
        ).first()
        return None if last is None else last.hash

    def _chain_head(self, conn: sa.Connection, run_id: str | None) -> tuple[int, str | None]:
        import sqlalchemy as sa

        count = conn.execute(
            sa.select(sa.func.count()).select_from(self._events).where(self._chain_of(run_id))
        ).scalar_one()
        return int(count), self._last_hash(conn, run_id)

    def chain_head(self, run_id: str | None) -> tuple[int, str | None]:
        """How many events run `run_id` has (outside runs when None) and its last one's hash."""
        with self.engine.connect() as conn:
            return self._chain_head(conn, run_id)

    def chained_rows(self, run_id: str | None) -> list[dict[str, Any]]:
        """The raw rows of a chain, in order, with their hashes: what `oob.audit` verifies."""
        query = self._events.select().where(self._chain_of(run_id)).order_by(self._events.c.id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def run_ids(self) -> list[str]:
        """Every run's id, oldest first."""
        query = self._runs.select().order_by(self._runs.c.created_at, self._runs.c.id)
        with self.engine.connect() as conn:
            return [r.id for r in conn.execute(query)]

    def events(
        self, run_id: str | None, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events of `run_id` (of the audit log outside runs when None) with id > `after`."""
        query = self._events.select().where(self._events.c.id > after).order_by(self._events.c.id)
        if run_id is None:
            query = query.where(self._events.c.run_id.is_(None))
        else:
            query = query.where(self._events.c.run_id == run_id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [self._event(r._mapping) for r in conn.execute(query)]

    def _event_by_key(self, key: str) -> Event | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._events.select().where(self._events.c.key == key)).first()
        return None if row is None else self._event(row._mapping)

    def _event_by_id(self, event_id: int) -> Event:
        with self.engine.connect() as conn:
            row = conn.execute(self._events.select().where(self._events.c.id == event_id)).one()
        return self._event(row._mapping)

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
        with self._tx() as conn:
            updated = conn.execute(
                self._workers.update()
                .where(self._workers.c.executor_id == executor_id)
                .values(heartbeat_at=now)
            ).rowcount
            if not updated:
                conn.execute(
                    self._workers.insert().values(
                        executor_id=executor_id,
                        host=host,
                        pid=pid,
                        version=version,
                        started_at=now,
                        heartbeat_at=now,
                    )
                )

    def workers(self) -> list[Worker]:
        """Every worker that has not been forgotten, oldest first."""
        query = self._workers.select().order_by(self._workers.c.started_at)
        with self.engine.connect() as conn:
            return [
                Worker(
                    executor_id=r.executor_id,
                    host=r.host,
                    pid=r.pid,
                    version=r.version,
                    started_at=utc(r.started_at) or r.started_at,
                    heartbeat_at=utc(r.heartbeat_at) or r.heartbeat_at,
                )
                for r in conn.execute(query)
            ]

    def forget_worker(self, executor_id: str) -> None:
        """Remove a worker that stopped, or whose runs were taken over."""
        with self._tx() as conn:
            conn.execute(self._workers.delete().where(self._workers.c.executor_id == executor_id))


def open_store(url: str | None = None, *, clock: Clock | None = None) -> Store:
    """The run store at `url` (default: `database_url()`)."""
    return Store(url or database_url(), clock=clock)
