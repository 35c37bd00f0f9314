"""Each kind of event has one typed payload: written by `details()`, read back by `read()`,
and details of another shape read as None, never as an exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from oob import events
from oob.events import (
    PAYLOADS,
    ApprovalRequested,
    Approved,
    DeploymentRecorded,
    HoldStarted,
    MergeDetected,
    Payload,
    PullRequestOpened,
    ReleasePicked,
    ShieldUp,
    StepStarted,
)
from oob.records import Event, Source

AT = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
SAMPLES: list[Payload] = [
    ApprovalRequested(eta_minutes=42.5, stage="staging"),
    Approved(note="go"),
    HoldStarted(baseline="a" * 40, mode="status", held=({"number": 7, "sha": "b" * 40},)),
    MergeDetected(sha="c" * 40, author="dana", message="Fix <b> & go", url=None),
    ReleasePicked(sha="d" * 40, state="success", contains_fix=True, line="Commit status: ok"),
    ShieldUp(build="deploys/cms #642"),
    StepStarted(step="verify", deadline=AT, needs_confirmation=True),
    PullRequestOpened("org/pm", "oob/run-1", "main", "docs/pm.md", 12, "https://x/pull/12"),
    DeploymentRecorded("production", "success", 2_004_118_001),
    DeploymentRecorded("production", "in_progress", error="GitHub answered 403"),
]


def _event(kind: str, details: dict[str, Any]) -> Event:
    return Event(1, "run-1", AT, "oob", Source.WORKER, kind, "s", details)


def test_every_kind_of_event_has_one_payload() -> None:
    kinds = {v for k, v in vars(events).items() if k.startswith("KIND_")}
    builds = {events.KIND_BUILD_STARTED, events.KIND_BUILD_FINISHED}  # BuildRecord
    assert set(PAYLOADS) == kinds - builds
    assert all(kind == cls.KIND for kind, cls in PAYLOADS.items())


@pytest.mark.parametrize("payload", SAMPLES, ids=lambda p: type(p).__name__)
def test_a_payload_reads_back_what_it_wrote(payload: Payload) -> None:
    details = payload.details()
    assert type(payload).read(details) == payload
    assert type(payload).of(_event(payload.KIND, details)) == payload


def test_a_field_keeps_the_key_the_store_has_always_had() -> None:
    assert ShieldUp(build="deploys/cms #642").details() == {"from": "deploys/cms #642"}
    assert StepStarted(step="verify", deadline=AT).details()["deadline"] == AT.isoformat()


@pytest.mark.parametrize(
    ("cls", "details"),
    [
        (PullRequestOpened, {"repository": "o/r", "branch": "b", "base": "main", "path": "p",
                       "number": "12", "url": "u"}),  # a number as text
        (PullRequestOpened, {"repository": "o/r"}),  # fields missing
        (Approved, {"note": 5}),
        (ReleasePicked, {"sha": "d", "state": "success", "contains_fix": "yes"}),
        (HoldStarted, {"baseline": "a", "held": "7"}),
        (StepStarted, {"step": "verify", "deadline": "tomorrow"}),
        (ApprovalRequested, {"eta_minutes": True, "stage": "s"}),
    ],
)  # fmt: skip
def test_details_of_another_shape_read_as_none(cls: type[Payload], details: dict[str, Any]) -> None:
    assert cls.read(details) is None


def test_a_payload_of_another_kind_is_none() -> None:
    assert Approved.of(_event(events.KIND_DENIED, {"reason": "no"})) is None
    assert Approved.of(None) is None


def test_extra_keys_from_another_version_are_ignored() -> None:
    assert Approved.read({"note": "go", "by": "slack"}) == Approved(note="go")
