"""The draft as a file and as a pull request in the postmortems repository.

`write_draft` is what the procedure's last step calls: it writes the file and, when the config
says so and a code host is given, opens the pull request (`open_pull_request`). The pull request
lives on a branch named after the run, so a second call (or a step repeated after a crash)
updates the same branch and pull request instead of opening another, and the base branch is
never written to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from oob.config import Config
from oob.errors import ConfigError, ProcedureError
from oob.events import PostmortemWritten, PullRequestOpened, ReleasePicked, StatusOverridden
from oob.postmortem import markdown
from oob.postmortem.extract import extract_facts
from oob.postmortem.facts import PostmortemFacts
from oob.postmortem.lessons import outcome_text
from oob.postmortem.render import due_date, render
from oob.store import Event, Run, Source, Store

if TYPE_CHECKING:
    from oob.ports import CodeHost, PullRequest


@dataclass(frozen=True)
class Draft:
    """A rendered draft and where it belongs in the postmortems repository: the configured
    path, made unique among the drafts of other runs (`build_draft`)."""

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
        pr = self.pull_request
        return pr.url if pr else None


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


def build_draft(
    store: Store, config: Config, run_id: str, *, directory: Path | None = None
) -> Draft:
    """Render the draft of run `run_id` from the store (`RunNotFound` if there is none).

    Its path is the configured one, made unique: a name another run's draft took (its pull
    request in the store, or its file under `directory`) gets a numeric suffix (`-2`, `-3`);
    a run that drafted before keeps the path it had.
    """
    run = store.run(run_id)
    events = store.events(run_id)
    events += _overrides_outside(store, run, events)
    facts = extract_facts(run, events, config)
    count, head = store.chain_head(run_id)
    facts = dataclasses.replace(facts, audit_events=count, audit_head=head)
    path = unique_path(
        repository_path(facts, config),
        mine=_drafted(events),
        taken=_taken(store, run_id),
        on_disk=lambda p: _other_draft(directory, p, run_id, events),
    )
    return Draft(facts, render(facts, config), path)


def unique_path(
    path: str,
    *,
    mine: Collection[str] = (),
    taken: Collection[str] = (),
    on_disk: Callable[[str], bool] = lambda _: False,
) -> str:
    """`path`, or `stem-N.suffix` with the smallest N from 2 that no other draft took.

    `mine`: paths this run drafted to before (kept); `taken`: other runs' paths;
    `on_disk(p)`: whether another draft's file is at `p`.
    """
    from pathlib import PurePosixPath

    pure = PurePosixPath(path)
    candidates = (
        str(pure.with_name(f"{pure.stem}-{n}{pure.suffix}")) if n > 1 else path
        for n in range(1, 10_000)
    )
    for candidate in candidates:
        if candidate in mine:
            return candidate
        if candidate not in taken and not on_disk(candidate):
            return candidate
    raise ProcedureError(f"no free name for the postmortem draft {path}")


def _drafted(events: Sequence[Event]) -> set[str]:
    """The repository paths this run's draft was committed at before."""
    return {p.path for p in map(PullRequestOpened.of, events) if p is not None and p.path}


def _taken(store: Store, run_id: str, recent: int = 500) -> set[str]:
    """The repository paths of the other recent runs' postmortem pull requests."""
    taken: set[str] = set()
    for run in store.runs(limit=recent):
        if run.id != run_id:
            taken |= _drafted(store.events(run.id))
    return taken


def _other_draft(directory: Path | None, path: str, run_id: str, events: Sequence[Event]) -> bool:
    """Whether another run's draft is the file at `path` under `directory`."""
    if directory is None:
        return False
    file = directory / path
    if not file.exists():
        return False
    written = {w.path for w in map(PostmortemWritten.of, events) if w is not None}
    if str(file) in written:
        return False
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True
    return f"`{run_id}`" not in text


def _overrides_outside(store: Store, run: Run, events: Sequence[Event]) -> list[Event]:
    """Status overrides in the audit log outside any run, on the run's fix or released commit.

    People override a flaky status before they start a deploy, so the override is audited
    without a run; it belongs to this run's story when it is about the commits the run shipped.
    """
    shas = [run.fix_sha] + [p.sha for p in map(ReleasePicked.of, events) if p is not None and p.sha]

    def ours(event: Event) -> bool:
        overridden = StatusOverridden.of(event)
        sha = overridden.sha if overridden is not None else ""
        # Either side may be a short SHA.
        return len(sha) >= 7 and any(s.startswith(sha) or sha.startswith(s) for s in shas)

    until = run.ended_at
    return [e for e in store.events(None) if ours(e) and (until is None or e.at <= until)]


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
    opened = PullRequestOpened(
        settings.repository, branch, settings.base_branch, draft.repository_path, pr.number, pr.url
    )
    summary = f"Postmortem pull request #{pr.number} opened in {settings.repository}"
    key = f"{run_id}:{opened.KIND}:{settings.repository}#{pr.number}"
    store.record(run_id, opened, summary, actor=actor, source=source, key=key)
    return pr


def _pull_request_body(draft: Draft) -> str:
    f = draft.facts
    due = due_date(f.ended_at or f.requested_at)
    return (
        f"Postmortem draft for the out-of-band deployment of `{f.fix_sha[:7]}` "
        f"(oob run `{f.run_id}`), written by oob from the run's timeline.\n\n"
        f"{markdown.escape(outcome_text(f))}\n\n"
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
    with _drafting(directory):
        draft = build_draft(store, config, run_id, directory=directory)
        path = directory / draft.repository_path
        _write(path, draft.text)
    pr = None
    if code_host is not None and config.postmortem.open_pull_request:
        pr = open_pull_request(store, config, code_host, draft, actor=actor, source=source)
    return DraftResult(path, draft.repository_path, pr)


@contextmanager
def _drafting(directory: Path) -> Iterator[None]:
    """One draft named and written at a time under `directory`, across the processes sharing it
    (workers on one machine): two runs of one title on one day, drafted at once, chose one free
    name, and one's rename failed."""
    import fcntl

    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".oob-drafting.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_file(path: Path, draft: Draft) -> None:
    """Write `draft` to `path`, creating its directories."""
    _write(path, draft.text)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed, so a reader never sees half a draft.
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
