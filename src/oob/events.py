"""The kinds of event in a run's timeline and audit log, with the details each carries.

The procedure writes them; the postmortem, the live view, the dashboard and the rehearsal read
them. One module names them all, light enough to import anywhere.
"""

from __future__ import annotations

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
