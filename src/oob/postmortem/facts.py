"""The facts of a postmortem: typed values read from one run and its events, no wording.

`oob.postmortem.extract.extract_facts` builds a `PostmortemFacts`; the heuristics of
`oob.postmortem.lessons` add what they suggest (action items, lessons, in English), and the
template of `oob.postmortem.render` only reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from oob.store import RunState

if TYPE_CHECKING:
    from oob.postmortem.lessons import ActionItem

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
class TimelineEntry:
    at: datetime
    actor: str
    source: str
    kind: str
    summary: str


@dataclass(frozen=True)
class PullRequestRecord:
    """A postmortem pull request recorded in the run's timeline. The draft links to it; its
    number and time are there for a team's own template."""

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
    audit_events: int = 0  # the run's events when the draft was written (`oob audit verify`)
    audit_head: str | None = None  # the hash of the last of them: the chain's head

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


def title_of(symptoms: str) -> str:
    """The draft's title: the first line of the symptoms, capitalised."""
    line = symptoms.strip().splitlines()[0] if symptoms.strip() else "Out-of-band deployment"
    return line[:1].upper() + line[1:]


def slugify(text: str, max_words: int = 8) -> str:
    """A file-name slug in the VA style: `CMS-PIV-Login-Failure` from "CMS PIV login failure".

    Words keep their own capitals (acronyms stay) and get an upper-case first letter;
    anything that is not a letter or digit separates words.
    """
    words = [w for w in re.split(r"[^0-9A-Za-z]+", text) if w][:max_words]
    return "-".join(w[:1].upper() + w[1:] for w in words) or "Out-Of-Band-Deployment"
