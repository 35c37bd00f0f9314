"""The enforced merge hold (`merge_hold = "status"`) on doubles of the services and a real DBOS:
a pull request pushed during the hold (its head moves to a new commit) is held again, and at the
end every head it had is released exactly once (issue 18)."""

from __future__ import annotations

from importlib import resources

import pytest

from oob.ports import LogChunk, StatusState
from oob.store import RunState
from tests.procedure.doubles import RELEASE
from tests.procedure.harness import Harness, approve

HOLD = "oob/merge-hold"
BEFORE_PUSH = "a" * 40
AFTER_PUSH = "c" * 40

STATUS_HOLD = (
    (resources.files("oob") / "presets" / "va-cms.toml")
    .read_text(encoding="utf-8")
    .replace("release_wait = 15\n", 'release_wait = 15\nmerge_hold = "status"\n')
)


def push_during_release_wait(harness: Harness, sha: str) -> None:
    """The engineer pushes to the open pull request while the release job waits: its head moves
    to `sha` when oob reads the release build's log for the second time."""
    builds, code = harness.builds, harness.code
    read_log = builds.log

    def log(path: str, number: int, start: int = 0) -> LogChunk:
        chunk = read_log(path, number, start)
        if path == RELEASE and builds.log_reads[number] == 2:
            code.open_pull = sha
        return chunk

    builds.log = log  # type: ignore[method-assign]


@pytest.mark.parametrize("preset_text", [STATUS_HOLD])
def test_a_pull_request_pushed_during_the_hold_is_held_and_released_once(
    harness: Harness,
) -> None:
    harness.code.open_pull = BEFORE_PUSH
    push_during_release_wait(harness, AFTER_PUSH)
    run = harness.start()
    approve(harness, run)
    assert harness.end(run.id).outcome is RunState.RESOLVED

    assert harness.code.open_pull == AFTER_PUSH, "the push never happened during the run"
    held_then_released = [(HOLD, StatusState.PENDING), (HOLD, StatusState.SUCCESS)]
    assert harness.code.statuses[BEFORE_PUSH] == held_then_released
    assert harness.code.statuses[AFTER_PUSH] == held_then_released

    events = harness.store.events(run.id)
    kinds = [e.kind for e in events]
    (extended,) = [e for e in events if e.kind == "hold.extended"]
    assert [p["sha"] for p in extended.details["held"]] == [AFTER_PUSH]
    assert [p["number"] for p in extended.details["held"]] == [7]
    assert kinds.index("hold.started") < kinds.index("hold.extended") < kinds.index("hold.lifted")
    assert "hold.not_lifted" not in kinds
    facts = harness.store.run(run.id).facts
    assert sorted(facts["hold_released"]) == [BEFORE_PUSH, AFTER_PUSH]
    assert harness.chat.purposes()["resume_merging:engineers"] == 1
