"""The heuristics of a postmortem draft, in English: suggested action items, lessons, outcome.

Each reads only `PostmortemFacts`; a team wanting other wording replaces the template, and one
wanting other heuristics replaces these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from oob.eta import format_minutes
from oob.postmortem.facts import BuildFact, PostmortemFacts
from oob.store import RunState


@dataclass(frozen=True)
class ActionItem:
    """A row of the Action Items table: what the heuristics suggest, for people to assign."""

    description: str
    type: str
    owner: str = ""
    issue: str = ""


def minutes(value: float | None) -> str:
    """A duration in minutes for people, or a dash when unknown."""
    return "—" if value is None else format_minutes(value)


def action_items(f: PostmortemFacts) -> tuple[ActionItem, ...]:
    """The action items the facts call for: the root cause always, then one per flaky status,
    merge during the hold, slow stage, wrong release, failed build and failed verification."""
    items = [
        ActionItem(
            f"Expand the root cause: {f.cause}" if f.cause else "Find the root cause", "Root cause"
        ),
    ]
    for o in f.overrides:
        on = f" (overridden on {o.sha[:7]})" if o.sha else ""
        items.append(ActionItem(f"Investigate the flaky {o.context}{on}", "Reliability"))
    for m in f.merges:
        items.append(
            ActionItem(
                f"Find out why {m.sha[:7]}"
                + (f" by {m.author}" if m.author else "")
                + " was merged during the merge hold",
                "Process",
            )
        )
    for s in f.stages:
        if s.slow and s.actual_minutes is not None:
            items.append(
                ActionItem(
                    f"Find out why {s.name} took {format_minutes(s.actual_minutes)} "
                    f"against an estimate of {format_minutes(s.estimate_minutes)}",
                    "Performance",
                )
            )
    if f.release is not None and f.release.contains_fix is False:
        items.append(
            ActionItem(
                f"Find out why the release job released {f.release.sha[:7]}, "
                "which does not contain the fix",
                "Process",
            )
        )
    for b in failed_builds(f):
        items.append(ActionItem(f"Find out why {b.job} #{b.number} ended {b.result}", "Bug"))
    failed = [c for c in f.checks if not c.ok]
    if f.verified is False:
        detail = f": {failed[-1].name} ({failed[-1].detail})" if failed else ""
        items.append(
            ActionItem(f"Find out why the fix was not verified in production{detail}", "Bug")
        )
    return tuple(items)


def failed_builds(f: PostmortemFacts) -> list[BuildFact]:
    # A release job stopped by `oob cancel` ends ABORTED by design: not a failure to chase.
    return [
        b
        for b in f.builds
        if b.result not in (None, "SUCCESS")
        and not (b.result == "ABORTED" and f.cancellation is not None)
    ]


def with_lessons(f: PostmortemFacts) -> PostmortemFacts:
    """`f` with what the heuristics suggest: the action items, and what went well, what went
    wrong, where we got lucky (the facts the run has for each)."""
    return replace(
        f,
        action_items=action_items(f),
        went_well=tuple(_went_well(f)),
        went_wrong=tuple(_went_wrong(f)),
        lucky=tuple(_lucky(f)),
    )


def _restored_in_time(f: PostmortemFacts) -> bool | None:
    if f.lead_time is None or f.lead_time.minutes is None:
        return None
    return f.lead_time.minutes <= f.lead_time_estimate_minutes


def _restored_line(f: PostmortemFacts) -> str:
    assert f.lead_time is not None
    return (
        f"Service was restored {minutes(f.lead_time.minutes)} after approval "
        f"(estimate: {format_minutes(f.lead_time_estimate_minutes)})."
    )


def _went_well(f: PostmortemFacts) -> list[str]:
    well = []
    if f.decision is not None and f.approval_requested_at is not None:
        wait = (f.decision.at - f.approval_requested_at).total_seconds() / 60
        verb = "approved" if f.decision.approved else "denied"
        well.append(f"The product owner {verb} the request {format_minutes(wait)} after it came.")
    if _restored_in_time(f):
        well.append(_restored_line(f))
    if f.hold is not None and not f.merges:
        well.append("Nobody merged to main while merges were held.")
    if f.release is not None and f.release.contains_fix:
        well.append(f"The released commit {f.release.sha[:7]} contains the fix.")
    return well


def _went_wrong(f: PostmortemFacts) -> list[str]:
    wrong = []
    if _restored_in_time(f) is False:
        wrong.append(_restored_line(f))
    if f.preflight_wait is not None:
        waited = f" {minutes(f.preflight_wait.minutes)}" if f.preflight_wait.end else ""
        wrong.append(
            f"Pre-flight had to wait{waited}: " + "; ".join(f.preflight_reasons or ("not ready",))
        )
    wrong += [f"The {o.context} status had to be overridden by {o.actor}." for o in f.overrides]
    wrong += [f"{m.sha[:7]} was merged during the merge hold." for m in f.merges]
    wrong += [
        f"{s.name} took {minutes(s.actual_minutes)} "
        f"(estimate {format_minutes(s.estimate_minutes)})."
        for s in f.stages
        if s.slow
    ]
    if f.release is not None and f.release.contains_fix is False:
        wrong.append(f"The release job released {f.release.sha[:7]}, which lacks the fix.")
    wrong += [f"{b.job} #{b.number} ended {b.result}." for b in failed_builds(f)]
    if f.verified is False:
        wrong.append("The fix could not be verified in production.")
    if f.decision is not None and not f.decision.approved:
        wrong.append(f"The deploy was denied by {f.decision.actor}: {f.decision.note}")
    if f.cancellation is not None:
        wrong.append(f"The deploy was cancelled by {f.cancellation.actor}: {f.cancellation.note}")
    return wrong


def _lucky(f: PostmortemFacts) -> list[str]:
    # A merge during the hold that the release job picked, and that happened to contain the
    # fix, is the runbook's warning come true without harm.
    return [
        f"The release job picked {m.sha[:7]}, merged during the hold, and it contained the fix."
        for m in f.merges
        if f.release is not None and f.release.sha == m.sha and f.release.contains_fix
    ]


def outcome_text(f: PostmortemFacts) -> str:
    """One sentence saying how the run ended."""
    if f.outcome is RunState.CANCELLED:
        who = f" by {f.cancellation.actor}" if f.cancellation else ""
        why = f" ({f.cancellation.note})" if f.cancellation and f.cancellation.note else ""
        return f"The deploy was cancelled{who}{why}; the fix was not deployed by this run."
    if f.outcome is RunState.DENIED:
        who = f" by {f.decision.actor}" if f.decision else ""
        why = f" ({f.decision.note})" if f.decision and f.decision.note else ""
        return f"The deploy was denied{who}{why}; the fix was not deployed by this run."
    if f.outcome is RunState.RELEASE_MISMATCH:
        sha = f" {f.release.sha[:7]}" if f.release else " a commit"
        return (
            f"The release job released{sha}, which does not contain the fix or did not pass; "
            "the run stopped there, and the fix is not in production."
        )
    if f.outcome is RunState.DEPLOY_FAILED:
        failed = failed_builds(f)
        what = (
            f"{failed[-1].job} #{failed[-1].number} ended {failed[-1].result}"
            if failed
            else "a stage of the deploy failed"
        )
        return f"The deploy failed: {what}. The fix is not in production."
    return _OUTCOME_TEXT.get(
        f.outcome, f"The run has not ended yet (it is {f.state.value}); this draft is partial."
    )


_OUTCOME_TEXT: dict[RunState | None, str] = {
    RunState.RESOLVED: "The fix was deployed to production and verified; the issue is resolved.",
    RunState.FIX_NOT_VERIFIED: (
        "The deploy completed, but the fix could not be verified in production."
    ),
}
