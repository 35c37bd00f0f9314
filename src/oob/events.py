"""The kinds of event in a run's timeline and audit log, with the details each carries.

The procedure writes them; the postmortem, the live view, the dashboard and the rehearsal read
them. One module names them all, light enough to import anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oob.store import Event

KIND_REQUESTED = "run.requested"  # fix, symptoms, ...: written when the run is created
KIND_APPROVAL_REQUESTED = "approval.requested"  # eta_minutes, stage
KIND_APPROVED = "approval.approved"  # actor = approver; note
KIND_DENIED = "approval.denied"  # actor = approver; reason
KIND_PREFLIGHT_WAITING = "preflight.waiting"  # reasons
KIND_PREFLIGHT_PASSED = "preflight.passed"
# `oob override-status` writes this, outside any run when none is active.
KIND_STATUS_OVERRIDDEN = "status.overridden"  # sha, context, previous_state, reason
KIND_MESSAGE_POSTED = "message.posted"  # audience, channel, purpose, permalink, ts
KIND_HOLD_STARTED = "hold.started"  # baseline
KIND_HOLD_RELEASED = "hold.released"
# An enforced merge hold (`[pipeline] merge_hold` "status" or "lock"): what it touched.
KIND_HOLD_EXTENDED = "hold.extended"  # held: pull requests held since the hold started
KIND_HOLD_LIFTED = "hold.lifted"  # mode, changed: what lifting changed
KIND_HOLD_NOT_LIFTED = "hold.not_lifted"  # mode, error, command
KIND_MERGE_DETECTED = "merge.detected"  # sha, author, message, url
KIND_RELEASE_INTENT = "release.intent"  # job, parameters
KIND_BUILD_STARTED = "build.started"  # job, number, url, started_at, parameters
KIND_BUILD_FINISHED = "build.finished"  # job, number, url, result, started_at, duration_seconds
KIND_RELEASE_PICKED = "release.picked"  # sha, state, contains_fix, compare_url, line, tag?
# The release's tag: `tag` of release.picked, else the parameter by which the release job hands
# it to the stages after it (as the VA.gov pipeline does).
RELEASE_TAG_PARAMETER = "release_tag"
KIND_SHIELD_UP = "shield.up"
KIND_SHIELD_DOWN = "shield.down"
KIND_CHECK = "verify.check"  # name, ok, detail
KIND_FIX_CONFIRMED = "verify.confirmed"  # actor; note
KIND_FIX_REJECTED = "verify.rejected"  # actor; reason
KIND_CANCELLED = "run.cancelled"  # actor; reason
# `oob abandon`: the run was ended by hand; oob told nobody and did not lift the merge hold.
KIND_ABANDONED = "run.abandoned"  # actor; reason, state, workflow_status
KIND_COMMAND_REFUSED = "command.refused"  # command, reason
KIND_ERROR = "run.error"  # error
KIND_PULL_REQUEST = "postmortem.pull_request"  # repository, branch, path, number, url
KIND_POSTMORTEM = "postmortem.written"  # path
KIND_STEP_STARTED = "step.started"  # step
KIND_STEP_FINISHED = "step.finished"  # step, status
KIND_ENDED = "run.ended"  # outcome, reason
# A message oob could not deliver (the service stayed down, or refused it for good): shown by
# `oob status` and the dashboard with the command that sends it again.
KIND_MESSAGE_UNDELIVERED = "message.undelivered"  # message, audience, channel, error, command
KIND_NOTIFIED = "message.resent"  # message, by `oob notify`


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
