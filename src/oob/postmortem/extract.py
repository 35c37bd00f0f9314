"""`extract_facts`: a run and its events (in the store's order) turned into `PostmortemFacts`.

Event kinds and their details are those the procedure writes (`oob.events`); an event of a kind
this module does not know still appears in the timeline. Every time is UTC with its date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from oob.config import Config, Pipeline
from oob.eta import lead_time
from oob.events import (
    DECISIONS,
    KIND_APPROVAL_REQUESTED,
    KIND_APPROVED,
    KIND_COMMAND_REFUSED,
    KIND_DENIED,
    KIND_ENDED,
    KIND_HOLD_RELEASED,
    KIND_HOLD_STARTED,
    KIND_POSTMORTEM,
    KIND_PREFLIGHT_PASSED,
    KIND_PREFLIGHT_WAITING,
    KIND_SHIELD_DOWN,
    KIND_SHIELD_UP,
    KIND_STEP_FINISHED,
    KIND_STEP_STARTED,
    RELEASE_TAG_PARAMETER,
    ApprovalRequested,
    BuildRecord,
    Cancelled,
    CheckResult,
    Ended,
    FixConfirmed,
    MergeDetected,
    MessagePosted,
    PreflightWaiting,
    PullRequestOpened,
    ReleasePicked,
    StatusOverridden,
)
from oob.payload import Payload
from oob.plan import Outline
from oob.postmortem.facts import (
    BuildFact,
    Check,
    Decision,
    GanttTask,
    Merge,
    Message,
    Override,
    PostmortemFacts,
    PullRequestRecord,
    Release,
    StageFact,
    TimelineEntry,
    Window,
    slugify,
    title_of,
)
from oob.postmortem.lessons import with_lessons
from oob.readmodel import fold
from oob.store import Event, Run, RunState

P = TypeVar("P", bound=Payload)

# Event kinds the draft's timeline leaves out (every other kind, even one this module does not
# know, is shown).
TIMELINE_OMITS = frozenset(
    {KIND_STEP_STARTED, KIND_STEP_FINISHED, KIND_COMMAND_REFUSED, KIND_POSTMORTEM}
)


class _Events:
    """A run's events by kind, in the store's order."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.all = events
        self.by_kind: dict[str, list[Event]] = {}
        for event in events:
            self.by_kind.setdefault(event.kind, []).append(event)

    def of(self, kind: str) -> list[Event]:
        return self.by_kind.get(kind, [])

    def first(self, kind: str) -> Event | None:
        found = self.of(kind)
        return found[0] if found else None

    def last(self, kind: str) -> Event | None:
        found = self.of(kind)
        return found[-1] if found else None

    def read(self, payload: type[P]) -> list[tuple[Event, P]]:
        """The events of `payload`'s kind, each with its payload (malformed ones left out)."""
        return [(e, p) for e in self.of(payload.KIND) if (p := payload.of(e)) is not None]


def extract_facts(run: Run, events: Sequence[Event], config: Config) -> PostmortemFacts:
    """The facts of `run` from its `events` (in the store's order) and the config."""
    github = config.services.github
    web = f"{github.web_url.rstrip('/')}/{github.repository}"
    ev = _Events(events)
    # The procedure drafts the postmortem while the run is closing, after it has recorded how
    # the run ends but before the run moves to that outcome: the event is then the only record.
    ended = ev.last(KIND_ENDED)
    end = Ended.of(ended)
    outcome = run.outcome or _outcome_of(end)
    ended_at = run.ended_at or (ended.at if ended is not None and outcome else None)
    decision = _decision(ev.last(KIND_APPROVED), ev.last(KIND_DENIED))
    requested = ev.first(KIND_APPROVAL_REQUESTED)
    asked = ApprovalRequested.of(requested)
    # The run as every view reads it (`oob.readmodel.fold`), as of its last event.
    now = ended_at or max((e.at for e in events), default=run.created_at)
    shot = fold(run, events, Outline.of(config), now)
    builds = _builds(shot.builds)
    checks = _checks(ev)
    waiting = ev.of(KIND_PREFLIGHT_WAITING)
    facts = PostmortemFacts(
        **_incident(run, web),
        outcome=outcome,
        ended_at=ended_at,
        end_reason=end.reason if end is not None else "",
        approval_requested_at=requested.at if requested else None,
        eta_at_approval_minutes=asked.eta_minutes if asked is not None else None,
        preflight_wait=_window(waiting[0], ev.first(KIND_PREFLIGHT_PASSED)) if waiting else None,
        preflight_reasons=_reasons(ev),
        decision=decision,
        cancellation=_cancellation(ev),
        builds=builds,
        stages=_stages(config.pipeline, run.release_wait_minutes, builds),
        release=_release(ev, run.fix_sha, web, _passed_tag(shot.builds)),
        hold=_window(ev.first(KIND_HOLD_STARTED), ev.last(KIND_HOLD_RELEASED)),
        shield=_window(ev.first(KIND_SHIELD_UP), ev.last(KIND_SHIELD_DOWN)),
        checks=checks,
        verified=_verified(outcome, checks),
        overrides=_overrides(ev),
        merges=_merges(ev, web),
        messages=_messages(ev),
        pull_requests=_pull_requests(ev),
        lead_time=_lead_time(decision, checks, ended_at, outcome),
        lead_time_estimate_minutes=lead_time(
            config.pipeline,
            config.pipeline.release_trigger,
            _trigger_estimate(config.pipeline, run.release_wait_minutes),
        ).total_minutes,
        action_items=(),
        went_well=(),
        went_wrong=(),
        lucky=(),
        timeline=_timeline(events),
    )
    return replace(with_lessons(facts), gantt=_gantt(facts))


def _incident(run: Run, web: str) -> dict[str, Any]:
    """What the run was asked to do, as the person asking put it."""
    title = title_of(run.symptoms)
    return {
        "run_id": run.id,
        "pipeline": run.pipeline,
        "title": title,
        "slug": slugify(title),
        "incident_date": run.created_at.astimezone(UTC).date(),
        "state": run.state,
        "operator": run.requester,
        "symptoms": run.symptoms,
        "affects": run.affects,
        "cause": run.cause,
        "fix_sha": run.fix_sha,
        "fix_summary": run.fix_summary,
        "fix_url": f"{web}/commit/{run.fix_sha}",
        "release_wait_minutes": run.release_wait_minutes,
        "requested_at": run.created_at,
    }


def _timeline(events: Sequence[Event]) -> tuple[TimelineEntry, ...]:
    """What a postmortem reader needs: decisions, builds, messages, merges, overrides, checks
    and the outcome; not the procedure's own bookkeeping (each step's start and end, refused
    commands, the draft itself). A check or wait repeated unchanged is one row.

    By time, then by the order written: an event may carry a time from a service (a build's
    start) that is earlier than events written before it.
    """
    entries: list[TimelineEntry] = []
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        if e.kind in TIMELINE_OMITS:
            continue
        if entries and (entries[-1].kind, entries[-1].summary) == (e.kind, e.summary):
            continue
        entries.append(TimelineEntry(e.at, e.actor, e.source.value, e.kind, e.summary))
    return tuple(entries)


def _cancellation(ev: _Events) -> Decision | None:
    found = ev.read(Cancelled)
    if not found:
        return None
    event, cancelled = found[-1]
    return Decision(False, event.actor, event.at, cancelled.text)


def _reasons(ev: _Events) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(r for _, waiting in ev.read(PreflightWaiting) for r in waiting.reasons)
    )


def _checks(ev: _Events) -> tuple[Check, ...]:
    """Probe results and people's confirmations, by time."""
    checks = [Check(e.at, c.name or "check", c.ok, c.detail) for e, c in ev.read(CheckResult)] + [
        Check(e.at, f"confirmed by {e.actor}", True, c.text) for e, c in ev.read(FixConfirmed)
    ]
    return tuple(sorted(checks, key=lambda c: c.at))


def _overrides(ev: _Events) -> tuple[Override, ...]:
    return tuple(
        Override(e.at, e.actor, o.context, o.sha or None, o.previous_state or None, o.reason)
        for e, o in ev.read(StatusOverridden)
    )


def _merges(ev: _Events, web: str) -> tuple[Merge, ...]:
    return tuple(
        Merge(
            e.at,
            m.sha,
            m.author or None,
            m.message.splitlines()[0] if m.message else "",
            m.url or f"{web}/commit/{m.sha}",
        )
        for e, m in ev.read(MergeDetected)
        if m.sha
    )


def _messages(ev: _Events) -> tuple[Message, ...]:
    return tuple(
        Message(e.at, m.audience, m.channel, m.purpose or e.summary, m.permalink or None)
        for e, m in ev.read(MessagePosted)
    )


def _pull_requests(ev: _Events) -> tuple[PullRequestRecord, ...]:
    return tuple(PullRequestRecord(p.url, p.number, e.at) for e, p in ev.read(PullRequestOpened))


def _lead_time(
    decision: Decision | None,
    checks: Sequence[Check],
    ended_at: datetime | None,
    outcome: RunState | None,
) -> Window | None:
    """Approval to resolution, for a resolved run.

    Resolution is the moment the fix was seen working; the run ends a little later, once
    everyone has been told.
    """
    approved_at = decision.at if decision and decision.approved else None
    passed = [c.at for c in checks if c.ok]
    resolved_at = max(passed) if passed else ended_at
    if approved_at and resolved_at and outcome is RunState.RESOLVED:
        return Window(approved_at, resolved_at)
    return None


def _decision(approved: Event | None, denied: Event | None) -> Decision | None:
    # Approve and deny are mutually exclusive in the procedure; should both appear, the later
    # one is the one that took effect.
    candidates = [e for e in (approved, denied) if e is not None]
    if not candidates:
        return None
    event = max(candidates, key=lambda e: (e.at, e.id))
    decided = DECISIONS[event.kind].of(event)
    text = decided.text if decided is not None else ""
    return Decision(event.kind == KIND_APPROVED, event.actor, event.at, text)


def _builds(followed: Iterable[BuildRecord]) -> tuple[BuildFact, ...]:
    return tuple(
        BuildFact(b.job, b.number, b.url, b.result, b.started_at, b.ended_at) for b in followed
    )


def _trigger_estimate(pipeline: Pipeline, release_wait: float) -> dict[str, float]:
    # The release job's estimate in the runbook is its wait; a run that set another wait
    # is measured against the wait it asked for.
    return {pipeline.trigger.name: release_wait} if release_wait > 0 else {}


def _stages(
    pipeline: Pipeline, release_wait: float, builds: Sequence[BuildFact]
) -> tuple[StageFact, ...]:
    """The stages the run followed (release trigger to production) plus any other stage of
    which it recorded a build (the test gate's, checked in pre-flight)."""
    estimates = _trigger_estimate(pipeline, release_wait)
    followed = {s.name for s in [pipeline.trigger, *pipeline.to_production]}
    stages = []
    for stage in pipeline.stages:
        mine = [b for b in builds if stage.job and b.job.lower() == stage.job.lower()]
        if stage.name not in followed and not mine:
            continue
        stages.append(
            StageFact(
                name=stage.name,
                estimate_minutes=estimates.get(stage.name, stage.estimate_minutes),
                build=mine[-1] if mine else None,
            )
        )
    return tuple(stages)


def _passed_tag(followed: Iterable[BuildRecord]) -> str | None:
    """The release tag the release job handed to the stages after it (`release_tag`)."""
    for build in followed:
        if tag := build.parameters.get(RELEASE_TAG_PARAMETER):
            return tag
    return None


def _release(ev: _Events, fix_sha: str, web: str, passed_tag: str | None) -> Release | None:
    found = ev.read(ReleasePicked)
    if not found or not found[-1][1].sha:
        return None
    event, picked = found[-1]
    return Release(
        sha=picked.sha,
        state=picked.state or None,
        tag=picked.tag or passed_tag,
        contains_fix=picked.contains_fix,
        commit_url=f"{web}/commit/{picked.sha}",
        compare_url=picked.compare_url or f"{web}/compare/{fix_sha}...{picked.sha}",
        at=event.at,
    )


def _window(start: Event | None, end: Event | None) -> Window | None:
    if start is None:
        return None
    return Window(start.at, end.at if end is not None and end.at >= start.at else None)


def _outcome_of(ended: Ended | None) -> RunState | None:
    try:
        state = RunState(ended.outcome) if ended is not None else None
    except ValueError:
        return None
    return state if state is not None and state.terminal else None


def _verified(outcome: RunState | None, checks: Sequence[Check]) -> bool | None:
    if outcome is RunState.RESOLVED:
        return True
    if outcome is RunState.FIX_NOT_VERIFIED:
        return False
    if not checks:
        return None
    return all(c.ok for c in checks)


def _gantt(f: PostmortemFacts) -> tuple[GanttTask, ...]:
    """The bars of the chart: approval, merge hold, each build, the downtime, verification."""
    ends = [e.at for e in f.timeline]
    last_seen = f.ended_at or (max(ends) if ends else f.requested_at)
    tasks: list[GanttTask] = []

    def add(section: str, name: str, start: datetime, end: datetime | None, status: str) -> None:
        tasks.append(GanttTask(section, name, start, end or last_seen, status if end else "active"))

    asked = f.approval_requested_at or f.requested_at
    if f.decision is not None:
        verb = "approved" if f.decision.approved else "denied"
        add(
            "Approval",
            f"Approval ({verb})",
            asked,
            f.decision.at,
            "done" if f.decision.approved else "crit",
        )
    elif f.outcome is None:
        add("Approval", "Awaiting approval", asked, None, "active")
    if f.preflight_wait is not None:
        add("Approval", "Pre-flight wait", f.preflight_wait.start, f.preflight_wait.end, "crit")
    if f.hold is not None:
        add("Merges", "Merge hold", f.hold.start, f.hold.end, "crit" if f.merges else "done")
    for b in f.builds:
        failed = b.result not in (None, "SUCCESS")
        add(
            "Jenkins", f"{b.job} {b.number}", b.started_at, b.ended_at, "crit" if failed else "done"
        )
    if f.shield is not None:
        add("Editors", "Deploy shield (editor downtime)", f.shield.start, f.shield.end, "crit")
    if f.checks:
        start = f.shield.end if f.shield is not None and f.shield.end else f.checks[0].at
        end = max(c.at for c in f.checks)
        add("Verification", "Verification", min(start, end), end, "done" if f.verified else "crit")
    return tuple(tasks)
