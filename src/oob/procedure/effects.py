"""What the phases may do to the world and to time: the one interface between the runbook's
logic and durable execution.

`Durable` is the real one: every call is a DBOS step (checkpointed, replayed after a crash) or a
durable wait. The phases see only this interface, so their logic can be exercised with the
services faked and without DBOS (the tests' `Immediate` effects call the same steps' bodies).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from oob.policy import Taken, Topic
from oob.ports import Build
from oob.procedure import steps
from oob.procedure.runtime import Readiness
from oob.states import RunState

COMMAND_TOPIC = "command"
# A message on it holding this key is news of a build (`oob.web.hooks`), not of a decision.
LOOK = "look"


class Effects(Protocol):
    """Everything a phase does besides deciding."""

    def now(self) -> datetime: ...
    def record(self, run_id: str, key: str, event: Mapping[str, Any]) -> None: ...
    def transition(self, run_id: str, state: RunState) -> bool: ...
    def decisions(self, run_id: str) -> dict[Topic, Taken]: ...
    def decide(self, run_id: str, action: str, text: str) -> bool: ...
    def render(
        self, run_id: str, message: str, audiences: list[str], values: Mapping[str, Any]
    ) -> list[tuple[str, str, str]]: ...
    def post(  # noqa: PLR0917 - the step's arguments
        self, run_id: str, message: str, audience: str, channel: str, text: str, key: str
    ) -> None: ...
    def settle(self, run_id: str, message: str, otherwise: str) -> None: ...
    def readiness(self, run_id: str, fix_sha: str) -> Readiness: ...
    def main_head(self, run_id: str) -> str: ...
    def new_commits(self, baseline: str) -> list[dict[str, str]]: ...
    def hold(self, run_id: str) -> list[dict[str, Any]]: ...
    def lift_hold(self, run_id: str) -> list[str]: ...
    def trigger(
        self, run_id: str, job: str, parameters: dict[str, str], intent_at: datetime
    ) -> int: ...
    def queued(self, job: str, queue_id: int) -> tuple[int | None, bool]: ...
    def build(self, job: str, number: int) -> Build: ...
    def scan_log(
        self, job: str, number: int, start: int, pattern: str
    ) -> tuple[str | None, int, bool]: ...
    def stop(self, job: str, number: int) -> None: ...
    def downstream(
        self, job: str, after: datetime, upstream_job: str, upstream_number: int
    ) -> Build | None: ...
    def compare(self, fix_sha: str, released_sha: str) -> tuple[bool, str]: ...
    def deployment(self, run_id: str, state: str, link: str, description: str) -> int: ...
    def shield_up(self) -> bool: ...
    def probe(self, name: str) -> tuple[bool, str]: ...
    def postmortem(self, run_id: str) -> None: ...
    def take_slot(self, run_id: str, controller_url: str, limit: int, polling: float) -> str: ...
    def slot_position(self, slot: str, controller_url: str) -> int | None:
        """None once the slot is held, else how many runs are queued before it."""
        ...

    def free_slot(self, slot: str) -> None: ...
    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a message; True when it says a decision was taken (news of
        a build ends the wait too, for the next look, but is no decision)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class Durable:
    """The effects of a run executing as a DBOS workflow."""

    load = staticmethod(steps.load)
    now = staticmethod(steps.now)
    record = staticmethod(steps.record)
    transition = staticmethod(steps.transition)
    decisions = staticmethod(steps.decisions)
    decide = staticmethod(steps.decide)
    render = staticmethod(steps.render)
    post = staticmethod(steps.post)
    settle = staticmethod(steps.settle)
    readiness = staticmethod(steps.readiness)
    main_head = staticmethod(steps.main_head)
    new_commits = staticmethod(steps.new_commits)
    hold = staticmethod(steps.hold)
    lift_hold = staticmethod(steps.lift_hold)
    trigger = staticmethod(steps.trigger)
    queued = staticmethod(steps.queued)
    build = staticmethod(steps.build)
    scan_log = staticmethod(steps.scan_log)
    stop = staticmethod(steps.stop)
    downstream = staticmethod(steps.downstream)
    compare = staticmethod(steps.compare)
    deployment = staticmethod(steps.deployment)
    shield_up = staticmethod(steps.shield_up)
    probe = staticmethod(steps.probe)
    postmortem = staticmethod(steps.postmortem)

    @staticmethod
    def take_slot(run_id: str, controller_url: str, limit: int, polling: float) -> str:
        from oob.procedure import capacity

        return capacity.take(run_id, controller_url, limit, polling)

    @staticmethod
    def slot_position(slot: str, controller_url: str) -> int | None:
        from oob.procedure import capacity

        return capacity.position(slot, controller_url)

    @staticmethod
    def free_slot(slot: str) -> None:
        from oob.procedure import capacity

        capacity.free(slot)

    @staticmethod
    def wait(seconds: float) -> bool:
        from dbos import DBOS

        message = DBOS.recv(COMMAND_TOPIC, timeout_seconds=max(seconds, 0.0))
        return message is not None and LOOK not in message

    @staticmethod
    def sleep(seconds: float) -> None:
        from dbos import DBOS

        DBOS.sleep(max(seconds, 0.0))
