"""The kinds of event in a run's timeline and audit log, with the details each carries.

The procedure writes them; the postmortem, the live view, the dashboard and the rehearsal read
them. One module names them all, light enough to import anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from oob.payload import Payload

if TYPE_CHECKING:
    from oob.store import Event

# Each kind's details are one typed payload below (`Payload`): the procedure and the commands
# write them with `details()`, every reader takes them back with `read()`.
KIND_REQUESTED = "run.requested"
KIND_APPROVAL_REQUESTED = "approval.requested"
KIND_APPROVED = "approval.approved"  # actor = approver
KIND_DENIED = "approval.denied"  # actor = approver
KIND_PREFLIGHT_WAITING = "preflight.waiting"
KIND_PREFLIGHT_PASSED = "preflight.passed"
KIND_QUEUED = "capacity.queued"  # waiting for a release slot on its build server
KIND_SLOT_TAKEN = "capacity.taken"
KIND_SLOT_FREED = "capacity.freed"
# `oob override-status` writes this, outside any run when none is active.
KIND_STATUS_OVERRIDDEN = "status.overridden"
KIND_MESSAGE_POSTED = "message.posted"
KIND_HOLD_STARTED = "hold.started"
KIND_HOLD_RELEASED = "hold.released"
# An enforced merge hold (`[pipeline] merge_hold` "status" or "lock"): what it touched.
KIND_HOLD_EXTENDED = "hold.extended"
KIND_HOLD_LIFTED = "hold.lifted"
KIND_HOLD_NOT_LIFTED = "hold.not_lifted"
KIND_MERGE_DETECTED = "merge.detected"
KIND_RELEASE_INTENT = "release.intent"
KIND_BUILD_STARTED = "build.started"  # BuildRecord
KIND_BUILD_FINISHED = "build.finished"  # BuildRecord
KIND_RELEASE_PICKED = "release.picked"
# The release's tag: `tag` of release.picked, else the parameter by which the release job hands
# it to the stages after it (as the VA.gov pipeline does).
RELEASE_TAG_PARAMETER = "release_tag"
KIND_SHIELD_UP = "shield.up"
KIND_SHIELD_DOWN = "shield.down"
KIND_CHECK = "verify.check"
KIND_FIX_CONFIRMED = "verify.confirmed"  # actor = confirmer
KIND_FIX_REJECTED = "verify.rejected"  # actor = who found it does not work
KIND_CANCELLED = "run.cancelled"  # actor = who cancelled
# `oob abandon`: the run was ended by hand; oob told nobody and did not lift the merge hold.
KIND_ABANDONED = "run.abandoned"
KIND_COMMAND_REFUSED = "command.refused"
KIND_ERROR = "run.error"
KIND_PULL_REQUEST = "postmortem.pull_request"
KIND_POSTMORTEM = "postmortem.written"
KIND_STEP_STARTED = "step.started"
KIND_STEP_FINISHED = "step.finished"
KIND_ENDED = "run.ended"
# A message oob could not deliver (the service stayed down, or refused it for good): shown by
# `oob status` and the dashboard with the command that sends it again.
KIND_MESSAGE_UNDELIVERED = "message.undelivered"
KIND_DEPLOYMENT = "deployment.recorded"
KIND_NOTIFIED = "message.resent"  # by `oob notify`


class Requested(Payload, kind=KIND_REQUESTED):
    """What the requester asked for (`RunRequest`, less who and which pipeline)."""

    fix_sha: str
    symptoms: str
    cause: str
    fix_summary: str
    release_wait_minutes: float = 0
    affects: str = ""


class ApprovalRequested(Payload, kind=KIND_APPROVAL_REQUESTED):
    eta_minutes: float | None = None
    stage: str = ""


class Decided(Payload):
    """A person's decision on a run, as the policy accepted it: a note, or the reason asked."""

    note: str = ""
    reason: str = ""

    @property
    def text(self) -> str:
        return self.reason or self.note


class Approved(Decided, kind=KIND_APPROVED): ...


class Denied(Decided, kind=KIND_DENIED): ...


class Cancelled(Decided, kind=KIND_CANCELLED): ...


class FixConfirmed(Decided, kind=KIND_FIX_CONFIRMED): ...


class FixRejected(Decided, kind=KIND_FIX_REJECTED): ...


DECISIONS: dict[str, type[Decided]] = {
    c.KIND: c for c in (Approved, Denied, Cancelled, FixConfirmed, FixRejected)
}


class CommandRefused(Payload, kind=KIND_COMMAND_REFUSED):
    """A command the policy refused, why, and the text it came with."""

    command: str
    reason: str = ""
    text: str = ""


class PreflightWaiting(Payload, kind=KIND_PREFLIGHT_WAITING):
    reasons: tuple[str, ...]


class PreflightPassed(Payload, kind=KIND_PREFLIGHT_PASSED):
    eta_minutes: float | None = None


class Queued(Payload, kind=KIND_QUEUED):
    """Waiting for one of `limit` release slots on `server`, with `ahead` runs before it."""

    server: str
    limit: int
    ahead: int
    eta_minutes: float | None = None


class SlotTaken(Payload, kind=KIND_SLOT_TAKEN):
    server: str


class SlotFreed(Payload, kind=KIND_SLOT_FREED):
    server: str


class StatusOverridden(Payload, kind=KIND_STATUS_OVERRIDDEN):
    sha: str
    context: str
    previous_state: str
    reason: str


class MessagePosted(Payload, kind=KIND_MESSAGE_POSTED):
    """A message oob posted: `purpose` is the message's name, `ts` Slack's id of it."""

    audience: str = ""
    channel: str = ""
    purpose: str = ""
    permalink: str | None = None
    ts: str | None = None


class HoldStarted(Payload, kind=KIND_HOLD_STARTED):
    """Merges held from `baseline` (main's head then); an enforced hold's mode and pull
    requests."""

    baseline: str | None = None
    mode: str = "ask"
    held: tuple[dict[str, Any], ...] = ()


class HoldReleased(Payload, kind=KIND_HOLD_RELEASED):
    """Engineers were told they may merge again."""


class HoldExtended(Payload, kind=KIND_HOLD_EXTENDED):
    """The pull requests held since the hold started."""

    held: tuple[dict[str, Any], ...]


class HoldLifted(Payload, kind=KIND_HOLD_LIFTED):
    """What lifting an enforced hold changed."""

    mode: str
    changed: tuple[str, ...]


class HoldNotLifted(Payload, kind=KIND_HOLD_NOT_LIFTED):
    """An enforced hold still in place at the end, and the `command` that lifts it."""

    mode: str
    command: str
    error: str = ""


class MergeDetected(Payload, kind=KIND_MERGE_DETECTED):
    """A commit that landed on main during the hold."""

    sha: str
    author: str
    message: str = ""
    url: str | None = None


class ReleaseIntent(Payload, kind=KIND_RELEASE_INTENT):
    """About to trigger `job`: written before the trigger, so a crash cannot hide it."""

    job: str
    parameters: dict[str, str]


class ReleasePicked(Payload, kind=KIND_RELEASE_PICKED):
    """The commit the release picked (`line`: the log's line naming it) and its verdict."""

    sha: str
    state: str
    contains_fix: bool
    compare_url: str | None = None
    line: str = ""
    tag: str | None = None


class ShieldUp(Payload, kind=KIND_SHIELD_UP):
    """The deploy shield went up with the production build `build` ("job #number")."""

    build: str = field(default="", metadata={"key": "from"})


class ShieldDown(Payload, kind=KIND_SHIELD_DOWN):
    """The deploy shield was lowered: the CMS serves editors again."""


class CheckResult(Payload, kind=KIND_CHECK):
    """One verification check's latest result."""

    name: str
    ok: bool = False
    detail: str = ""


class RunError(Payload, kind=KIND_ERROR):
    """Why oob could not go on (a service that stayed down, a bug), in one line."""

    error: str


class PullRequestOpened(Payload, kind=KIND_PULL_REQUEST):
    """The postmortem's pull request."""

    repository: str
    branch: str
    base: str
    path: str
    number: int
    url: str


class PostmortemWritten(Payload, kind=KIND_POSTMORTEM):
    path: str | None
    url: str | None = None


class StepStarted(Payload, kind=KIND_STEP_STARTED):
    """A phase began; `deadline` where it waits for people until then."""

    step: str
    deadline: datetime | None = None
    needs_confirmation: bool | None = None


class StepFinished(Payload, kind=KIND_STEP_FINISHED):
    step: str
    status: str = "done"


class Ended(Payload, kind=KIND_ENDED):
    outcome: str
    reason: str = ""


class Abandoned(Payload, kind=KIND_ABANDONED):
    """Ended by hand in `state`, its workflow found in `workflow_status`."""

    reason: str
    state: str
    workflow_status: str


class DeploymentRecorded(Payload, kind=KIND_DEPLOYMENT):
    """The run's deployment on the code host (`[pipeline] deployment_environment`) got `state`;
    or could not (`error`), which stops nothing."""

    environment: str
    state: str
    deployment: int = 0
    error: str = ""


class MessageUndelivered(Payload, kind=KIND_MESSAGE_UNDELIVERED):
    """A message oob could not deliver, with the `command` that sends it again; `text` and
    `key` are kept so that `oob notify` sends the very message, once."""

    message: str = ""
    error: str = ""
    command: str = ""
    audience: str = ""
    channel: str = ""
    text: str = ""
    key: str = ""


class Resent(Payload, kind=KIND_NOTIFIED):
    """A message sent again by `oob notify`, under the key it missed with."""

    key: str
    channel: str
    message: str = ""
    audience: str = ""
    permalink: str | None = None


# Every kind's payload; a build's two kinds are one record, `BuildRecord`, read with its time.
PAYLOADS: dict[str, type[Payload]] = Payload.KINDS


@dataclass(frozen=True)
class BuildRecord:
    """A build as the timeline knows it: the details of `build.started` and `build.finished`.

    One writer (`details`, by the procedure) and one reader (`builds`, the fold every view,
    the postmortem and the rehearsal use): nobody parses these details by hand.
    """

    job: str
    number: int
    url: str | None
    started_at: datetime
    parameters: dict[str, str] = field(default_factory=dict)
    result: str | None = None  # None while it runs
    duration_seconds: float | None = None

    @property
    def ended_at(self) -> datetime | None:
        if self.result is None or not self.duration_seconds:
            return None
        return self.started_at + timedelta(seconds=self.duration_seconds)

    def details(self) -> dict[str, Any]:
        """The event's details (JSON)."""
        found: dict[str, Any] = {
            "job": self.job,
            "number": self.number,
            "url": self.url,
            "started_at": self.started_at.isoformat(),
            "parameters": dict(self.parameters),
        }
        if self.result is not None:
            found |= {"result": self.result, "duration_seconds": self.duration_seconds}
        return found

    @classmethod
    def read(cls, details: Mapping[str, Any], at: datetime) -> BuildRecord | None:
        """The record in an event's details (`at`: the event's time), or None if malformed."""
        job, number = details.get("job"), details.get("number")
        if not isinstance(job, str) or isinstance(number, bool) or not isinstance(number, int):
            return None
        try:
            started = datetime.fromisoformat(str(details["started_at"]))
        except (KeyError, ValueError):
            started = at
        duration = details.get("duration_seconds")
        params = details.get("parameters")
        return cls(
            job=job,
            number=number,
            url=details.get("url") if isinstance(details.get("url"), str) else None,
            started_at=started,
            parameters={str(k): str(v) for k, v in params.items()}
            if isinstance(params, dict)
            else {},
            result=str(details["result"]) if details.get("result") else None,
            duration_seconds=float(duration) if isinstance(duration, int | float) else None,
        )


def builds(events: Iterable[Event]) -> list[BuildRecord]:
    """The builds of a run's timeline, in the order they started, each as last known (the
    finish event completing what the start said)."""
    found: dict[tuple[str, int], BuildRecord] = {}
    for event in events:
        if event.kind not in (KIND_BUILD_STARTED, KIND_BUILD_FINISHED):
            continue
        record = BuildRecord.read(event.details, event.at)
        if record is None:
            continue
        if record.result is not None and not record.duration_seconds:
            # Ended, with no duration on record: it ended by the time the event says.
            seconds = (event.at - record.started_at).total_seconds()
            record = replace(record, duration_seconds=max(seconds, 0.0))
        before = found.get((record.job, record.number))
        if before is not None:
            record = replace(
                record,
                url=record.url or before.url,
                parameters=record.parameters or before.parameters,
            )
        found[(record.job, record.number)] = record
    return sorted(found.values(), key=lambda b: b.started_at)


def undelivered(events: Iterable[Event]) -> list[tuple[Event, MessageUndelivered]]:
    """The messages a run could not deliver that `oob notify` has not sent since."""
    events = list(events)
    resent = {(r.key, r.channel) for r in map(Resent.of, events) if r is not None}
    missed = ((e, MessageUndelivered.of(e)) for e in events)
    return [(e, m) for e, m in missed if m is not None and (m.key, m.channel) not in resent]
