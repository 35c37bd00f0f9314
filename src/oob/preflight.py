"""Pre-flight: the runbook's Preparation step, as one typed report.

Before an out-of-band deploy, three things must hold for the fix commit:

1. the test gate (`testing/cms-post-deploy-tests-staging`) has a SUCCESS build whose tested commit
   contains the fix (is it, or descends from it);
2. the fix's combined status is success, with every required context reported and passing (the
   pipeline sets them all to pending first, so a missing one means "not yet", not "fine");
3. the release branch contains the fix; commits after it are named, since the release job takes
   the newest passing commit of the branch, which may be one of them.

`preflight` only reads, the three at once (threads inside the call, so inside the procedure's
step: the workflow itself stays deterministic); `oob check` prints its report and the procedure
runs it again while it waits for the fix to be ready.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from oob.clock import Clock
from oob.config import Config, Stage
from oob.errors import UsageError
from oob.ports import Build, BuildServer, CodeHost, Commit, StatusState

_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
# How many recent builds of a job are searched for one containing the fix.
BUILDS_SEARCHED = 30
# Commit and build clocks differ; a build that started this long before the fix was committed
# cannot have tested it, and the search stops there.
_CLOCK_SKEW = timedelta(hours=1)


def validate_sha(text: str) -> str:
    """`text` as a lower-case hex SHA of 7 to 40 digits, or a UsageError."""
    value = text.strip()
    if not _SHA.match(value):
        raise UsageError(
            f"{text!r} is not a commit SHA",
            hint="give 7 to 40 hex digits, e.g. `git rev-parse --short HEAD`",
        )
    return value.lower()


def resolve_fix(code_host: CodeHost, text: str) -> str:
    """The full SHA of the fix commit `text` names; `UsageError` when it is no SHA or the
    repository has no such commit."""
    return code_host.commit(validate_sha(text)).sha


class GateState(StrEnum):
    PASSED = "passed"  # a finished SUCCESS build tested a commit containing the fix
    RUNNING = "running"  # none passed yet, but one that may contain the fix is running
    FAILED = "failed"  # the newest finished build containing the fix did not succeed
    NONE = "none"  # no recent build tested a commit containing the fix


@dataclass(frozen=True)
class GateFinding:
    job: str
    state: GateState
    build: Build | None
    expected_finish: datetime | None = None  # for a running build

    @property
    def finished_at(self) -> datetime | None:
        build = self.build
        if build is None or build.building:
            return None
        return build.started_at + timedelta(seconds=build.duration_seconds)


@dataclass(frozen=True)
class ContextRow:
    context: str
    state: StatusState | None  # None: never reported on the commit
    required: bool
    description: str | None = None
    target_url: str | None = None

    @property
    def label(self) -> str:
        return self.state.value if self.state else "missing"


@dataclass(frozen=True)
class StatusFinding:
    sha: str
    state: StatusState
    contexts: tuple[ContextRow, ...]

    @property
    def failing(self) -> tuple[str, ...]:
        bad = (StatusState.FAILURE, StatusState.ERROR)
        return tuple(c.context for c in self.contexts if c.required and c.state in bad)

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(
            c.context for c in self.contexts if c.required and c.state is StatusState.PENDING
        )

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c.context for c in self.contexts if c.required and c.state is None)

    @property
    def passing(self) -> bool:
        required_ok = all(c.state is StatusState.SUCCESS for c in self.contexts if c.required)
        return required_ok and self.state is StatusState.SUCCESS


@dataclass(frozen=True)
class BranchFinding:
    branch: str
    contains_fix: bool
    commits_after: tuple[Commit, ...]


@dataclass(frozen=True)
class Finding:
    """Something that stands in the way (a problem) or deserves attention (a warning)."""

    what: str
    todo: str


@dataclass(frozen=True)
class Report:
    fix: Commit
    checked_at: datetime
    gate: GateFinding
    status: StatusFinding
    branch: BranchFinding
    stage: str | None  # the pipeline stage the fix is at now; None once past the gate
    following: Build | None = None  # the running build carrying the fix to the gate, if any
    problems: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return not self.problems

    @property
    def expected_finish(self) -> datetime | None:
        """When the build carrying the fix should end (by its server's estimate)."""
        if self.gate.expected_finish is not None or self.following is None:
            return self.gate.expected_finish
        build = self.following
        if not build.estimated_seconds:
            return None
        return build.started_at + timedelta(seconds=build.estimated_seconds)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why not ready, one line each (empty when ready)."""
        return tuple(p.what for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        """The report as the JSON `oob check --json` prints (documented in the README)."""
        build = self.gate.build
        return {
            "ready": self.ready,
            "checked_at": self.checked_at.isoformat(),
            "fix": _commit_json(self.fix),
            "stage": self.stage,
            "gate": {
                "job": self.gate.job,
                "state": self.gate.state.value,
                "build": None
                if build is None
                else {
                    "number": build.number,
                    "url": build.url,
                    "sha": build.sha,
                    "result": build.result,
                    "building": build.building,
                    "started_at": build.started_at.isoformat(),
                    "finished_at": _iso(self.gate.finished_at),
                    "expected_finish": _iso(self.gate.expected_finish),
                },
            },
            "status": {
                "sha": self.status.sha,
                "state": self.status.state.value,
                "contexts": [
                    {
                        "context": c.context,
                        "state": c.label,
                        "required": c.required,
                        "description": c.description,
                        "target_url": c.target_url,
                    }
                    for c in self.status.contexts
                ],
                "failing": list(self.status.failing),
                "pending": list(self.status.pending),
                "missing": list(self.status.missing),
            },
            "branch": {
                "name": self.branch.branch,
                "contains_fix": self.branch.contains_fix,
                "commits_after": [_commit_json(c) for c in self.branch.commits_after],
            },
            "problems": [{"what": p.what, "todo": p.todo} for p in self.problems],
            "warnings": [{"what": w.what, "todo": w.todo} for w in self.warnings],
        }


def preflight(
    config: Config,
    fix_ref: str,
    *,
    build_server: BuildServer,
    code_host: CodeHost,
    clock: Clock,
) -> Report:
    """Check that the fix named by `fix_ref` (a short or full SHA) is ready to release."""
    fix = code_host.commit(validate_sha(fix_ref))
    (gate, (stage, following)), status, branch = _ask(config, fix, build_server, code_host, clock)
    problems = [*_status_problems(status, fix), *_branch_problems(branch)]
    warnings = []
    build = gate.build
    if gate.state is GateState.FAILED and build and build.result == "UNSTABLE" and status.passing:
        # Tests failed, and their statuses were set to success since: the runbook's override of
        # a spurious failure. The release job goes by the statuses; say so, do not block.
        warnings.append(
            Finding(
                f"{gate.job} #{build.number} ended UNSTABLE, but every required status on "
                f"{fix.sha[:7]} is success now (overridden?)",
                f"be sure its failures were spurious: {build.url}console",
            )
        )
    else:
        problems[:0] = _gate_problems(gate, fix)
    if branch.contains_fix and branch.commits_after:
        count = len(branch.commits_after)
        warnings.append(
            Finding(
                f"{branch.branch} has {count} commit{'s' if count > 1 else ''} after the fix; the "
                "release job releases the newest one whose status is success, which may be one "
                "of them",
                "ask engineers to hold merges (`oob start` does), and check those commits",
            )
        )
    return Report(
        fix=fix,
        checked_at=clock.now(),
        gate=gate,
        status=status,
        branch=branch,
        stage=stage,
        following=following,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )


def _ask(
    config: Config, fix: Commit, build_server: BuildServer, code_host: CodeHost, clock: Clock
) -> tuple[tuple[GateFinding, tuple[str | None, Build | None]], StatusFinding, BranchFinding]:
    """The test gate's builds (and where the fix is, unless the gate passed), the fix's status
    and the branch. They depend on nothing of each other: asked at once (the clients are
    thread-safe), so a look takes the longest of the three, not their sum."""
    contains = _Containment(code_host, fix)
    github = config.services.github

    def builds() -> tuple[GateFinding, tuple[str | None, Build | None]]:
        gate = _gate(config.pipeline.gate, build_server, contains, clock)
        if gate.state is GateState.PASSED:
            return gate, (None, None)
        return gate, _stage(config, gate, build_server, contains)

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="oob-preflight") as asking:
        found = asking.submit(builds)
        statuses = asking.submit(_status, code_host, fix.sha, github.required_contexts)
        on_branch = asking.submit(_branch, code_host, fix.sha, github.branch)
        return found.result(), statuses.result(), on_branch.result()


class _Containment:
    """Does a commit contain the fix? Answers are remembered: builds share commits."""

    def __init__(self, code_host: CodeHost, fix: Commit) -> None:
        self._code_host = code_host
        self.fix = fix
        self._known: dict[str, bool] = {fix.sha: True}

    def __call__(self, sha: str) -> bool:
        if sha not in self._known:
            try:
                self._known[sha] = self._code_host.compare(self.fix.sha, sha).head_contains_base
            except UsageError:
                # A build of a commit GitHub does not know (a force-pushed branch): not the fix.
                self._known[sha] = False
        return self._known[sha]

    def may_have(self, build: Build) -> bool:
        """Could `build` have tested the fix, judging by time alone?"""
        committed = self.fix.committed_at
        return committed is None or build.started_at >= committed - _CLOCK_SKEW


def _search(
    stage: Stage, build_server: BuildServer, contains: _Containment
) -> tuple[Build | None, Build | None, Build | None]:
    """The newest passed, running and finished-but-failed builds of `stage` with the fix."""
    assert stage.job is not None
    passed = running = failed = None
    for build in build_server.builds(stage.job, limit=BUILDS_SEARCHED):
        if not contains.may_have(build):
            break
        if build.sha is None:
            # A build still checking out names no commit yet; one started after the fix may have it.
            if build.building and running is None:
                running = build
            continue
        if not contains(build.sha):
            continue
        if build.building:
            running = running or build
        elif build.succeeded:
            passed = build
            break
        elif failed is None:
            failed = build
    return passed, running, failed


def _gate(
    stage: Stage, build_server: BuildServer, contains: _Containment, clock: Clock
) -> GateFinding:
    assert stage.job is not None
    passed, running, failed = _search(stage, build_server, contains)
    if passed is not None:
        return GateFinding(stage.job, GateState.PASSED, passed)
    if running is not None:
        estimate = running.estimated_seconds or stage.estimate_minutes * 60
        expected = max(running.started_at + timedelta(seconds=estimate), clock.now())
        return GateFinding(stage.job, GateState.RUNNING, running, expected)
    if failed is not None:
        return GateFinding(stage.job, GateState.FAILED, failed)
    return GateFinding(stage.job, GateState.NONE, None)


def _stage(
    config: Config, gate: GateFinding, build_server: BuildServer, contains: _Containment
) -> tuple[str, Build | None]:
    """Where the fix is in the pipeline (for the time-to-restore estimate), and the running
    build carrying it there, if one is."""
    pipeline = config.pipeline
    if gate.state is GateState.RUNNING:
        return pipeline.gate.name, gate.build
    before = pipeline.stages[: pipeline.index(pipeline.test_gate)]
    built = [s for s in before if s.kind.builds]
    for stage in reversed(built):
        passed, running, _ = _search(stage, build_server, contains)
        if running is not None:
            return stage.name, running
        if passed is not None:
            return pipeline.stages[pipeline.stages.index(stage) + 1].name, None
    return (built[0].name if built else pipeline.gate.name), None


def _status(code_host: CodeHost, sha: str, required: list[str]) -> StatusFinding:
    combined = code_host.combined_status(sha)
    rows = []
    for context in required:
        status = combined.context(context)
        rows.append(
            ContextRow(
                context,
                status.state if status else None,
                required=True,
                description=status.description if status else None,
                target_url=status.target_url if status else None,
            )
        )
    rows += [
        ContextRow(s.context, s.state, False, s.description, s.target_url)
        for s in combined.statuses
        if s.context.lower() not in {r.lower() for r in required}
    ]
    return StatusFinding(sha=combined.sha, state=combined.state, contexts=tuple(rows))


def _branch(code_host: CodeHost, sha: str, branch: str) -> BranchFinding:
    contains = code_host.compare(sha, branch).head_contains_base
    after = tuple(code_host.commits_after(sha, branch)) if contains else ()
    return BranchFinding(branch=branch, contains_fix=contains, commits_after=after)


def _gate_problems(gate: GateFinding, fix: Commit) -> list[Finding]:
    build = gate.build
    short = fix.sha[:7]
    if gate.state is GateState.PASSED:
        return []
    if gate.state is GateState.RUNNING:
        assert build is not None
        assert gate.expected_finish is not None
        tested = f"commit {build.sha[:7]}" if build.sha else "a commit not known yet"
        return [
            Finding(
                f"{gate.job} #{build.number} ({tested}) is running; expected to finish at "
                f"{gate.expected_finish:%Y-%m-%d %H:%M} UTC",
                "wait for it, then run `oob check` again",
            )
        ]
    if gate.state is GateState.FAILED:
        assert build is not None
        return [
            Finding(
                f"{gate.job} #{build.number}, the newest build containing {short}, ended "
                f"{build.result}",
                f"read its log at {build.url}console, fix the cause or rebuild it",
            )
        ]
    return [
        Finding(
            f"no recent build of {gate.job} tested a commit containing {short}",
            "wait for the pipeline to reach it (`oob timeline` shows how long), or start it",
        )
    ]


def _status_problems(status: StatusFinding, fix: Commit) -> list[Finding]:
    short = fix.sha[:7]
    problems = []
    if status.failing:
        names = ", ".join(status.failing)
        problems.append(
            Finding(
                f"{names} failed on {short}",
                "re-run the failed tests; if one failed spuriously, "
                f"`oob override-status {short} --context CONTEXT --reason TEXT`",
            )
        )
    if status.pending:
        problems.append(
            Finding(f"{', '.join(status.pending)} still pending on {short}", "wait for them")
        )
    if status.missing:
        problems.append(
            Finding(
                f"{', '.join(status.missing)} never reported on {short}",
                "the tests have not run on this commit yet; wait, or check that CI runs on it",
            )
        )
    if not problems and status.state is not StatusState.SUCCESS:
        others = [c.context for c in status.contexts if c.state is not StatusState.SUCCESS]
        problems.append(
            Finding(
                f"the combined status of {short} is {status.state.value} "
                f"(because of {', '.join(others) or 'no statuses'})",
                "the release job needs a combined success: fix or re-run those checks",
            )
        )
    return problems


def _branch_problems(branch: BranchFinding) -> list[Finding]:
    if branch.contains_fix:
        return []
    return [
        Finding(
            f"{branch.branch} does not contain the fix",
            f"merge the fix into {branch.branch}: the release job releases {branch.branch}",
        )
    ]


def _commit_json(commit: Commit) -> dict[str, Any]:
    return {
        "sha": commit.sha,
        "message": commit.message.splitlines()[0] if commit.message else "",
        "author": commit.author,
        "committed_at": _iso(commit.committed_at),
        "url": commit.url,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
