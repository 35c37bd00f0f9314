"""The run store's connections: its database through the driver's own DB-API (the standard
library's `sqlite3`, or psycopg 3 for PostgreSQL), pooled, one transaction at a time.

Every read and write of oob's tables goes through here (`Database.read`, `Database.write`), on
both databases: SQL is written once, with `?` for each parameter. Values are encoded in one
place (`Tx.execute`): a time is stored in UTC (in SQLite as text, `2026-12-06 19:01:17.812273`,
as SQLAlchemy wrote it before), a dict or a list as JSON; a row is read back as a dict whose
times are aware UTC datetimes and whose JSON columns (`schema.JSON_COLUMNS`) are decoded.
(SQLAlchemy's import was about 150 ms of `oob status` and `oob runs`; DBOS keeps its own
engine.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

from oob.records import StoreUnavailable
from oob.schema import JSON_COLUMNS, TIME_COLUMNS

# How long a caller waits for a connection when all are taken, as SQLAlchemy's pool did.
POOL_TIMEOUT = 30.0


class Conflict(Exception):
    """A constraint of the database refused the write (a unique key, a foreign key)."""


class Database:
    """The database at `url`: a pool of connections (at most `size` kept idle, `size` +
    `overflow` at once; an idle one is pinged before it is used again)."""

    def __init__(self, url: str) -> None:
        self.dialect, self._connect, size, overflow = _driver(url)
        self.errors: tuple[type[Exception], ...] = (_module(self.dialect).Error,)
        self._integrity: type[Exception] = _module(self.dialect).IntegrityError
        self._size = size
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size + overflow)

    def read(self) -> AbstractContextManager[Tx]:
        """A transaction that reads (`with database.read() as tx:`)."""
        return self._transaction("BEGIN")

    def write(self) -> AbstractContextManager[Tx]:
        """A transaction that writes. In SQLite it holds the write lock from its start: one
        that reads then writes (a state transition) must not upgrade later, which fails at
        once, without waiting, when another process wrote."""
        return self._transaction("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")

    def close(self) -> None:
        """Close the idle connections (those in use close when they come back)."""
        with self._lock:
            idle, self._idle, self._size = self._idle, [], 0
        for conn in idle:
            conn.close()

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[Tx]:
        if not self._slots.acquire(timeout=POOL_TIMEOUT):
            raise StoreUnavailable(
                f"no connection to the run store came free in {POOL_TIMEOUT:.0f} s",
                hint="too many runs at once for this process; try again",
            )
        try:
            conn = self._checkout()
            reusable = False
            try:
                conn.execute(begin)
                try:
                    yield Tx(conn, self.dialect, self._integrity)
                except BaseException:
                    conn.execute("ROLLBACK")
                    reusable = True
                    raise
                conn.execute("COMMIT")
                reusable = True
            finally:
                self._checkin(conn, reusable)
        finally:
            self._slots.release()

    def _checkout(self) -> Any:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None:
            try:
                conn.execute("SELECT 1")
                return conn
            except self.errors:  # the server closed it meanwhile: a new one
                conn.close()
        return self._connect()

    def _checkin(self, conn: Any, reusable: bool) -> None:
        with self._lock:
            if reusable and len(self._idle) < self._size:
                self._idle.append(conn)
                return
        conn.close()


class Tx:
    """One transaction: `execute` (its cursor), `insert`, `rows` and `first` (rows as dicts)."""

    def __init__(self, conn: Any, dialect: str, integrity: type[Exception]) -> None:
        self._conn = conn
        self.dialect = dialect
        self._integrity = integrity

    def execute(self, sql: str, *params: Any) -> Any:
        """Run `sql` with `params` (one `?` each); `Conflict` when a constraint refuses it."""
        values: list[Any] | None = [self._encode(p) for p in params]
        if self.dialect == "postgresql":  # psycopg's mark; and no parsing of a query without
            sql, values = sql.replace("?", "%s"), values or None  # any (`LIKE 'a%'`)
        try:
            return self._conn.execute(sql, values)
        except self._integrity as exc:
            raise Conflict(str(exc).strip().splitlines()[0]) from exc

    def insert(self, table: str, row: Mapping[str, Any], *, returning: str = "") -> Any:
        """Insert `row` (column: value) into `table`; the value of its column `returning`."""
        names = ", ".join(f'"{name}"' for name in row)
        marks = ", ".join("?" for _ in row)
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        if not returning:
            self.execute(sql, *row.values())
            return None
        inserted = self.first(f"{sql} RETURNING {returning}", *row.values())
        assert inserted is not None
        return inserted[returning]

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return list(self.execute(sql, *params).fetchall())

    def first(self, sql: str, *params: Any) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.execute(sql, *params).fetchone()
        return row

    def _encode(self, value: Any) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC)
            if self.dialect == "sqlite":
                return value.strftime("%Y-%m-%d %H:%M:%S.%f")
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        if isinstance(value, dict | list):
            return json.dumps(value)
        return value


def _module(dialect: str) -> Any:
    if dialect == "sqlite":
        import sqlite3

        return sqlite3
    import psycopg

    return psycopg


def _driver(url: str) -> tuple[str, Callable[[], Any], int, int]:
    """The dialect of `url`, a function opening one connection, and the pool's size and
    overflow: a server's connections are few, so that a fleet of workers fits its
    `max_connections` (DBOS's are counted in `oob.durable`); a SQLite file's are SQLAlchemy's
    defaults, as before; an in-memory database is one connection, kept."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        path = rest.removeprefix("/")
        memory = path in ("", ":memory:")
        return (
            "sqlite",
            lambda: _sqlite(":memory:" if memory else path),
            1 if memory else 5,
            (0 if memory else 10),
        )
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        plain = "postgresql://" + rest
        return "postgresql", lambda: _postgres(plain), 4, 4
    raise StoreUnavailable(
        f"oob's store is SQLite or PostgreSQL, not {scheme!r}",
        hint="set OOB_DATABASE_URL to postgresql://... or unset it",
    )


def _sqlite(path: str) -> Any:
    import sqlite3

    # DBOS writes the same file from other threads and processes: wait for their locks
    # instead of failing at once. WAL (a property of the file, so DBOS gets it too) lets
    # readers go on while one writes, and costs one sync per commit instead of several.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = _sqlite_row
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _sqlite_row(cursor: Any, values: tuple[Any, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for (name, *_), value in zip(cursor.description, values, strict=True):
        if isinstance(value, str) and name in TIME_COLUMNS:
            row[name] = datetime.fromisoformat(value).replace(tzinfo=UTC)
        elif isinstance(value, str) and name in JSON_COLUMNS:
            row[name] = json.loads(value)
        else:
            row[name] = value
    return row


def _postgres(url: str) -> Any:
    import psycopg
    from psycopg.rows import dict_row

    return psycopg.connect(url, autocommit=True, row_factory=dict_row)
