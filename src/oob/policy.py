"""Who may do what to a run, in which state: the one policy.

Every way in (the CLI, the dashboard, the workflow itself) asks this module; nothing else checks
a role or a run's state. The roles are those of the run's own pipeline, frozen in its plan when
it started, never those of the config the caller happens to load.

`decide` is pure: given the run's roles, its state and the decisions already taken, it accepts
or refuses one command. The store calls it inside the transaction that records the answer
(`Store.decide`), so that of two racing decisions exactly one wins and the other is told why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from oob.events import (
    DECISIONS,
    KIND_APPROVED,
    KIND_CANCELLED,
    KIND_DENIED,
    KIND_FIX_CONFIRMED,
    KIND_FIX_REJECTED,
    Decided,
)
from oob.states import CANCELLABLE, RunState

if TYPE_CHECKING:
    from oob.config import Roles
    from oob.plan import RoleNames

SYSTEM_ACTOR = "oob"  # the workflow's own decisions (an approval that timed out, ...)


class Action(StrEnum):
    """What people do to runs, as they type it."""

    DEPLOY = "deploy"
    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"
    CONFIRM_FIX = "confirm-fix"
    REJECT_FIX = "reject-fix"
    OVERRIDE_STATUS = "override-status"
    ABANDON = "abandon"
    NOTIFY = "notify"
    HOLD_RELEASE = "hold release"


class Role(StrEnum):
    """The roles of `[roles]`."""

    DEPLOYERS = "deployers"
    APPROVERS = "approvers"
    STATUS_OVERRIDERS = "status_overriders"
    FIX_CONFIRMERS = "fix_confirmers"


# A decision taken once per run: the second one of the same topic is refused.
class Topic(StrEnum):
    APPROVAL = "approval"  # approve or deny (or the approval timing out)
    CANCEL = "cancel"
    VERIFICATION = "verification"  # confirm-fix or reject-fix (or verification timing out)


@dataclass(frozen=True)
class Rule:
    """Who may take an action, in which states, and what it needs."""

    roles: tuple[Role, ...]
    states: frozenset[RunState] | None  # None: any state (or no run at all)
    what: str  # the action in a sentence: "approve a deploy"
    needs_reason: bool = False
    not_own_run: bool = False  # the requester may not, unless allow_self_approval
    topic: Topic | None = None
    event_kind: str | None = None  # what an accepted decision writes to the timeline


ACTIVE = frozenset(s for s in RunState if not s.terminal)


# An approval and a verdict on the fix are taken once per run; a denial and a rejection are the
# same rules, with a reason.
_APPROVE = Rule(
    (Role.APPROVERS,),
    frozenset({RunState.AWAITING_APPROVAL}),
    "approve a deploy",
    not_own_run=True,
    topic=Topic.APPROVAL,
    event_kind=KIND_APPROVED,
)
_CONFIRM_FIX = Rule(
    (Role.FIX_CONFIRMERS,),
    frozenset({RunState.VERIFYING}),
    "confirm a fix",
    topic=Topic.VERIFICATION,
    event_kind=KIND_FIX_CONFIRMED,
)

RULES: Mapping[Action, Rule] = {
    Action.DEPLOY: Rule((Role.DEPLOYERS,), None, "start a deploy"),
    Action.APPROVE: _APPROVE,
    Action.DENY: replace(_APPROVE, what="deny a deploy", needs_reason=True, event_kind=KIND_DENIED),
    Action.CANCEL: Rule(
        (Role.DEPLOYERS, Role.APPROVERS),
        CANCELLABLE,
        "cancel a deploy",
        needs_reason=True,
        topic=Topic.CANCEL,
        event_kind=KIND_CANCELLED,
    ),
    Action.CONFIRM_FIX: _CONFIRM_FIX,
    Action.REJECT_FIX: replace(
        _CONFIRM_FIX, what="reject a fix", needs_reason=True, event_kind=KIND_FIX_REJECTED
    ),
    # On a commit, with or without a run; on a run's page, while its fix waits in pre-flight.
    Action.OVERRIDE_STATUS: Rule(
        (Role.STATUS_OVERRIDERS,),
        frozenset({RunState.AWAITING_APPROVAL, RunState.PREFLIGHT}),
        "override a commit status",
        needs_reason=True,
    ),
    Action.ABANDON: Rule((Role.DEPLOYERS,), ACTIVE, "abandon a run", needs_reason=True),
    Action.NOTIFY: Rule((Role.DEPLOYERS,), None, "send a run's undelivered message"),
    # An ended run's enforced merge hold, by hand (an active run lifts its own when it ends).
    Action.HOLD_RELEASE: Rule(
        (Role.DEPLOYERS,), frozenset(s for s in RunState if s.terminal), "lift a merge hold"
    ),
}

# Why a state refuses an action, in words a person acts on.
_TOO_EARLY_OR_LATE: Mapping[Action, str] = {
    Action.APPROVE: "it is not waiting for approval",
    Action.DENY: "it is not waiting for approval",
    Action.CANCEL: "the release job already picked its commit; let it finish, then deploy again",
    Action.CONFIRM_FIX: "the fix is not in production yet; confirm it once the run is verifying",
    Action.REJECT_FIX: "the fix is not in production yet; judge it once the run is verifying",
    Action.ABANDON: "it has ended",
    Action.HOLD_RELEASE: "it lifts its hold when it ends; `oob cancel` or `oob abandon` ends it",
}


def members(roles: Roles | RoleNames, role: Role) -> frozenset[str]:
    """Who holds `role` (in the config, or a plan's outline); fix confirmers default to the
    deployers when none are named."""
    names: Sequence[str] = getattr(roles, role.value)
    if role is Role.FIX_CONFIRMERS and not names:
        names = roles.deployers
    return frozenset(names)


def holders(roles: Roles | RoleNames, action: Action) -> frozenset[str]:
    """Everyone who may take `action`."""
    return frozenset().union(*(members(roles, r) for r in RULES[action].roles))


@dataclass(frozen=True)
class Taken:
    """A decision already taken on a run: who, what, when, and the text they gave."""

    action: Action
    actor: str
    at: datetime
    text: str = ""


@dataclass(frozen=True)
class Situation:
    """What the policy needs to know of a run."""

    run_id: str
    requester: str
    state: RunState
    roles: Roles
    taken: Mapping[Topic, Taken] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """The answer to one command: accepted, or refused with the reason."""

    accepted: bool
    reason: str = ""
    by_role: bool = False  # refused for the actor's role (not the run's state)

    def __bool__(self) -> bool:
        return self.accepted

    def refuse(self, reason: str) -> Verdict:
        return Verdict(False, reason)


def may(roles: Roles, action: Action, actor: str) -> bool:
    """Whether `actor` holds a role for `action` (the system actor always does)."""
    return actor == SYSTEM_ACTOR or actor in holders(roles, action)


def role_refusal(roles: Roles, action: Action, actor: str) -> str | None:
    """Why `actor` may not take `action` by role alone (None: they may)."""
    if may(roles, action, actor):
        return None
    named = " or ".join(f"roles.{r.value}" for r in RULES[action].roles)
    return f"{actor} may not {RULES[action].what} (not in {named})"


def decide(situation: Situation, action: Action, actor: str, text: str = "") -> Verdict:
    """Accept or refuse `action` by `actor` on the run in `situation`."""
    rule = RULES[action]
    refusal = role_refusal(situation.roles, action, actor)
    if refusal:
        return Verdict(False, refusal, by_role=True)
    if rule.needs_reason and not text.strip():
        return Verdict(False, f"{action.value} needs a reason (--reason)")
    if (
        rule.not_own_run
        and actor == situation.requester
        and not situation.roles.allow_self_approval
    ):
        return Verdict(
            False, f"{actor} requested this run and cannot {action.value} it", by_role=True
        )
    for topic in _topics_that_block(action):
        taken = situation.taken.get(topic)
        if taken is not None:
            return Verdict(
                False, f"{taken.actor} {_past(taken.action)} this run at {taken.at:%H:%M:%S}"
            )
    if rule.states is not None and situation.state not in rule.states:
        why = _TOO_EARLY_OR_LATE.get(action, "not in this state")
        return Verdict(False, f"run {situation.run_id} is {situation.state.value}: {why}")
    return Verdict(True)


def _topics_that_block(action: Action) -> Iterable[Topic]:
    """Decisions already taken that make `action` too late."""
    topic = RULES[action].topic
    if topic is None:
        return ()
    if topic is Topic.CANCEL:
        return (Topic.CANCEL,)
    # Nothing is decided on a run someone is cancelling.
    return (topic, Topic.CANCEL)


# The timeline's decision events, by kind: which topic they settle and which action wrote them.
DECISION_KINDS: Mapping[str, tuple[Topic, Action]] = {
    rule.event_kind: (rule.topic, action)
    for action, rule in RULES.items()
    if rule.event_kind is not None and rule.topic is not None
}


def describe(action: Action, actor: str, text: str) -> tuple[str, Decided]:
    """The timeline's summary and payload of an accepted decision."""
    text = text.strip()
    rule = RULES[action]
    assert rule.event_kind is not None
    decision = DECISIONS[rule.event_kind]
    payload = decision(reason=text) if rule.needs_reason else decision(note=text)
    summaries = {
        Action.APPROVE: f"approved by {actor}",
        Action.DENY: f"denied by {actor}: {text}",
        Action.CANCEL: f"cancelled by {actor}: {text}",
        Action.CONFIRM_FIX: f"fix confirmed by {actor}",
        Action.REJECT_FIX: f"{actor} found the fix does not work: {text}",
    }
    return summaries[action], payload


def _past(action: Action) -> str:
    return {
        Action.APPROVE: "approved",
        Action.DENY: "denied",
        Action.CANCEL: "cancelled",
        Action.CONFIRM_FIX: "confirmed the fix of",
        Action.REJECT_FIX: "rejected the fix of",
    }.get(action, action.value)


def offered(situation: Situation, actor: str, actions: Iterable[Action]) -> list[Action]:
    """Of `actions`, those `actor` could take on the run now (a page offers only these)."""
    return [a for a in actions if decide(situation, a, actor, "a reason")]


def readme_table() -> list[tuple[str, str, str]]:
    """(command, who, when) for every action on a run: the README's table is tested against it."""
    rows = []
    for action, rule in RULES.items():
        who = ", ".join(r.value.replace("_", " ") for r in rule.roles)
        when = (
            "any time"
            if rule.states is None
            else "active runs"
            if rule.states == ACTIVE
            else ", ".join(sorted(s.value for s in rule.states))
        )
        rows.append((action.value, who, when))
    return rows
