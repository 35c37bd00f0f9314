"""A branch protection as GitHub's PUT .../protection takes it, from what its GET answered.

The PUT replaces every setting, so the lock of a merge hold (`[pipeline] merge_hold = "lock"`)
sends back all of the protection as read, `lock_branch` changed.
"""

from __future__ import annotations

from typing import Any


def protection_settings(read: dict[str, Any], *, lock_branch: bool | None = None) -> dict[str, Any]:
    """The body of GitHub's PUT .../protection that sets the protection `read` (as its GET
    answers) again, with `lock_branch` changed if given: the PUT replaces every setting."""

    def enabled(name: str) -> bool:
        return bool((read.get(name) or {}).get("enabled", False))

    def names(people: dict[str, Any] | None) -> dict[str, list[str]] | None:
        if people is None:
            return None
        return {
            "users": [str(u["login"]) for u in people.get("users") or []],
            "teams": [str(t["slug"]) for t in people.get("teams") or []],
            "apps": [str(a["slug"]) for a in people.get("apps") or []],
        }

    checks = read.get("required_status_checks")
    reviews = read.get("required_pull_request_reviews")
    review_settings: dict[str, Any] | None = None
    if reviews is not None:
        review_settings = {
            "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews", False)),
            "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews", False)),
            "required_approving_review_count": int(
                reviews.get("required_approving_review_count", 0)
            ),
            "require_last_push_approval": bool(reviews.get("require_last_push_approval", False)),
        }
        for part in ("dismissal_restrictions", "bypass_pull_request_allowances"):
            if reviews.get(part) is not None:
                review_settings[part] = names(reviews[part])
    return {
        "required_status_checks": None
        if checks is None
        else {
            "strict": bool(checks.get("strict", False)),
            "contexts": [str(c) for c in checks.get("contexts") or []],
        },
        "enforce_admins": enabled("enforce_admins"),
        "required_pull_request_reviews": review_settings,
        "restrictions": names(read.get("restrictions")),
        "required_linear_history": enabled("required_linear_history"),
        "allow_force_pushes": enabled("allow_force_pushes"),
        "allow_deletions": enabled("allow_deletions"),
        "block_creations": enabled("block_creations"),
        "required_conversation_resolution": enabled("required_conversation_resolution"),
        "lock_branch": enabled("lock_branch") if lock_branch is None else lock_branch,
        "allow_fork_syncing": enabled("allow_fork_syncing"),
    }
