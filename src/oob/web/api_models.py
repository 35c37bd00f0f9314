"""The dashboard's JSON API: its request and answer models (which its OpenAPI description
publishes) and the JSON of a run, its view and its events."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from oob.limits import MAX_MINUTES
from oob.readmodel import run_json
from oob.store import Event, Run
from oob.web.views import RunView

TEXT_LIMIT = 2000  # characters of a note or a reason


class ActionRequest(BaseModel):
    """The body of `POST /api/runs/{run_id}/actions/{action}`."""

    note: str = Field(default="", max_length=TEXT_LIMIT, description="approve, confirm-fix")
    reason: str = Field(
        default="",
        max_length=TEXT_LIMIT,
        description="deny, cancel, reject-fix, override-status (required)",
    )
    context: str = Field(
        default="", max_length=200, description="override-status: the required status context"
    )


class DeployRequest(BaseModel):
    """The body of `POST /api/runs`: what `oob deploy` asks for, by the same names."""

    pipeline: str | None = Field(
        default=None,
        max_length=63,
        description="The pipeline ([pipelines.NAME]); needed when the config has several",
    )
    fix: str = Field(max_length=100, description="The fix commit (7 to 40 hex digits)")
    symptoms: str = Field(max_length=TEXT_LIMIT)
    cause: str = Field(max_length=TEXT_LIMIT)
    fix_summary: str = Field(max_length=TEXT_LIMIT)
    affects: str = Field(default="", max_length=TEXT_LIMIT)
    release_wait_minutes: float | None = Field(
        default=None, ge=0, le=MAX_MINUTES, description="Default: the pipeline's release_wait"
    )
    approval_timeout_minutes: float | None = Field(default=None, ge=0, le=MAX_MINUTES)

    def texts(self) -> dict[str, str]:
        """The texts by the `oob deploy` options they come from (`--symptoms`, ...)."""
        fields = ("symptoms", "cause", "fix_summary", "affects")
        return {"--" + name.replace("_", "-"): getattr(self, name) for name in fields}


class OverrideRequest(BaseModel):
    """The body of `POST /api/overrides`: what `oob override-status` asks for."""

    pipeline: str | None = Field(
        default=None,
        max_length=63,
        description="The pipeline whose active run it is decided on; needed with several",
    )

    sha: str = Field(max_length=100, description="The commit (7 to 40 hex digits)")
    context: str = Field(max_length=200, description="A required status context")
    reason: str = Field(max_length=TEXT_LIMIT)


class RunJsonOut(BaseModel):
    """A run as `oob runs --json` prints it (`oob.readmodel.run_json`)."""

    run_id: str
    pipeline: str
    state: str
    outcome: str | None
    requester: str
    fix_sha: str
    created_at: str
    ended_at: str | None


class RunOut(RunJsonOut):
    """A run as `oob runs --json` prints it, and what the page shows."""

    active: bool
    symptoms: str
    affects: str
    cause: str
    fix_summary: str
    release_wait_minutes: float
    updated_at: str


class RunsOut(BaseModel):
    """`GET /api/runs`."""

    runs: list[RunOut]


class StatusOut(RunJsonOut):
    """What `oob status --json` prints (`oob.readmodel.Snapshot.to_json`)."""

    plan: str
    current_step: str | None
    eta_minutes: float | None
    waiting_for: dict[str, Any] | None
    undelivered: list[dict[str, Any]]
    hold_not_lifted: bool
    steps: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    events: list[dict[str, Any]]


class RunDetailOut(RunOut):
    """`GET /api/runs/{run_id}`: `oob status --json`'s figures and what only the page lists."""

    state_label: str
    current_step: str | None
    eta_minutes: float | None
    lead_time_minutes: float | None
    steps: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    builds: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    actions: list[str]
    status: StatusOut


class EventOut(BaseModel):
    """One entry of a run's timeline and audit log."""

    id: int
    at: str
    actor: str
    source: str
    kind: str
    summary: str
    details: dict[str, Any]


class EventsOut(BaseModel):
    """`GET /api/runs/{run_id}/events`."""

    events: list[EventOut]


class MeOut(BaseModel):
    """`GET /api/me`."""

    name: str
    may: list[str]
    csrf_token: str


class ActionOut(BaseModel):
    """The answer to an action taken."""

    ok: bool
    run: RunOut


class DeployOut(BaseModel):
    """The answer to `POST /api/runs`: the run started, and who may approve it."""

    ok: bool
    run: RunOut
    approvers: list[str]


class OverrideOut(BaseModel):
    """The answer to `POST /api/overrides`, as `oob override-status --json` prints it."""

    sha: str
    context: str
    previous_state: str
    description: str
    actor: str
    reason: str
    run_id: str | None = Field(description="The run it was recorded in; null: the audit log")


class ErrorOut(BaseModel):
    """Why a request was refused; `exit_code` is the one `oob` gives the same error."""

    error: str
    hint: str | None = None
    exit_code: int | None = None


def run_out(run: Run) -> dict[str, Any]:
    # The CLI's shape (`oob runs --json`), then what the dashboard shows besides.
    return {
        **run_json(run),
        "active": run.active,
        "symptoms": run.symptoms,
        "affects": run.affects,
        "cause": run.cause,
        "fix_summary": run.fix_summary,
        "release_wait_minutes": run.release_wait_minutes,
        "updated_at": run.updated_at.isoformat(),
    }


def view_out(view: RunView, actions: list[str], *, latest: int = 8) -> dict[str, Any]:
    # The view holds every event; `oob status` shows the latest few, unless asked for more.
    status = view.snapshot.to_json()
    return {
        **run_out(view.run),
        "state_label": view.state_label,
        "current_step": status["current_step"],
        "eta_minutes": status["eta_minutes"],
        "lead_time_minutes": view.lead_time_minutes,
        "steps": status["steps"],
        "stages": status["stages"],
        "builds": [
            {
                "job": b.job,
                "number": b.number,
                "url": b.url,
                "result": b.result,
                "started_at": b.started_at.isoformat(),
            }
            for b in view.builds
        ],
        "messages": [
            {"at": m.at.isoformat(), "channel": m.channel, "summary": m.summary, "url": m.url}
            for m in view.messages
        ],
        "actions": actions,
        "status": {**status, "events": status["events"][-latest:]},
    }


def event_out(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "source": event.source.value,
        "kind": event.kind,
        "summary": event.summary,
        "details": event.details,
    }
