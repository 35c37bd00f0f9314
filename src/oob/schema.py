"""The run store's database: where it is (`database_url`), its tables, how their rows are
hashed, and how it is opened (`open_database`; its connections: `oob.database`).

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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oob.database import Database

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
    """`url` as SQLAlchemy takes it, psycopg 3 (as DBOS does) for PostgreSQL: for the tests and
    benches that reach the store's database from outside oob (`oob.database` takes `url`)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def redact_url(url: str) -> str:
    """`url` safe to show: any password replaced."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def new_run_id(now: datetime) -> str:
    """A run id people can read and type: the UTC start time and a short random suffix."""
    return f"{now.astimezone(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


# The columns holding times and JSON: `oob.database` stores and reads them as such.
TIME_COLUMNS = frozenset(
    {"created_at", "updated_at", "ended_at", "at", "started_at", "heartbeat_at", "expires_at"}
)
JSON_COLUMNS = frozenset({"facts", "details", "plan"})

# The tables, as SQLAlchemy made them before (a store made then is used as it is).
# {time} and {serial} are each database's own types.
TABLES = {
    "oob_runs": """(
        id VARCHAR(64) NOT NULL,
        pipeline VARCHAR(200) NOT NULL,
        -- Equal to `pipeline` while the run is active, NULL once it ends: the unique
        -- constraint then admits one active run per pipeline and any number of ended ones.
        active_pipeline VARCHAR(200),
        requester VARCHAR(200) NOT NULL,
        fix_sha VARCHAR(64) NOT NULL,
        symptoms TEXT NOT NULL,
        affects TEXT NOT NULL,
        cause TEXT NOT NULL,
        fix_summary TEXT NOT NULL,
        release_wait_minutes FLOAT NOT NULL,
        state VARCHAR(40) NOT NULL,
        outcome VARCHAR(40),
        created_at {time} NOT NULL,
        updated_at {time} NOT NULL,
        ended_at {time},
        facts JSON NOT NULL,
        PRIMARY KEY (id),
        UNIQUE (active_pipeline)
    )""",
    # The timeline; `prev_hash` and `hash` are its hash chain (`event_hash`), NULL in events
    # written before it existed.
    "oob_events": """(
        id {serial} NOT NULL,
        run_id VARCHAR(64),
        "key" VARCHAR(300),
        at {time} NOT NULL,
        actor VARCHAR(200) NOT NULL,
        source VARCHAR(20) NOT NULL,
        kind VARCHAR(60) NOT NULL,
        summary TEXT NOT NULL,
        details JSON NOT NULL,
        prev_hash VARCHAR(64),
        hash VARCHAR(64),
        PRIMARY KEY (id),
        FOREIGN KEY (run_id) REFERENCES oob_runs (id),
        UNIQUE ("key")
    )""",
    # The live executors: a worker beats here; a worker whose beat is older than the lease
    # (or whose process is gone, on this host) is dead, and its runs may be taken over.
    "oob_workers": """(
        executor_id VARCHAR(200) NOT NULL,
        host VARCHAR(200) NOT NULL,
        pid INTEGER NOT NULL,
        version VARCHAR(40) NOT NULL,
        started_at {time} NOT NULL,
        heartbeat_at {time} NOT NULL,
        PRIMARY KEY (executor_id)
    )""",
    # The run's plan: the config it follows, frozen when it started (`Store.create_run`).
    "oob_plans": """(
        run_id VARCHAR(64) NOT NULL,
        "plan" JSON NOT NULL,
        PRIMARY KEY (run_id),
        FOREIGN KEY (run_id) REFERENCES oob_runs (id)
    )""",
    # The dashboard's sign-ins, shared by every `oob serve` on this database (`oob.sessions`):
    # a session is open until it expires or its person signs out (`ended_at`). The id is kept
    # as its SHA-256 only: whoever reads the table cannot present a session.
    "oob_sessions": """(
        id_sha256 VARCHAR(64) NOT NULL,
        "user" VARCHAR(200) NOT NULL,
        created_at {time} NOT NULL,
        expires_at {time} NOT NULL,
        ended_at {time},
        PRIMARY KEY (id_sha256)
    )""",
}
INDEXES = (
    "ix_oob_events_run_id ON oob_events (run_id)",
    "ix_oob_sessions_expires_at ON oob_sessions (expires_at)",
)
TYPES = {
    "sqlite": {"time": "DATETIME", "serial": "INTEGER"},
    "postgresql": {"time": "TIMESTAMP WITH TIME ZONE", "serial": "SERIAL"},
}


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


def open_database(url: str) -> Database:
    """The database at `url`, with oob's tables created (and brought up to date) on first use;
    `StoreUnavailable` when it cannot be used."""
    from oob.database import Database
    from oob.records import StoreUnavailable

    if url.startswith("sqlite:///"):
        folder = Path(url.removeprefix("sqlite:///")).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(
                f"cannot create the run store's folder {folder}: {exc.strerror}",
                hint=f"set {ENV_HOME} to a folder you can write",
            ) from None
    database = Database(url)
    try:
        _create(database)
    except database.errors as exc:
        database.close()
        raise StoreUnavailable(
            f"cannot use the run store at {redact_url(url)}: {reason_of(exc)}",
            hint=f"check the file or server; {ENV_HOME} or {ENV_DATABASE_URL} chooses another",
        ) from None
    return database


def _create(database: Database) -> None:
    # Read first: a store in use is left alone (a write would wait for its writers). A store
    # made before the hash chain gets its two columns; its old events stay unchained
    # (`oob audit verify` says so).
    with database.read() as tx:
        present = {row["name"] for row in tx.rows(PRESENT[database.dialect])}
        columns: set[str] = set()
        if "oob_events" in present:
            cursor = tx.execute("SELECT * FROM oob_events LIMIT 0")
            columns = {column[0] for column in cursor.description}
    missing = [name for name in ("prev_hash", "hash") if name not in columns]
    if present >= TABLES.keys() and not missing:
        return
    types = TYPES[database.dialect]
    with database.write() as tx:
        for name, columns_sql in TABLES.items():
            tx.execute(f"CREATE TABLE IF NOT EXISTS {name} {columns_sql.format(**types)}")
        for index in INDEXES:
            tx.execute(f"CREATE INDEX IF NOT EXISTS {index}")
        if "oob_events" in present:
            for name in missing:
                tx.execute(f"ALTER TABLE oob_events ADD COLUMN {name} VARCHAR(64)")


PRESENT = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()",
}
