"""The dashboard's sessions in the run store's database (`oob_sessions`), shared by every
`oob serve` process on it.

Several processes behind one load balancer sign people in with the same key
(`[web] session_key_env`); their sessions live here, so that a session opened by one is open for
all, and one signed out of anywhere is refused everywhere, at once. Each request looks its
session up by primary key: nothing is cached, so no process can believe a session another has
ended. Only the SHA-256 of a session id is stored.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from oob.schema import utc

if TYPE_CHECKING:
    from oob.store import Store


class StoredSessions:
    """Open, check and end sessions in the run store's database."""

    def __init__(self, store: Store) -> None:
        self._database = store.database  # the store made the table with its others

    def open(self, session: str, name: str, now: datetime, expires: datetime) -> None:
        """Record `session` of `name`, open until `expires`; forget sessions expired by `now`."""
        with self._database.write() as tx:
            tx.execute("DELETE FROM oob_sessions WHERE expires_at <= ?", now)
            tx.insert(
                "oob_sessions",
                {"id_sha256": _digest(session), "user": name, "created_at": now,
                 "expires_at": expires},
            )  # fmt: skip

    def is_open(self, session: str, now: datetime) -> bool:
        """Whether `session` was opened here, has not expired by `now` and was not ended."""
        with self._database.read() as tx:
            row = tx.first("SELECT * FROM oob_sessions WHERE id_sha256 = ?", _digest(session))
        if row is None or row["ended_at"] is not None:
            return False
        expires = utc(row["expires_at"])
        return expires is not None and expires > now

    def end(self, session: str, now: datetime) -> None:
        """Sign `session` out, for every process, from `now` on."""
        with self._database.write() as tx:
            tx.execute(
                "UPDATE oob_sessions SET ended_at = ? WHERE id_sha256 = ? AND ended_at IS NULL",
                now,
                _digest(session),
            )


def _digest(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()
