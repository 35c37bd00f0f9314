"""The store's side of a decision: what the policy is asked with, and what its answer writes.

`Store.decide` locks the run's row, reads the run's `Situation` (the roles of its own plan, its
state, the decisions already taken) and writes what `ruling` answers, in one transaction: of
two racing decisions, exactly one is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from oob.config import Roles
from oob.errors import RunNotFound
from oob.events import DECISIONS, CommandRefused
from oob.policy import (
    DECISION_KINDS,
    RULES,
    Action,
    Situation,
    Taken,
    Topic,
    Verdict,
    decide,
    describe,
)
from oob.records import NewEvent
from oob.schema import utc
from oob.states import RunState, Source

if TYPE_CHECKING:
    from oob.database import Tx


def taken(tx: Tx, run_id: str) -> dict[Topic, Taken]:
    """The decisions taken on a run so far, by topic (the first of each)."""
    kinds = list(DECISION_KINDS)
    marks = ", ".join("?" for _ in kinds)
    rows = tx.rows(
        f"SELECT * FROM oob_events WHERE run_id = ? AND kind IN ({marks}) ORDER BY id",
        run_id,
        *kinds,
    )
    found: dict[Topic, Taken] = {}
    for r in rows:
        topic, action = DECISION_KINDS[r["kind"]]
        decided = DECISIONS[r["kind"]].read(r["details"])
        text = decided.text if decided is not None else ""
        found.setdefault(topic, Taken(action, r["actor"], utc(r["at"]) or r["at"], text))
    return found


def situation(tx: Tx, run: Mapping[str, Any]) -> Situation:
    """What the policy needs to know of the run whose row is `run`, now."""
    run_id = run["id"]
    plan = tx.first('SELECT "plan" FROM oob_plans WHERE run_id = ?', run_id)
    if plan is None:
        raise RunNotFound(f"no plan for run {run_id!r}", hint="list the runs with `oob runs`")
    return Situation(
        run_id=run_id,
        requester=run["requester"],
        state=RunState(run["state"]),
        roles=Roles.model_validate(plan["plan"]["roles"]),
        taken=taken(tx, run_id),
    )


def ruling(
    situation: Situation,
    action: Action,
    actor: str,
    source: Source | str,
    text: str,
    *,
    asserted: bool,
) -> tuple[Verdict, NewEvent | None]:
    """The policy's verdict on `action`, and the event that records it: the decision's own,
    or `command.refused`. None for an accepted action whose caller records what it does."""
    run_id = situation.run_id
    rule = RULES[action]
    verdict = decide(situation, action, actor, text)
    if verdict and asserted and not situation.roles.allow_asserted_identity:
        verdict = Verdict(
            False,
            f"run {run_id}'s pipeline does not accept --as; act under your own name",
            by_role=True,
        )
    if verdict and rule.event_kind is None:
        return verdict, None
    if verdict:
        assert rule.event_kind is not None
        summary, decided = describe(action, actor, text)
        return verdict, NewEvent(run_id, actor, source, decided.KIND, summary, decided.details())
    summary = f"{action.value} by {actor} refused: {verdict.reason}"
    refused = CommandRefused(action.value, verdict.reason, text)
    return verdict, NewEvent(run_id, actor, source, refused.KIND, summary, refused.details())
