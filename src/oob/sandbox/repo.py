"""A small git repository with GitHub's commit statuses and pull requests, in memory.

Commits form a DAG with real-looking SHA-1s (derived from their content, so a seed and a scenario
always give the same SHAs). Combined statuses and comparisons follow GitHub's rules exactly, since
oob's safety checks ("the fix passed", "the released commit contains the fix") rest on them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

HEX = re.compile(r"^[0-9a-f]{4,40}$")


def blob_sha(content: bytes) -> str:
    """The git blob SHA-1 of `content`, as GitHub reports it for a file."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content, usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Commit:
    """One commit: its metadata, the files it changed and the whole tree after it."""

    sha: str
    message: str
    author: str
    email: str
    date: float
    parents: tuple[str, ...]
    changes: dict[str, bytes]
    tree: dict[str, bytes]

    @property
    def tree_sha(self) -> str:
        """A stable SHA for the tree (not git's exact tree encoding; clients only compare it)."""
        listing = "".join(f"{path}\0{blob_sha(data)}\n" for path, data in sorted(self.tree.items()))
        return hashlib.sha1(listing.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Status:
    """One commit status as posted; the combined status keeps the newest per context."""

    id: int
    sha: str
    context: str
    state: str
    description: str
    target_url: str | None
    created_at: float
    creator: str


@dataclass
class PullRequest:
    """A pull request from a branch of the same repository."""

    number: int
    title: str
    body: str
    head: str
    base: str
    user: str
    created_at: float
    state: str = "open"
    merged_at: float | None = None
    merge_commit_sha: str | None = None
    merged_by: str | None = None


@dataclass(frozen=True)
class Comparison:
    """GitHub's compare of `base...head`: what each side has that the other has not."""

    commits: list[str]
    """The commits head has that base has not, oldest first."""
    behind: list[str]
    """The commits base has that head has not."""
    merge_base: str | None
    """The newest commit both share; None when their histories never meet."""

    @property
    def ahead_by(self) -> int:
        """How many commits head adds."""
        return len(self.commits)

    @property
    def behind_by(self) -> int:
        """How many commits head lacks."""
        return len(self.behind)

    @property
    def status(self) -> str:
        """ "identical", "ahead", "behind" or "diverged": where head stands against base."""
        if not self.commits:
            return "behind" if self.behind else "identical"
        return "diverged" if self.behind else "ahead"


@dataclass
class Repo:
    """A repository: commits, branches, tags, statuses and pull requests."""

    full_name: str
    default_branch: str
    id: int
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, list[Status]] = field(default_factory=dict)
    pulls: list[PullRequest] = field(default_factory=list)
    next_status_id: int = 28_000_000_001
    protection: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Branch protections, as the body of GitHub's PUT .../protection sets them."""

    @property
    def owner(self) -> str:
        """The owner part of `owner/name`."""
        return self.full_name.split("/")[0]

    @property
    def name(self) -> str:
        """The name part of `owner/name`."""
        return self.full_name.split("/")[1]

    def commit(
        self,
        *,
        branch: str,
        message: str,
        author: str,
        email: str,
        date: float,
        changes: dict[str, bytes],
    ) -> Commit:
        """Make a commit on top of `branch` (created if missing) and move the branch to it."""
        parent = self.branches.get(branch)
        tree = dict(self.commits[parent].tree) if parent else {}
        tree.update(changes)
        parents = (parent,) if parent else ()
        seed = f"{self.full_name}\0{parents}\0{author}\0{date}\0{message}\0{sorted(changes)}"
        sha = hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()
        made = Commit(sha, message, author, email, date, parents, dict(changes), tree)
        self.commits[sha] = made
        self.branches[branch] = sha
        return made

    def resolve(self, ref: str) -> str | None:
        """The full SHA `ref` names: a SHA or unique prefix of one, a branch, a tag or a ref."""
        ref = ref.removeprefix("refs/")
        for prefix, names in (("heads/", self.branches), ("tags/", self.tags)):
            if ref.startswith(prefix) and ref[len(prefix) :] in names:
                return names[ref[len(prefix) :]]
        if ref in self.branches:
            return self.branches[ref]
        if ref in self.tags:
            return self.tags[ref]
        if HEX.match(ref):
            found = [sha for sha in self.commits if sha.startswith(ref)]
            if len(found) == 1:
                return found[0]
        return None

    def ancestors(self, sha: str) -> list[str]:
        """`sha` and every commit reachable from it, newest first (as `git log` lists them)."""
        seen: set[str] = set()
        stack = [sha]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.commits[current].parents)
        return sorted(seen, key=lambda s: self.commits[s].date, reverse=True)

    def contains(self, head: str, base: str) -> bool:
        """True when `base` is `head` or one of its ancestors."""
        return base in self.ancestors(head)

    def compare(self, base: str, head: str) -> Comparison:
        """GitHub's `base...head`: the commits each side lacks, and their merge base."""
        head_set = set(self.ancestors(head))
        base_list = self.ancestors(base)
        merge_base = next((sha for sha in base_list if sha in head_set), None)
        ahead = [sha for sha in self.ancestors(head) if sha not in set(base_list)]
        behind = [sha for sha in base_list if sha not in head_set]
        return Comparison(list(reversed(ahead)), behind, merge_base)

    def add_status(
        self,
        sha: str,
        *,
        state: str,
        context: str,
        description: str,
        target_url: str | None,
        creator: str,
        at: float,
    ) -> Status:
        """Record a status on `sha`; it becomes the newest for its context."""
        status = Status(
            self.next_status_id, sha, context, state, description, target_url, at, creator
        )
        self.next_status_id += 1
        self.statuses.setdefault(sha, []).append(status)
        return status

    def latest_statuses(self, sha: str) -> list[Status]:
        """The newest status of each context on `sha`, newest first. GitHub matches context
        names case-insensitively: `VA/tests/cypress` replaces `va/tests/cypress`."""
        latest: dict[str, Status] = {}
        for status in self.statuses.get(sha, []):
            latest[status.context.lower()] = status
        return sorted(latest.values(), key=lambda s: s.id, reverse=True)

    def combined_state(self, sha: str) -> str:
        """GitHub's combined state: failure if any is failure/error, pending if none or any
        pending, success only when every context's newest status is success."""
        states = {s.state for s in self.latest_statuses(sha)}
        if states & {"failure", "error"}:
            return "failure"
        if not states or "pending" in states:
            return "pending"
        return "success"

    def open_pull(self, head: str, base: str) -> PullRequest | None:
        """The open pull request from `head` into `base`, if there is one."""
        return next(
            (p for p in self.pulls if p.state == "open" and p.head == head and p.base == base),
            None,
        )

    def merge_refusal(self, pull: PullRequest, *, admin: bool) -> tuple[int, str] | None:
        """Why GitHub refuses to merge `pull` now (HTTP status, message), or None.

        A locked branch and required status checks refuse those who may not bypass them
        (admins may, unless `enforce_admins`). GitHub names the first required context
        whose newest status on the head is not success."""
        if pull.state != "open":
            return 405, "Pull Request is not mergeable"
        rules = self.protection.get(pull.base)
        if rules is None:
            return None
        bound = bool(rules.get("enforce_admins")) or not admin
        if rules.get("lock_branch") and bound:
            return 405, "Cannot change this locked branch"
        checks = rules.get("required_status_checks")
        if checks and bound:
            head = self.branches[pull.head]
            latest = {s.context.lower(): s.state for s in self.latest_statuses(head)}
            for context in checks.get("contexts") or []:
                if latest.get(context.lower()) != "success":
                    return 405, f'Required status check "{context}" is expected.'
        return None


def protection_settings(contexts: list[str]) -> dict[str, Any]:
    """A protection as GitHub's PUT sets it: required status checks, nothing else."""
    return {
        "required_status_checks": {"strict": False, "contexts": list(contexts)},
        "enforce_admins": False,
        "required_pull_request_reviews": None,
        "restrictions": None,
        "required_linear_history": False,
        "allow_force_pushes": False,
        "allow_deletions": False,
        "block_creations": False,
        "required_conversation_resolution": False,
        "lock_branch": False,
        "allow_fork_syncing": False,
    }
