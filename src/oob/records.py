"""The values the run store reads and writes: a run and its request, an event, a decision,
a worker, and the store's errors. `oob.store` re-exports them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oob.errors import OobError, ProcedureError
from oob.states import RunState, Source

if TYPE_CHECKING:
    pass


class RunBusy(ProcedureError):
    """Another run of the pipeline is active."""


class BadTransition(ProcedureError):
    """A run was asked to move to a state its current state does not lead to."""


class StoreUnavailable(OobError):
    """The run store cannot be opened: a folder that cannot be written, a file that is not a
    database, a server that does not answer."""


class CancelPending(BadTransition):
    """The run cannot move on: a cancel was accepted first."""


@dataclass(frozen=True)
class Decision:
    """The store's answer to a command: accepted, or refused and why; the event it wrote."""

    accepted: bool
    reason: str
    event: Event | None
    by_role: bool = False  # refused for the actor's role, not the run's state


@dataclass(frozen=True)
class RunRequest:
    """What a person asks for when starting an out-of-band deploy."""

    pipeline: str
    requester: str
    fix_sha: str
    symptoms: str
    cause: str
    fix_summary: str
    affects: str = ""
    release_wait_minutes: float = 0


@dataclass(frozen=True)
class Run:
    """One out-of-band deploy as stored: what was asked (its `RunRequest`), where it is
    (`state`), and how it ended (`outcome`, `ended_at`)."""

    id: str
    pipeline: str
    requester: str
    fix_sha: str
    symptoms: str
    affects: str
    cause: str
    fix_summary: str
    release_wait_minutes: float
    state: RunState
    outcome: RunState | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return not self.state.terminal


@dataclass(frozen=True)
class Event:
    """One line of a run's timeline (or of the audit log, when `run_id` is None)."""

    id: int
    run_id: str | None
    at: datetime
    actor: str
    source: Source
    kind: str
    summary: str
    details: dict[str, Any]
    key: str | None = None  # the idempotency key of an event a workflow step wrote


@dataclass(frozen=True)
class NewEvent:
    """An event to insert: an `Event` before the store gives it its id, time and hash."""

    run_id: str | None
    actor: str
    source: Source | str
    kind: str
    summary: str
    details: Mapping[str, Any] | None = None
    key: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Worker:
    """A process executing runs (an `oob worker`), known by its DBOS executor id; alive while
    its heartbeat is recent."""

    executor_id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    heartbeat_at: datetime
