"""The postmortem draft: what the run's timeline says happened, in the VA.gov postmortem structure.

Two halves, kept apart so that a team can replace the wording without touching the facts:

- `extract_facts` reads a run and its events and returns a typed `PostmortemFacts`: who asked,
  who approved, the builds and their times, the released commit, the editor downtime, the
  verification, the overrides and merges, the chat messages, and what the run itself suggests
  as action items and lessons. Nothing here formats text for people.
- `render` feeds those facts to a Jinja2 template (`templates/postmortem.md.j2`, replaceable by
  `[postmortem] template` in the config) and returns Markdown.

`write_draft` is what the procedure's last step calls: it writes the file and, when the config
says so and a code host is given, opens the pull request (`open_pull_request`). The pull request
lives on a branch named after the run, so a second call (or a step repeated after a crash)
updates the same branch and pull request instead of opening another, and the base branch is
never written to.

Every time is UTC with its date. Event kinds and their details are those the procedure writes
(`KIND_*` below); an event of a kind this module does not know still appears in the timeline.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oob.config import Config, Pipeline
from oob.errors import ConfigError, ProcedureError
from oob.eta import format_minutes, lead_time
from oob.events import (
    KIND_APPROVAL_REQUESTED,
    KIND_APPROVED,
    KIND_BUILD_FINISHED,
    KIND_BUILD_STARTED,
    KIND_CANCELLED,
    KIND_CHECK,
    KIND_DENIED,
    KIND_ENDED,
    KIND_FIX_CONFIRMED,
    KIND_HOLD_RELEASED,
    KIND_HOLD_STARTED,
    KIND_MERGE_DETECTED,
    KIND_MESSAGE_POSTED,
    KIND_PREFLIGHT_PASSED,
    KIND_PREFLIGHT_WAITING,
    KIND_PULL_REQUEST,
    KIND_RELEASE_PICKED,
    KIND_SHIELD_DOWN,
    KIND_SHIELD_UP,
    KIND_STATUS_OVERRIDDEN,
    RELEASE_TAG_PARAMETER,
)
from oob.store import Event, Run, RunState, Source, Store

if TYPE_CHECKING:
    import jinja2

    from oob.ports import CodeHost, PullRequest


TEMPLATE_NAME = "postmortem.md.j2"

# A stage is "much slower than its estimate" past both of these: half again as long, and at
# least five minutes more (a one-minute job taking two is noise, not an action item).
SLOW_FACTOR = 1.5
SLOW_MARGIN_MINUTES = 5.0


# --- the facts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """An approval or a denial: who, when, and what they said."""

    approved: bool
    actor: str
    at: datetime
    note: str


@dataclass(frozen=True)
class BuildFact:
    """One Jenkins build the run triggered or followed."""

    job: str
    number: int
    url: str | None
    result: str | None  # None while the build was still running at the last event
    started_at: datetime
    ended_at: datetime | None
    sha: str | None

    @property
    def duration_minutes(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds() / 60


@dataclass(frozen=True)
class StageFact:
    """A stage of the pipeline as this run saw it, against its estimate."""

    name: str
    estimate_minutes: float
    build: BuildFact | None

    @property
    def actual_minutes(self) -> float | None:
        return None if self.build is None else self.build.duration_minutes

    @property
    def slow(self) -> bool:
        actual = self.actual_minutes
        return (
            actual is not None
            and actual > self.estimate_minutes * SLOW_FACTOR
            and actual > self.estimate_minutes + SLOW_MARGIN_MINUTES
        )


@dataclass(frozen=True)
class Release:
    """The commit the release job picked, and whether it contains the fix."""

    sha: str
    state: str | None
    tag: str | None
    contains_fix: bool | None
    commit_url: str
    compare_url: str
    at: datetime


@dataclass(frozen=True)
class Override:
    """A commit status forced to success by a person."""

    at: datetime
    actor: str
    context: str
    sha: str | None
    previous_state: str | None
    reason: str


@dataclass(frozen=True)
class Merge:
    """A commit that reached the main branch while merges were held."""

    at: datetime
    sha: str
    author: str | None
    message: str
    url: str


@dataclass(frozen=True)
class Message:
    """A chat message oob sent."""

    at: datetime
    audience: str
    channel: str
    purpose: str
    permalink: str | None


@dataclass(frozen=True)
class Check:
    """One verification result: a probe, or a person's confirmation."""

    at: datetime
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Window:
    """A span of time; `end` is None when the run never saw it close."""

    start: datetime
    end: datetime | None

    @property
    def minutes(self) -> float | None:
        return None if self.end is None else (self.end - self.start).total_seconds() / 60


@dataclass(frozen=True)
class ActionItem:
    """A row of the Action Items table."""

    description: str
    type: str
    owner: str = ""
    issue: str = ""


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    source: str
    kind: str
    summary: str


@dataclass(frozen=True)
class PullRequestRecord:
    """A postmortem pull request recorded in the run's timeline."""

    url: str
    number: int
    at: datetime


@dataclass(frozen=True)
class GanttTask:
    """One bar of the Mermaid gantt chart."""

    section: str
    name: str
    start: datetime
    end: datetime
    status: str  # "done", "crit" (failed) or "active" (unfinished when the run ended)


@dataclass(frozen=True)
class PostmortemFacts:
    """Everything the draft says, extracted from one run and its events; no wording."""

    run_id: str
    pipeline: str
    title: str
    slug: str
    incident_date: date
    outcome: RunState | None
    state: RunState
    operator: str
    symptoms: str
    affects: str
    cause: str
    fix_sha: str
    fix_summary: str
    fix_url: str
    release_wait_minutes: float
    requested_at: datetime
    ended_at: datetime | None
    end_reason: str
    approval_requested_at: datetime | None
    eta_at_approval_minutes: float | None
    preflight_wait: Window | None  # first "waiting" to "passed"
    preflight_reasons: tuple[str, ...]
    decision: Decision | None
    cancellation: Decision | None  # approved=False; note is the reason
    builds: tuple[BuildFact, ...]
    stages: tuple[StageFact, ...]
    release: Release | None
    hold: Window | None
    shield: Window | None
    checks: tuple[Check, ...]
    verified: bool | None  # None when verification never ran
    overrides: tuple[Override, ...]
    merges: tuple[Merge, ...]
    messages: tuple[Message, ...]
    pull_requests: tuple[PullRequestRecord, ...]
    lead_time: Window | None  # approval → the run's end, when both are known
    lead_time_estimate_minutes: float
    action_items: tuple[ActionItem, ...]
    went_well: tuple[str, ...]
    went_wrong: tuple[str, ...]
    lucky: tuple[str, ...]
    timeline: tuple[TimelineEntry, ...]
    gantt: tuple[GanttTask, ...] = field(default=())

    @property
    def approver(self) -> str | None:
        return self.decision.actor if self.decision and self.decision.approved else None

    @property
    def released_at(self) -> datetime | None:
        return None if self.release is None else self.release.at

    @property
    def verified_at(self) -> datetime | None:
        passed = [c.at for c in self.checks if c.ok]
        return max(passed) if self.verified and passed else None

    @property
    def gantt_sections(self) -> tuple[tuple[str, tuple[GanttTask, ...]], ...]:
        """The chart's bars grouped by section, sections in the order they first appear."""
        sections: dict[str, list[GanttTask]] = {}
        for task in self.gantt:
            sections.setdefault(task.section, []).append(task)
        return tuple((name, tuple(tasks)) for name, tasks in sections.items())


# --- extraction -------------------------------------------------------------------------------


def extract_facts(run: Run, events: Sequence[Event], config: Config) -> PostmortemFacts:
    """The facts of `run` from its `events` (in the store's order) and the config."""
    github = config.services.github
    web = f"{github.web_url.rstrip('/')}/{github.repository}"
    by_kind: dict[str, list[Event]] = {}
    for event in events:
        by_kind.setdefault(event.kind, []).append(event)

    def last(kind: str) -> Event | None:
        found = by_kind.get(kind)
        return found[-1] if found else None

    def first(kind: str) -> Event | None:
        found = by_kind.get(kind)
        return found[0] if found else None

    # The procedure drafts the postmortem while the run is closing, after it has recorded how
    # the run ends but before the run moves to that outcome: the event is then the only record.
    ended = last(KIND_ENDED)
    outcome = run.outcome or _outcome_of(ended)
    ended_at = run.ended_at or (ended.at if ended is not None and outcome else None)
    decision = _decision(last(KIND_APPROVED), last(KIND_DENIED))
    cancelled = last(KIND_CANCELLED)
    cancellation = (
        Decision(False, cancelled.actor, cancelled.at, _text(cancelled.details.get("reason")))
        if cancelled
        else None
    )
    requested = first(KIND_APPROVAL_REQUESTED)
    eta = requested.details.get("eta_minutes") if requested else None

    builds = _builds(events)
    stages = _stages(config.pipeline, run.release_wait_minutes, builds)
    release = _release(last(KIND_RELEASE_PICKED), run.fix_sha, web, _passed_tag(events))
    hold = _window(first(KIND_HOLD_STARTED), last(KIND_HOLD_RELEASED))
    shield = _window(first(KIND_SHIELD_UP), last(KIND_SHIELD_DOWN))
    checks = tuple(
        Check(
            e.at,
            _text(e.details.get("name")) or "check",
            bool(e.details.get("ok")),
            _text(e.details.get("detail")),
        )
        for e in by_kind.get(KIND_CHECK, [])
    ) + tuple(
        Check(e.at, f"confirmed by {e.actor}", True, _text(e.details.get("note")))
        for e in by_kind.get(KIND_FIX_CONFIRMED, [])
    )
    checks = tuple(sorted(checks, key=lambda c: c.at))
    verified = _verified(outcome, checks)
    waiting = by_kind.get(KIND_PREFLIGHT_WAITING, [])
    preflight_wait = _window(waiting[0], first(KIND_PREFLIGHT_PASSED)) if waiting else None
    reasons = [r for e in waiting for r in e.details.get("reasons") or [] if isinstance(r, str)]
    overrides = tuple(
        Override(
            e.at,
            e.actor,
            _text(e.details.get("context")),
            _opt(e.details.get("sha")),
            _opt(e.details.get("previous_state")),
            _text(e.details.get("reason")),
        )
        for e in by_kind.get(KIND_STATUS_OVERRIDDEN, [])
    )
    merges = tuple(
        Merge(
            e.at,
            _text(e.details.get("sha")),
            _opt(e.details.get("author")),
            _text(e.details.get("message")).splitlines()[0] if e.details.get("message") else "",
            _opt(e.details.get("url")) or f"{web}/commit/{_text(e.details.get('sha'))}",
        )
        for e in by_kind.get(KIND_MERGE_DETECTED, [])
        if e.details.get("sha")
    )
    messages = tuple(
        Message(
            e.at,
            _text(e.details.get("audience")),
            _text(e.details.get("channel")),
            _text(e.details.get("purpose")) or e.summary,
            _opt(e.details.get("permalink")),
        )
        for e in by_kind.get(KIND_MESSAGE_POSTED, [])
    )
    pull_requests = tuple(
        PullRequestRecord(_text(e.details.get("url")), int(e.details.get("number") or 0), e.at)
        for e in by_kind.get(KIND_PULL_REQUEST, [])
    )
    approved_at = decision.at if decision and decision.approved else None
    # Resolution is the moment the fix was seen working; the run ends a little later, once
    # everyone has been told.
    passed = [c.at for c in checks if c.ok]
    resolved_at = max(passed) if passed else ended_at
    lead = (
        Window(approved_at, resolved_at)
        if approved_at and resolved_at and outcome is RunState.RESOLVED
        else None
    )
    estimate = lead_time(
        config.pipeline,
        config.pipeline.release_trigger,
        _trigger_estimate(config.pipeline, run.release_wait_minutes),
    ).total_minutes
    title = _title(run.symptoms)

    facts = PostmortemFacts(
        run_id=run.id,
        pipeline=run.pipeline,
        title=title,
        slug=slugify(title),
        incident_date=run.created_at.astimezone(UTC).date(),
        outcome=outcome,
        state=run.state,
        operator=run.requester,
        symptoms=run.symptoms,
        affects=run.affects,
        cause=run.cause,
        fix_sha=run.fix_sha,
        fix_summary=run.fix_summary,
        fix_url=f"{web}/commit/{run.fix_sha}",
        release_wait_minutes=run.release_wait_minutes,
        requested_at=run.created_at,
        ended_at=ended_at,
        end_reason=_text(ended.details.get("reason")) if ended is not None else "",
        approval_requested_at=requested.at if requested else None,
        eta_at_approval_minutes=float(eta) if isinstance(eta, int | float) else None,
        preflight_wait=preflight_wait,
        preflight_reasons=tuple(dict.fromkeys(reasons)),
        decision=decision,
        cancellation=cancellation,
        builds=builds,
        stages=stages,
        release=release,
        hold=hold,
        shield=shield,
        checks=checks,
        verified=verified,
        overrides=overrides,
        merges=merges,
        messages=messages,
        pull_requests=pull_requests,
        lead_time=lead,
        lead_time_estimate_minutes=estimate,
        action_items=(),
        went_well=(),
        went_wrong=(),
        lucky=(),
        # By time, then by the order written: an event may carry a time from a service
        # (a build's start) that is earlier than events written before it.
        timeline=tuple(
            TimelineEntry(e.at, e.actor, e.source.value, e.kind, e.summary)
            for e in sorted(events, key=lambda e: (e.at, e.id))
        ),
    )
    went_well, went_wrong, lucky = _lessons(facts)
    return replace(
        facts,
        action_items=_action_items(facts),
        went_well=went_well,
        went_wrong=went_wrong,
        lucky=lucky,
        gantt=_gantt(facts),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _time(value: Any) -> datetime | None:
    """A time from event details: an ISO string or epoch milliseconds (as Jenkins gives)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def _decision(approved: Event | None, denied: Event | None) -> Decision | None:
    # Approve and deny are mutually exclusive in the procedure; should both appear, the later
    # one is the one that took effect.
    candidates = [e for e in (approved, denied) if e is not None]
    if not candidates:
        return None
    event = max(candidates, key=lambda e: (e.at, e.id))
    if event.kind == KIND_APPROVED:
        return Decision(True, event.actor, event.at, _text(event.details.get("note")))
    return Decision(False, event.actor, event.at, _text(event.details.get("reason")))


def _builds(events: Iterable[Event]) -> tuple[BuildFact, ...]:
    """Builds by (job, number), the finish event completing what the start event said."""
    found: dict[tuple[str, int], BuildFact] = {}
    for event in events:
        if event.kind not in (KIND_BUILD_STARTED, KIND_BUILD_FINISHED):
            continue
        job, number = event.details.get("job"), event.details.get("number")
        if not isinstance(job, str) or not isinstance(number, int):
            continue
        before = found.get((job, number))
        started = _time(event.details.get("started_at")) or (
            before.started_at if before else event.at
        )
        ended: datetime | None = None
        result = _opt(event.details.get("result"))
        if event.kind == KIND_BUILD_FINISHED:
            duration = event.details.get("duration_seconds")
            ended = (
                started + timedelta(seconds=float(duration))
                if isinstance(duration, int | float) and duration > 0
                else event.at
            )
        found[(job, number)] = BuildFact(
            job=job,
            number=number,
            url=_opt(event.details.get("url")) or (before.url if before else None),
            result=result or (before.result if before else None),
            started_at=started,
            ended_at=ended or (before.ended_at if before else None),
            sha=_opt(event.details.get("sha")) or (before.sha if before else None),
        )
    return tuple(sorted(found.values(), key=lambda b: (b.started_at, b.job, b.number)))


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


def _passed_tag(events: Iterable[Event]) -> str | None:
    """The release tag the release job handed to the stages after it (`release_tag`)."""
    for event in events:
        parameters = event.details.get("parameters")
        if event.kind in (KIND_BUILD_STARTED, KIND_BUILD_FINISHED) and isinstance(parameters, dict):
            tag = _opt(parameters.get(RELEASE_TAG_PARAMETER))
            if tag:
                return tag
    return None


def _release(event: Event | None, fix_sha: str, web: str, passed_tag: str | None) -> Release | None:
    if event is None or not event.details.get("sha"):
        return None
    sha = _text(event.details["sha"])
    contains = event.details.get("contains_fix")
    return Release(
        sha=sha,
        state=_opt(event.details.get("state")),
        tag=_opt(event.details.get("tag")) or passed_tag,
        contains_fix=contains if isinstance(contains, bool) else None,
        commit_url=f"{web}/commit/{sha}",
        compare_url=_opt(event.details.get("compare_url")) or f"{web}/compare/{fix_sha}...{sha}",
        at=event.at,
    )


def _window(start: Event | None, end: Event | None) -> Window | None:
    if start is None:
        return None
    return Window(start.at, end.at if end is not None and end.at >= start.at else None)


def _outcome_of(ended: Event | None) -> RunState | None:
    value = ended.details.get("outcome") if ended is not None else None
    try:
        state = RunState(value) if isinstance(value, str) else None
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


def _title(symptoms: str) -> str:
    line = symptoms.strip().splitlines()[0] if symptoms.strip() else "Out-of-band deployment"
    return line[:1].upper() + line[1:]


def slugify(text: str, max_words: int = 8) -> str:
    """A file-name slug in the VA style: `CMS-PIV-Login-Failure` from "CMS PIV login failure".

    Words keep their own capitals (acronyms stay) and get an upper-case first letter;
    anything that is not a letter or digit separates words.
    """
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w][:max_words]
    return "-".join(w[:1].upper() + w[1:] for w in words) or "Out-Of-Band-Deployment"


def _action_items(f: PostmortemFacts) -> tuple[ActionItem, ...]:
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
    for b in _failed_builds(f):
        items.append(ActionItem(f"Find out why {b.job} #{b.number} ended {b.result}", "Bug"))
    failed = [c for c in f.checks if not c.ok]
    if f.verified is False:
        detail = f": {failed[-1].name} ({failed[-1].detail})" if failed else ""
        items.append(
            ActionItem(f"Find out why the fix was not verified in production{detail}", "Bug")
        )
    return tuple(items)


def _failed_builds(f: PostmortemFacts) -> list[BuildFact]:
    # A release job stopped by `oob cancel` ends ABORTED by design: not a failure to chase.
    return [
        b
        for b in f.builds
        if b.result not in (None, "SUCCESS")
        and not (b.result == "ABORTED" and f.cancellation is not None)
    ]


def _lessons(f: PostmortemFacts) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """What went well, what went wrong, where we got lucky: the facts the run has for each."""
    return tuple(_went_well(f)), tuple(_went_wrong(f)), tuple(_lucky(f))


def _restored_in_time(f: PostmortemFacts) -> bool | None:
    if f.lead_time is None or f.lead_time.minutes is None:
        return None
    return f.lead_time.minutes <= f.lead_time_estimate_minutes


def _restored_line(f: PostmortemFacts) -> str:
    assert f.lead_time is not None
    return (
        f"Service was restored {_minutes(f.lead_time.minutes)} after approval "
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
        waited = f" {_minutes(f.preflight_wait.minutes)}" if f.preflight_wait.end else ""
        wrong.append(
            f"Pre-flight had to wait{waited}: " + "; ".join(f.preflight_reasons or ("not ready",))
        )
    wrong += [f"The {o.context} status had to be overridden by {o.actor}." for o in f.overrides]
    wrong += [f"{m.sha[:7]} was merged during the merge hold." for m in f.merges]
    wrong += [
        f"{s.name} took {_minutes(s.actual_minutes)} "
        f"(estimate {format_minutes(s.estimate_minutes)})."
        for s in f.stages
        if s.slow
    ]
    if f.release is not None and f.release.contains_fix is False:
        wrong.append(f"The release job released {f.release.sha[:7]}, which lacks the fix.")
    wrong += [f"{b.job} #{b.number} ended {b.result}." for b in _failed_builds(f)]
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


# --- rendering --------------------------------------------------------------------------------


def format_utc(value: datetime | None, *, seconds: bool = True) -> str:
    """`2023-06-23 14:05:07 UTC`: every time in the draft, with its date."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    )


def _mermaid_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _mermaid_name(text: str) -> str:
    # Colons, semicolons and hashes end or comment a task line in Mermaid's gantt syntax.
    return re.sub(r"[:;#]", " ", text).strip()


def _cell(value: object) -> str:
    """A value safe inside a Markdown table cell: pipes escaped, one line."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _sentence(text: str) -> str:
    """`text` ending with a full stop, unless it already ends a sentence."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else f"{text}."


def _minutes(value: float | None) -> str:
    return "—" if value is None else format_minutes(value)


def _environment(loader: jinja2.BaseLoader) -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=loader,
        # The output is Markdown, not HTML: HTML-escaping would print `&#39;` in the draft.
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        utc=format_utc,
        minutes=_minutes,
        cell=_cell,
        sentence=_sentence,
        short=lambda sha: (sha or "")[:7],
        mermaid_time=_mermaid_time,
        mermaid_name=_mermaid_name,
    )
    return env


def _template(config: Config) -> jinja2.Template:
    """The configured template (relative to the config file), else the built-in one."""
    import jinja2

    custom = config.postmortem.template
    try:
        if custom is None:
            return _environment(jinja2.PackageLoader("oob", "templates")).get_template(
                TEMPLATE_NAME
            )
        if not custom.is_absolute() and config.source is not None:
            custom = config.source.parent / custom
        env = _environment(jinja2.FileSystemLoader(custom.parent))
        return env.get_template(custom.name)
    except jinja2.TemplateNotFound:
        raise ConfigError(
            f"postmortem template {custom} not found",
            hint="fix [postmortem] template in the config, or remove it to use the built-in one",
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"postmortem template {exc.filename or custom}:{exc.lineno}: {exc.message}"
        ) from None


def render(facts: PostmortemFacts, config: Config) -> str:
    """The draft as Markdown, from the configured (or built-in) template."""
    import jinja2

    template = _template(config)
    github = config.services.github
    try:
        return template.render(
            facts=facts,
            outcome_text=_outcome_text(facts),
            repository=github.repository,
            repository_url=f"{github.web_url.rstrip('/')}/{github.repository}",
            due=due_date(facts.ended_at or facts.requested_at),
        )
    except jinja2.TemplateError as exc:
        raise ConfigError(
            f"the postmortem template failed: {exc}",
            hint="a custom template may only use the names the built-in one uses",
        ) from None


def _outcome_text(f: PostmortemFacts) -> str:
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
        failed = _failed_builds(f)
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


def due_date(ended: datetime) -> date:
    """Two business days after `ended` (UTC): when the postmortem pull request is due."""
    day = ended.astimezone(UTC).date()
    left = 2
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


# --- the draft, the file and the pull request -------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A rendered draft and where it belongs in the postmortems repository."""

    facts: PostmortemFacts
    text: str
    repository_path: str


@dataclass(frozen=True)
class DraftResult:
    """What `write_draft` did: the local file and, if opened, the pull request."""

    path: Path
    repository_path: str
    pull_request: PullRequest | None

    @property
    def pr_url(self) -> str | None:
        return None if self.pull_request is None else self.pull_request.url


def repository_path(facts: PostmortemFacts, config: Config) -> str:
    """The draft's path in the postmortems repository, from `[postmortem] path`.

    Placeholders: `{year}`, `{month}`, `{day}`, `{date}` (VA style, no zero padding:
    `2023-6-23`), `{slug}` (from the symptoms) and `{run_id}`.
    """
    from pathlib import PurePosixPath

    d = facts.incident_date
    values = {
        "year": d.year,
        "month": d.month,
        "day": d.day,
        "date": f"{d.year}-{d.month}-{d.day}",
        "slug": facts.slug,
        "run_id": facts.run_id,
    }
    pattern = config.postmortem.path
    try:
        path = pattern.format_map(values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"[postmortem] path {pattern!r}: cannot fill it in ({exc})",
            hint="use only {year}, {month}, {day}, {date}, {slug} and {run_id}",
        ) from None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.name:
        raise ConfigError(
            f"[postmortem] path {pattern!r} gives {path!r}",
            hint="give a relative path inside the postmortems repository",
        )
    return str(pure)


def build_draft(store: Store, config: Config, run_id: str) -> Draft:
    """Render the draft of run `run_id` from the store (`RunNotFound` if there is none)."""
    run = store.run(run_id)
    events = store.events(run_id)
    events += _overrides_outside(store, run, events)
    facts = extract_facts(run, events, config)
    return Draft(facts, render(facts, config), repository_path(facts, config))


def _overrides_outside(store: Store, run: Run, events: Sequence[Event]) -> list[Event]:
    """Status overrides in the audit log outside any run, on the run's fix or released commit.

    People override a flaky status before they start a deploy, so the override is audited
    without a run; it belongs to this run's story when it is about the commits the run shipped.
    """
    shas = [run.fix_sha] + [
        str(e.details["sha"])
        for e in events
        if e.kind == KIND_RELEASE_PICKED and e.details.get("sha")
    ]

    def ours(sha: object) -> bool:
        # Either side may be a short SHA.
        return (
            isinstance(sha, str)
            and len(sha) >= 7
            and any(s.startswith(sha) or sha.startswith(s) for s in shas)
        )

    until = run.ended_at
    return [
        e
        for e in store.events(None)
        if e.kind == KIND_STATUS_OVERRIDDEN
        and ours(e.details.get("sha"))
        and (until is None or e.at <= until)
    ]


def branch_name(run_id: str) -> str:
    """The postmortem branch of a run: derived from the run, so every retry finds it again."""
    return f"oob/postmortem-{run_id}"


def open_pull_request(
    store: Store,
    config: Config,
    code_host: CodeHost,
    draft: Draft,
    *,
    actor: str,
    source: Source | str,
) -> PullRequest:
    """Commit the draft to the run's branch and open (or find) its pull request.

    Idempotent: the branch and the pull request are found again by the run's branch name, the
    file is updated in place, and the timeline gets one event per pull request.
    """
    settings = config.postmortem
    run_id = draft.facts.run_id
    branch = branch_name(run_id)
    if branch == settings.base_branch:
        raise ProcedureError(
            f"the postmortem branch {branch!r} is the base branch",
            hint="set [postmortem] base_branch to the branch pull requests go to",
        )
    code_host.ensure_branch(settings.repository, branch, settings.base_branch)
    code_host.put_file(
        settings.repository,
        branch,
        draft.repository_path,
        draft.text,
        f"Postmortem draft: {draft.facts.title} (oob run {run_id})",
    )
    pr = code_host.ensure_pull_request(
        settings.repository,
        branch,
        settings.base_branch,
        f"Postmortem: {draft.facts.title}",
        _pull_request_body(draft),
    )
    store.append_event(
        run_id,
        actor=actor,
        source=source,
        kind=KIND_PULL_REQUEST,
        summary=f"Postmortem pull request #{pr.number} opened in {settings.repository}",
        details={
            "repository": settings.repository,
            "branch": branch,
            "base": settings.base_branch,
            "path": draft.repository_path,
            "number": pr.number,
            "url": pr.url,
        },
        key=f"{run_id}:{KIND_PULL_REQUEST}:{settings.repository}#{pr.number}",
    )
    return pr


def _pull_request_body(draft: Draft) -> str:
    f = draft.facts
    due = due_date(f.ended_at or f.requested_at)
    return (
        f"Postmortem draft for the out-of-band deployment of `{f.fix_sha[:7]}` "
        f"(oob run `{f.run_id}`), written by oob from the run's timeline.\n\n"
        f"{_outcome_text(f)}\n\n"
        "Before merging: expand the root causes, fill in the action items' owners and issues, "
        "and write the lessons learned. The timeline and the figures come from the run; "
        "correct them if they are wrong.\n\n"
        f"Due: {due.isoformat()} (two business days after the run ended).\n"
    )


def write_draft(
    store: Store,
    config: Config,
    run_id: str,
    code_host: CodeHost | None = None,
    *,
    directory: Path,
    actor: str = "oob",
    source: Source | str = Source.WORKER,
) -> DraftResult:
    """Write the draft under `directory` (at its repository path) and, when `code_host` is
    given and `[postmortem] open_pull_request` is true, open or update its pull request.

    The file is written first, so a failing code host still leaves the draft on disk; the
    `IntegrationError` then propagates and a retry is safe.
    """
    draft = build_draft(store, config, run_id)
    path = directory / draft.repository_path
    _write(path, draft.text)
    pr = None
    if code_host is not None and config.postmortem.open_pull_request:
        pr = open_pull_request(store, config, code_host, draft, actor=actor, source=source)
    return DraftResult(path, draft.repository_path, pr)


def write_file(path: Path, draft: Draft) -> None:
    """Write `draft` to `path`, creating its directories."""
    _write(path, draft.text)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed, so a reader never sees half a draft.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


__all__ = [
    "ActionItem",
    "BuildFact",
    "Check",
    "Decision",
    "Draft",
    "DraftResult",
    "GanttTask",
    "Merge",
    "Message",
    "Override",
    "PostmortemFacts",
    "Release",
    "StageFact",
    "TimelineEntry",
    "Window",
    "branch_name",
    "build_draft",
    "due_date",
    "extract_facts",
    "format_utc",
    "open_pull_request",
    "render",
    "repository_path",
    "slugify",
    "write_draft",
    "write_file",
]
