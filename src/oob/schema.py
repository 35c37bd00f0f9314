"""The run store's database: where it is (`database_url`), its tables, how their rows are
hashed, and how its connections are set up.

`oob_runs`, `oob_events` (the timeline, hash-chained: `event_hash`), `oob_workers` and
`oob_plans`, beside DBOS's system tables in the same database (`oob.store`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlalchemy as sa

ENV_HOME = "OOB_HOME"
ENV_DATABASE_URL = "OOB_DATABASE_URL"
SQLITE_FILE = "oob.sqlite"


def state_dir() -> Path:
    """Where oob keeps its SQLite database: `OOB_HOME`, else the per-user state directory."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    from platformdirs import user_state_path

    return user_state_path("oob", appauthor=False)


def database_url() -> str:
    """The one database URL for DBOS and the run store (`OOB_DATABASE_URL` or the SQLite file)."""
    url = os.environ.get(ENV_DATABASE_URL)
    if url:
        return url
    return f"sqlite:///{state_dir() / SQLITE_FILE}"


def sqlalchemy_url(url: str) -> str:
    """`url` with the driver SQLAlchemy should use: psycopg 3 (as DBOS does) for PostgreSQL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def redact_url(url: str) -> str:
    """`url` safe to show: any password replaced."""
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def new_run_id(now: datetime) -> str:
    """A run id people can read and type: the UTC start time and a short random suffix."""
    return f"{now.astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def tables() -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table, sa.Table]:
    import sqlalchemy as sa

    metadata = sa.MetaData()
    runs = sa.Table(
        "oob_runs",
        metadata,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(200), nullable=False),
        # Equal to `pipeline` while the run is active, NULL once it ends: the unique
        # constraint then admits one active run per pipeline and any number of ended ones.
        sa.Column("active_pipeline", sa.String(200), unique=True),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("fix_sha", sa.String(64), nullable=False),
        sa.Column("symptoms", sa.Text, nullable=False),
        sa.Column("affects", sa.Text, nullable=False),
        sa.Column("cause", sa.Text, nullable=False),
        sa.Column("fix_summary", sa.Text, nullable=False),
        sa.Column("release_wait_minutes", sa.Float, nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("outcome", sa.String(40)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("facts", sa.JSON, nullable=False),
    )
    events = sa.Table(
        "oob_events",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("oob_runs.id"), index=True),
        sa.Column("key", sa.String(300), unique=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        # The hash chain (see `event_hash`); NULL in events written before it existed.
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("hash", sa.String(64)),
    )
    # The live executors: a worker beats here; a worker whose beat is older than the lease
    # (or whose process is gone, on this host) is dead, and its runs may be taken over.
    workers = sa.Table(
        "oob_workers",
        metadata,
        sa.Column("executor_id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The run's plan: the config it follows, frozen when it started (`Store.create_run`).
    plans = sa.Table(
        "oob_plans",
        metadata,
        sa.Column("run_id", sa.String(64), sa.ForeignKey("oob_runs.id"), primary_key=True),
        sa.Column("plan", sa.JSON, nullable=False),
    )
    return metadata, runs, events, workers, plans


HASHED = ("run_id", "at", "actor", "source", "kind", "summary", "details", "prev_hash")


def canonical_event(event: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash is computed over: its `HASHED` fields (the previous hash among
    them) as JSON with sorted keys and no spaces, the time in UTC to the microsecond."""
    fields = {name: event[name] for name in HASHED}
    at = utc(fields["at"]) or fields["at"]
    fields["at"] = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields["details"] = dict(fields["details"] or {})
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of `canonical_event`: what the `hash` column holds."""
    return hashlib.sha256(canonical_event(event)).hexdigest()


def utc(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; every stored time is UTC, so say so.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def reason_of(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # DBOS writes the same file from other threads and processes: wait for their locks
    # instead of failing at once. WAL (a property of the file, so DBOS gets it too) lets
    # readers go on while one writes, and costs one sync per commit instead of several.
    dbapi_conn.isolation_level = None  # we say BEGIN ourselves, below
    dbapi_conn.execute("PRAGMA busy_timeout=30000")
    dbapi_conn.execute("PRAGMA journal_mode=WAL")
    dbapi_conn.execute("PRAGMA synchronous=NORMAL")


def sqlite_begin(conn: sa.Connection) -> None:
    # A transaction that reads then writes (a state transition) must hold the write lock from
    # its start: upgrading later fails at once, without waiting, when another process wrote.
    conn.exec_driver_sql("BEGIN IMMEDIATE")
