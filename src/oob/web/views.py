"""What the dashboard shows of a run: plain data, no HTML.

The pages and the JSON API both render these. The state, steps, stages (estimate against
actual) and ETA are `oob.readmodel.snapshot`, the same that `oob status` prints; this module adds
what only the dashboard lists, read from the timeline through the events' payloads
(`oob.events`): the Jenkins builds and the messages sent. Nothing here decides anything about
the run: `available_actions` says which actions the procedure will accept now, so that a page
offers only those (the commands check again, and have the last word).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from oob.config import Config
from oob.eta import format_minutes
from oob.events import (
    KIND_ABANDONED,
    KIND_APPROVED,
    KIND_BUILD_FINISHED,
    KIND_CANCELLED,
    KIND_DENIED,
    KIND_ERROR,
    KIND_FIX_CONFIRMED,
    KIND_FIX_REJECTED,
    KIND_MERGE_DETECTED,
    KIND_MESSAGE_UNDELIVERED,
    KIND_PREFLIGHT_WAITING,
    KIND_PULL_REQUEST,
    KIND_RELEASE_PICKED,
    KIND_STATUS_OVERRIDDEN,
    MessagePosted,
)
from oob.readmodel import Snapshot, snapshot
from oob.store import Event, Run, RunState, Store
from oob.web.auth import Action, Identity

STATE_LABELS = {
    RunState.AWAITING_APPROVAL: "Awaiting approval",
    RunState.PREFLIGHT: "Pre-flight checks",
    RunState.QUEUED: "Queued for a release slot",
    RunState.NOTIFYING: "Notifying people",
    RunState.RELEASE_WAIT: "Release job waiting (cancel window)",
    RunState.RELEASING: "Checking the released commit",
    RunState.DEPLOYING: "Deploying to production",
    RunState.VERIFYING: "Verifying the fix",
    RunState.CLOSING: "Closing",
    RunState.RESOLVED: "Resolved",
    RunState.CANCELLED: "Cancelled",
    RunState.DENIED: "Denied",
    RunState.RELEASE_MISMATCH: "Released the wrong commit",
    RunState.DEPLOY_FAILED: "Deploy failed",
    RunState.FIX_NOT_VERIFIED: "Fix not verified",
    RunState.FAILED: "Failed: oob could not go on",
}

# Timeline entries a screen reader announces as they arrive: people's decisions, what holds or
# ends the run, and each build's result. The state and the step are announced as they change;
# the rest (steps, messages, the ETA) is there to read, not to be interrupted by.
ANNOUNCED = frozenset(
    {
        KIND_APPROVED,
        KIND_DENIED,
        KIND_PREFLIGHT_WAITING,
        KIND_STATUS_OVERRIDDEN,
        KIND_MERGE_DETECTED,
        KIND_BUILD_FINISHED,
        KIND_RELEASE_PICKED,
        KIND_FIX_CONFIRMED,
        KIND_FIX_REJECTED,
        KIND_CANCELLED,
        KIND_ABANDONED,
        KIND_ERROR,
        KIND_MESSAGE_UNDELIVERED,
        KIND_PULL_REQUEST,
    }
)


@dataclass(frozen=True)
class BuildRow:
    """A Jenkins build the run started or followed."""

    job: str
    number: int
    url: str | None
    result: str | None
    started_at: datetime


@dataclass(frozen=True)
class MessageRow:
    """A message the run posted."""

    at: datetime
    channel: str
    summary: str
    url: str | None


@dataclass(frozen=True)
class RunView:
    """Everything the run page and `GET /api/runs/{id}` show about one run."""

    snapshot: Snapshot
    state_label: str
    lead_time_minutes: float | None
    builds: tuple[BuildRow, ...]
    messages: tuple[MessageRow, ...]

    @property
    def run(self) -> Run:
        return self.snapshot.run

    @property
    def events(self) -> tuple[Event, ...]:
        return self.snapshot.events

    @property
    def eta_label(self) -> str:
        eta = self.snapshot.eta_minutes
        return "—" if eta is None else format_minutes(eta)

    @property
    def lead_time_label(self) -> str:
        return "—" if self.lead_time_minutes is None else format_minutes(self.lead_time_minutes)

    @property
    def chart_scale(self) -> float:
        """Minutes that fill a bar's full width: the longest estimate or actual."""
        lengths = [s.estimate_minutes for s in self.snapshot.stages]
        lengths += [s.actual_minutes or 0 for s in self.snapshot.stages]
        return max([*lengths, 1.0])


def builds_of(shot: Snapshot) -> list[BuildRow]:
    """The builds the run started or followed, in the order they started, with their result."""
    return [BuildRow(b.job, b.number, b.url, b.result, b.started_at) for b in shot.builds]


def messages_of(events: Sequence[Event]) -> list[MessageRow]:
    """The messages the run posted, with a link where the chat service gave one."""
    return [
        MessageRow(e.at, m.channel, e.summary, m.permalink)
        for e in events
        if (m := MessagePosted.of(e)) is not None
    ]


def run_view(store: Store, config: Config, run_id: str, now: datetime) -> RunView:
    """The run page's data for `run_id` as of `now` (of the run's clock: the store's)."""
    # Every event, not the status view's latest few: the page is the whole audit log.
    shot = snapshot(store, run_id, now, latest=1_000_000)
    run = shot.run
    lead = None
    if run.ended_at is not None:
        lead = (run.ended_at - run.created_at).total_seconds() / 60
    return RunView(
        snapshot=shot,
        state_label=STATE_LABELS[run.state],
        lead_time_minutes=lead,
        builds=tuple(builds_of(shot)),
        messages=tuple(messages_of(shot.events)),
    )


def available_actions(store: Store, run: Run, identity: Identity) -> list[Action]:
    """The actions to offer `identity` on `run` now: those the policy would accept."""
    from oob import policy

    wanted = [Action.APPROVE, Action.DENY, Action.OVERRIDE_STATUS, Action.CANCEL]
    if store.plan(run.id)["verify"].get("require_confirmation"):
        wanted.append(Action.CONFIRM_FIX)
    wanted.append(Action.REJECT_FIX)
    asked = [policy.Action(a.value) for a in wanted]
    return [Action(a.value) for a in policy.offered(store.situation(run.id), identity.name, asked)]
