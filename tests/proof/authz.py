"""The authorization matrix, generated from the policy's rules (`oob.policy.RULES`).

The expected answer of every cell is computed here from the rule's data (its roles, states,
`needs_reason`, `not_own_run`), not by calling `oob.policy.decide`: a decision function that
disagreed with its own rules table would be caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from oob.policy import RULES, Action, Role
from oob.states import RunState

ROLES: dict[str, list[str]] = {
    "deployers": ["dee", "ria"],
    "approvers": ["abe", "ria"],
    "status_overriders": ["sol"],
    "fix_confirmers": ["fay"],
}
REQUESTER = "ria"  # a deployer and an approver, who requested the run
ACTORS: dict[str, str] = {
    "deployer": "dee",
    "approver": "abe",
    "status overrider": "sol",
    "fix confirmer": "fay",
    "requester (deployer+approver)": REQUESTER,
    "no role": "zed",
    "anonymous": "",
}
TEXTS = ("", "a reason")
RUN_ACTIONS = tuple(a for a in Action if a is not Action.DEPLOY)


@dataclass(frozen=True)
class Cell:
    action: Action
    who: str
    actor: str
    state: RunState
    text: str

    @property
    def expected(self) -> bool:
        rule = RULES[self.action]
        holders = {name for role in rule.roles for name in ROLES[Role(role).value]}
        return (
            self.actor in holders
            and (not rule.needs_reason or bool(self.text.strip()))
            and not (rule.not_own_run and self.actor == REQUESTER)
            and (rule.states is None or self.state in rule.states)
        )


def cells() -> Iterator[Cell]:
    for action in RUN_ACTIONS:
        for who, actor in ACTORS.items():
            for state in RunState:
                for text in TEXTS:
                    yield Cell(action, who, actor, state, text)


def rules_table() -> list[str]:
    """The per-action rules, as Markdown rows."""
    rows = [
        "| action | roles | states | reason | not on own run |",
        "| --- | --- | --- | --- | --- |",
    ]
    for action, rule in RULES.items():
        states = "any" if rule.states is None else ", ".join(sorted(s.value for s in rule.states))
        rows.append(
            f"| {action.value} | {', '.join(r.value for r in rule.roles)} | {states} | "
            f"{'required' if rule.needs_reason else '-'} | {'yes' if rule.not_own_run else '-'} |"
        )
    return rows
