"""Jenkins's side of the world: jobs, the queue, builds and their console logs.

These are plain records; `world.World` moves them through time. A build's log is a list of
(simulated time, line) pairs, some written ahead of time for the steady work of a long job: a
reader sees only the lines whose time has come, so logs grow as the clock runs.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from oob.sandbox.scenario import JobSpec


@dataclass
class Build:
    """One run of a job."""

    job: JobSpec
    number: int
    queue_id: int
    parameters: dict[str, str]
    causes: list[dict[str, Any]]
    sha: str
    start: float
    planned_end: float
    lines: list[tuple[float, str]] = field(default_factory=list)
    result: str | None = None
    end: float | None = None
    released_sha: str | None = None
    release_tag: str | None = None
    during_scenario: bool = True

    @property
    def building(self) -> bool:
        """True until the build has a result."""
        return self.result is None

    def write(self, at: float, *lines: str) -> None:
        """Append lines to the log, stamped `at` (they appear once the clock reaches it)."""
        self.lines.extend((at, line) for line in lines)

    def log(self, now: float) -> bytes:
        """The console text written up to `now`: only complete lines, each ending in a newline,
        without the hidden console notes (what `consoleText` and `progressiveText` show)."""
        return strip_notes(self.raw_log(now))

    def raw_log(self, now: float) -> bytes:
        """The log file as Jenkins stores it: lines with their hidden console notes."""
        return "".join(f"{annotate(line)}\n" for at, line in self.lines if at <= now).encode()

    def cut_log(self, now: float) -> None:
        """Forget lines planned for after `now` (the build was stopped before writing them)."""
        self.lines = [(at, line) for at, line in self.lines if at <= now]


# A console note as Jenkins writes it into the log file (`ConsoleNote.encode`): an ANSI "hidden"
# escape around `ha:` and a base64 serialized object. Plain-text views strip them, yet byte offsets
# (`start`, `X-Text-Size`) count them.
NOTE_START = "\x1b[8mha:"
NOTE_END = "\x1b[0m"
_NOTE = re.compile(rb"\x1b\[8mha:[A-Za-z0-9+/=]*\x1b\[0m")
_ANNOTATED = ("[Pipeline] ", "Started by ")


def console_note(line: str) -> str:
    """A deterministic stand-in for the note Jenkins attaches to `line` (pipeline steps and
    causes carry one): as long as real ones, so offsets differ from the plain text as they do."""
    digest = hashlib.sha256(line.encode()).digest() * 4
    return f"{NOTE_START}////4{base64.b64encode(digest).decode()}{NOTE_END}"


def annotate(line: str) -> str:
    """`line` as stored in the log file: with its console note, if its kind carries one."""
    return console_note(line) + line if line.startswith(_ANNOTATED) else line


def strip_notes(raw: bytes) -> bytes:
    """The plain text of a log file: console notes removed (`PlainTextConsoleOutputStream`)."""
    return _NOTE.sub(b"", raw)


@dataclass
class QueueItem:
    """An entry of the build queue; it leaves when its quiet period ends or it is cancelled."""

    id: int
    job: JobSpec
    parameters: dict[str, str]
    causes: list[dict[str, Any]]
    sha: str | None
    in_queue_since: float
    leaves_at: float
    left_at: float | None = None
    cancelled: bool = False
    build: Build | None = None
    # Jenkins's item classes: "waiting" (quiet period), "blocked" (a build of a job that runs
    # one at a time is in progress), "buildable" (waiting for an executor), then left.
    state: str = "waiting"
    buildable_since: float | None = None
    folds: int = 0
    """How many identical requests were folded into this item."""

    @property
    def in_queue(self) -> bool:
        """True until the item has left the queue (started or cancelled)."""
        return self.left_at is None


@dataclass
class Job:
    """A job with its build history (oldest first) and the number its next build gets."""

    spec: JobSpec
    next_number: int
    builds: list[Build] = field(default_factory=list)

    def build(self, number: int) -> Build | None:
        """The build numbered `number`, if it exists."""
        return next((b for b in self.builds if b.number == number), None)


def user_cause(user: str) -> dict[str, Any]:
    """The cause Jenkins records for a build someone started (by UI or API token)."""
    return {
        "_class": "hudson.model.Cause$UserIdCause",
        "shortDescription": f"Started by user {user}",
        "userId": user,
        "userName": user,
    }


def upstream_cause(build: Build) -> dict[str, Any]:
    """The cause of a build that an upstream build triggered."""
    return {
        "_class": "hudson.model.Cause$UpstreamCause",
        "shortDescription": (
            f'Started by upstream project "{build.job.path}" build number {build.number}'
        ),
        "upstreamBuild": build.number,
        "upstreamProject": build.job.path,
        "upstreamUrl": job_url_path(build.job.path),
    }


def push_cause(pusher: str) -> dict[str, Any]:
    """The cause of a build a push to GitHub started."""
    return {
        "_class": "com.cloudbees.jenkins.GitHubPushCause",
        "shortDescription": f"Started by GitHub push by {pusher}",
    }


def timer_cause() -> dict[str, Any]:
    """The cause of a scheduled build (the daily deploy)."""
    return {
        "_class": "hudson.triggers.TimerTrigger$TimerTriggerCause",
        "shortDescription": "Started by timer",
    }


def job_url_path(path: str) -> str:
    """`deploys/cms-auto-deploy` → `job/deploys/job/cms-auto-deploy/`."""
    return "".join(f"job/{part}/" for part in path.split("/"))
