"""What a rehearsal did to the sandbox's services, counted from its ledger: builds triggered,
workflows dispatched, deployments, chat messages per audience, clicks, statuses, pull requests
and merges (`oob.rehearse`, and the benchmarks' duplicate counts)."""

from __future__ import annotations

from collections import Counter
from typing import Any


def side_effects(ledger: list[dict[str, Any]]) -> dict[str, Any]:
    """Side effects counted from the sandbox's ledger: builds triggered per job (workflows
    dispatched per workflow file), chat messages
    per audience (from the idempotency key each carries), statuses and pull requests."""
    from oob.messages import MessageKey

    builds: Counter[str] = Counter()
    dispatched: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    statuses = pulls = clicks = updates = 0
    merges: list[dict[str, Any]] = []
    held: dict[str, list[str]] = {}
    for entry in ledger:
        summary = entry["summary"]
        if entry["service"] == "github" and entry["path"].endswith("/merge"):
            merges.append({k: summary.get(k) for k in ("pull", "by", "status", "message")})
        if summary.get("context") == "oob/merge-hold":
            held.setdefault(str(summary["sha"]), []).append(str(summary["state"]))
        if entry["service"] == "jenkins" and "parameters" in summary:
            builds[str(summary["job"])] += 1
        elif entry["service"] == "github" and entry["path"].endswith("/dispatches"):
            dispatched[str(summary["workflow"])] += 1
        elif entry["service"] == "slack" and entry["path"].endswith("chat.postMessage"):
            key = MessageKey.parse(str((summary.get("event_payload") or {}).get("key", "")))
            # One message may speak to several audiences sharing a channel (`a+b`).
            for audience in (key.audience if key else "unknown").split("+"):
                messages[audience] += 1
        elif entry["service"] == "slack" and entry["path"] == "/interactions":
            clicks += 1
        elif entry["service"] == "slack" and entry["path"].endswith("chat.update"):
            updates += 1
        elif entry["service"] == "github" and "/statuses/" in entry["path"]:
            statuses += 1
        elif entry["service"] == "github" and entry["path"].endswith("/pulls"):
            pulls += 1
    return {
        "jenkins_builds_triggered": dict(builds),
        "workflows_dispatched": dict(dispatched),
        # Each deployment made on GitHub (by oob, or by an Actions environment) and its states.
        "deployments": deployments_of(ledger),
        "chat_messages": dict(messages),
        # People's clicks and form submissions in Slack, and messages oob changed after them.
        "slack_interactions": clicks,
        "chat_messages_updated": updates,
        "statuses_posted": statuses,
        "pull_requests_opened": pulls,
        # Merges tried into the release branch (by people), merged (200) or refused, and the
        # `oob/merge-hold` states oob posted per head commit, in order.
        "merges": merges,
        "merge_hold_statuses": held,
    }


def deployments_of(ledger: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deployments made on GitHub, in order, each with the states of its statuses."""
    made: dict[Any, dict[str, Any]] = {}
    for entry in (e for e in ledger if e["service"] == "github"):
        if entry["path"].endswith("/deployments"):
            made[entry["summary"]["id"]] = {**entry["summary"], "states": []}
        elif entry["path"].endswith("/statuses") and "/deployments/" in entry["path"]:
            made[entry["summary"]["deployment"]]["states"].append(entry["summary"]["state"])
    return list(made.values())
