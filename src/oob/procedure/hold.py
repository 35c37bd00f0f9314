"""An enforced merge hold: set while a run deploys, lifted by every ending.

`[pipeline] merge_hold` says how: "ask" only asks engineers in chat (nothing here); "status"
puts a pending `oob/merge-hold` commit status on the head of every open pull request into the
release branch (GitHub refuses to merge them when the branch's protection requires that
context), "lock" sets the protection's `lock_branch`.

Everything the hold touches is recorded in the run's facts *before* it is touched, so that
lifting, after a crash at any point, releases exactly what was held:

- `hold_held`: {head sha: pull request number} given a pending status (or about to be);
- `hold_protection`: the branch's protection as read before it was locked;
- `hold_released`: the head shas given `success`; `hold_restored`: the protection set back;
- `hold_lifted`: the hold is over (nothing is held again after it).

Lifting looks at GitHub before it writes, so a pull request is released once even when a
crash came between the write and its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from oob.ports import StatusState

if TYPE_CHECKING:
    from oob.config import Config
    from oob.ports import CodeHost
    from oob.store import Store

CONTEXT = "oob/merge-hold"
DESCRIPTION_LIMIT = 140  # GitHub refuses longer status descriptions


def held_text(run_id: str) -> str:
    return f"out-of-band deploy {run_id} in progress — merging is held"[:DESCRIPTION_LIMIT]


def lifted_text(run_id: str) -> str:
    return f"out-of-band deploy {run_id} ended — merging may resume"[:DESCRIPTION_LIMIT]


@dataclass
class Hold:
    """One run's merge hold against the code host."""

    store: Store
    code_host: CodeHost
    plan: Config
    run_id: str

    @property
    def mode(self) -> str:
        return self.plan.pipeline.merge_hold

    @property
    def branch(self) -> str:
        return self.plan.services.github.branch

    def facts(self) -> dict[str, Any]:
        return dict(self.store.run(self.run_id).facts)

    def hold(self) -> list[dict[str, Any]]:
        """Set the hold, or extend it to pull requests opened or pushed since; returns the pull
        requests held by this call (number, sha, url, author). Idempotent."""
        facts = self.facts()
        if facts.get("hold_lifted") or self.mode == "ask":
            return []
        if self.mode == "lock":
            self._lock(facts)
            return []
        held: dict[str, int] = dict(facts.get("hold_held") or {})
        pending: set[str] = set(facts.get("hold_pending") or [])
        pulls = self.code_host.open_pulls(self.branch)
        new = [p for p in pulls if p.head_sha and p.head_sha not in held]
        if new:
            held.update({p.head_sha: p.number for p in new})
            self.store.record_facts(self.run_id, hold_mode=self.mode, hold_held=held)
        for pull in pulls:
            if pull.head_sha in held and pull.head_sha not in pending:
                self.code_host.create_status(
                    pull.head_sha, StatusState.PENDING, CONTEXT, held_text(self.run_id), None
                )
                pending.add(pull.head_sha)
                self.store.record_facts(self.run_id, hold_pending=sorted(pending))
        return [
            {"number": p.number, "sha": p.head_sha, "url": p.url, "author": p.author} for p in new
        ]

    def _lock(self, facts: dict[str, Any]) -> None:
        from oob.errors import UsageError

        if "hold_protection" not in facts:
            read = self.code_host.branch_protection(self.branch)
            if read is None:
                raise UsageError(
                    f"{self.branch} is not protected, so oob cannot lock it",
                    hint='protect the branch, or set [pipeline] merge_hold = "status"',
                )
            self.store.record_facts(self.run_id, hold_mode=self.mode, hold_protection=read)
            facts["hold_protection"] = read
        self.code_host.set_branch_protection(
            self.branch, facts["hold_protection"], lock_branch=True
        )
        self.store.record_facts(self.run_id, hold_locked=True)

    def lift(self) -> list[str]:
        """Lift whatever the hold touched; returns what lifting changed, one line each.
        Idempotent: what was lifted already is left as it is."""
        facts = self.facts()
        changed: list[str] = []
        protection = facts.get("hold_protection")
        if protection is not None and not facts.get("hold_restored"):
            was = bool((protection.get("lock_branch") or {}).get("enabled", False))
            self.code_host.set_branch_protection(self.branch, protection, lock_branch=was)
            self.store.record_facts(self.run_id, hold_restored=True)
            changed.append(
                f"{self.branch}'s protection restored as it was (lock_branch {str(was).lower()})"
            )
        held: dict[str, int] = dict(facts.get("hold_held") or {})
        released: set[str] = set(facts.get("hold_released") or [])
        for sha, number in sorted(held.items(), key=lambda item: item[1]):
            if sha in released:
                continue
            current = self.code_host.combined_status(sha).context(CONTEXT)
            if current is None or current.state is not StatusState.SUCCESS:
                self.code_host.create_status(
                    sha, StatusState.SUCCESS, CONTEXT, lifted_text(self.run_id), None
                )
                changed.append(f"pull request #{number} ({sha[:7]}): {CONTEXT} set to success")
            released.add(sha)
            self.store.record_facts(self.run_id, hold_released=sorted(released))
        self.store.record_facts(self.run_id, hold_lifted=True)
        return changed
