"""The run store's database: where it is (`database_url`), its tables, how their rows are
hashed, and how it is opened (`open_database`) and its connections set up.

`oob_runs`, `oob_events` (the timeline, hash-chained: `event_hash`), `oob_workers`,
`oob_plans` and the dashboard's `oob_sessions` (`oob.sessions`), beside DBOS's system tables in
the same database (`oob.store`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

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


class Tables(NamedTuple):
    """oob's tables, in one `MetaData`."""

    metadata: sa.MetaData
    runs: sa.Table
    events: sa.Table
    workers: sa.Table
    plans: sa.Table


def tables() -> Tables:
    import sqlalchemy as sa

    metadata = sa.MetaData()
    sessions_table(metadata)  # created with the others; read and written by `oob.sessions`
    return Tables(
        metadata, _runs(metadata), _events(metadata), _workers(metadata), _plans(metadata)
    )


def _runs(metadata: sa.MetaData) -> sa.Table:
    import sqlalchemy as sa

    return sa.Table(
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


def _events(metadata: sa.MetaData) -> sa.Table:
    import sqlalchemy as sa

    return sa.Table(
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


def _workers(metadata: sa.MetaData) -> sa.Table:
    """The live executors: a worker beats here; a worker whose beat is older than the lease
    (or whose process is gone, on this host) is dead, and its runs may be taken over."""
    import sqlalchemy as sa

    return sa.Table(
        "oob_workers",
        metadata,
        sa.Column("executor_id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )


def _plans(metadata: sa.MetaData) -> sa.Table:
    """The run's plan: the config it follows, frozen when it started (`Store.create_run`)."""
    import sqlalchemy as sa

    return sa.Table(
        "oob_plans",
        metadata,
        sa.Column("run_id", sa.String(64), sa.ForeignKey("oob_runs.id"), primary_key=True),
        sa.Column("plan", sa.JSON, nullable=False),
    )


def sessions_table(metadata: sa.MetaData) -> sa.Table:
    """The dashboard's sign-ins, shared by every `oob serve` on this database: a session is open
    until it expires or its person signs out (`ended_at`). The id is kept as its SHA-256 only:
    whoever reads the table cannot present a session."""
    import sqlalchemy as sa

    return sa.Table(
        "oob_sessions",
        metadata,
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )


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


def open_database(url: str) -> tuple[sa.Engine, Tables]:
    """The engine of the database at `url`, with oob's tables created (and brought up to date)
    on first use; `StoreUnavailable` when it cannot be used."""
    import sqlalchemy as sa

    from oob.records import StoreUnavailable

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
    # A server's connections: each transaction holds one only while it runs, so a few serve a
    # worker's many runs, and a fleet of workers fits max_connections (DBOS's: `oob.durable`).
    pool = {} if real.startswith("sqlite") else {"pool_size": 4, "max_overflow": 4}
    engine = sa.create_engine(real, pool_pre_ping=True, **pool)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", sqlite_connect)
        sa.event.listen(engine, "begin", sqlite_begin)
    made = tables()
    try:
        made.metadata.create_all(engine)
        _migrate(engine)
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise StoreUnavailable(
            f"cannot use the run store at {redact_url(url)}: {reason_of(exc)}",
            hint=f"check the file or server; {ENV_HOME} or {ENV_DATABASE_URL} chooses another",
        ) from None
    return engine, made


def _migrate(engine: sa.Engine) -> None:
    # `create_all` adds tables, never columns: a store made before the hash chain gets its
    # two columns here; its old events stay unchained (`oob audit verify` says so).
    import sqlalchemy as sa

    present = {c["name"] for c in sa.inspect(engine).get_columns("oob_events")}
    missing = [name for name in ("prev_hash", "hash") if name not in present]
    if not missing:
        return
    with engine.begin() as conn:
        for name in missing:
            conn.exec_driver_sql(f"ALTER TABLE oob_events ADD COLUMN {name} VARCHAR(64)")
