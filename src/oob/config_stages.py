"""oob.toml's `[pipeline]` (or each `[pipelines.NAME]`): the stages from a fix to production,
and the roles three of them play in the procedure (the test gate, the release trigger, and the
stages the release hands on to)."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from oob.config_types import WORKFLOW_PATH, JobPath, Minutes, Model
from oob.eta import find_stage


class StageKind(StrEnum):
    MANUAL = "manual"
    GITHUB = "github"
    JENKINS = "jenkins"
    GITHUB_ACTIONS = "github-actions"

    @property
    def builds(self) -> bool:
        """True for the kinds a build server runs (their stages name a `job`)."""
        return self in (StageKind.JENKINS, StageKind.GITHUB_ACTIONS)


class Stage(Model):
    """One step of the lead time from a fix to production."""

    name: str = Field(min_length=1)
    kind: StageKind
    job: JobPath | None = None
    estimate_minutes: Minutes

    @model_validator(mode="after")
    def _job_matches_kind(self) -> Stage:
        if self.kind.builds and not self.job:
            what = "path" if self.kind is StageKind.JENKINS else "(`release.yml#deploy`)"
            raise ValueError(
                f"stage {self.name!r} is a {self.kind.value} stage and needs a `job` {what}"
            )
        if not self.kind.builds and self.job:
            raise ValueError(f"stage {self.name!r} has a `job` but is of kind {self.kind.value!r}")
        if self.kind is StageKind.GITHUB_ACTIONS and not re.match(WORKFLOW_PATH, self.job or ""):
            raise ValueError(
                f"stage {self.name!r}: `job` names a workflow file and, after #, one of its jobs "
                f"(`release.yml#deploy`), not {self.job!r}"
            )
        if self.kind is StageKind.JENKINS and re.match(WORKFLOW_PATH, self.job or ""):
            raise ValueError(
                f"stage {self.name!r}: {self.job!r} names a workflow file: its kind is "
                '"github-actions"'
            )
        return self


class Pipeline(Model):
    """The stages in order, and the roles three of them play in the procedure."""

    name: str = Field(min_length=1)
    stages: list[Stage] = Field(min_length=1)
    test_gate: str = Field(description="The build stage whose success on the fix is required.")
    release_trigger: str = Field(description="The build stage an out-of-band deploy triggers.")
    release_wait: Minutes = Field(description="Minutes the release job waits before it picks.")
    release_wait_parameter: str = "release_wait"
    merge_hold: Literal["ask", "status", "lock"] = Field(
        default="ask",
        description="How merges into the release branch are held during a deploy: `ask` "
        "engineers in chat; `status` also sets a pending `oob/merge-hold` commit status on every "
        "open pull request into it (refused by GitHub when that context is required); `lock` "
        "sets the branch protection's `lock_branch` (needs an admin token).",
    )
    correlation_input: str = Field(
        default="oob_run",
        pattern=r"^[A-Za-z_][\w-]*$",
        description="A github-actions release_trigger's input that carries the run's id: the "
        "workflow shows it in its run-name (or a step's name), so oob finds its own run.",
    )
    deployment_environment: str | None = Field(
        default=None,
        pattern=r"^[^\s/][^/]{0,254}$",
        description="Record each deploy as a GitHub deployment of the release branch to this "
        "environment (e.g. `production`), made when the release is triggered, its status "
        "following the run's (queued, in_progress, success, failure or inactive), linking its "
        "page.",
    )
    release_log_pattern: str = Field(
        description="Regex with groups `state` and `sha` matching the release job's log line "
        "that names the commit it released."
    )

    @field_validator("release_log_pattern")
    @classmethod
    def _pattern_has_groups(cls, value: str) -> str:
        try:
            groups = re.compile(value).groupindex
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        if not {"state", "sha"} <= set(groups):
            raise ValueError("needs the named groups (?P<state>...) and (?P<sha>...)")
        return value

    @model_validator(mode="after")
    def _roles_name_jenkins_stages(self) -> Pipeline:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError("stage names must be unique")
        for role in ("test_gate", "release_trigger"):
            stage = self.find(getattr(self, role))
            if stage is None:
                raise ValueError(f"{role} {getattr(self, role)!r} is not a stage of the pipeline")
            if not stage.kind.builds:
                raise ValueError(f"{role} {stage.name!r} must be a jenkins or github-actions stage")
        if self.index(self.test_gate) >= self.index(self.release_trigger):
            raise ValueError("the test_gate must come before the release_trigger")
        if any(not s.kind.builds for s in self.to_production):
            raise ValueError(
                "every stage after the release_trigger must be a jenkins or github-actions stage"
            )
        return self

    def find(self, key: str) -> Stage | None:
        """The stage named `key`, or whose job path is `key` (case-insensitive)."""
        return find_stage(self.stages, key)

    def index(self, key: str) -> int:
        stage = self.find(key)
        if stage is None:
            raise KeyError(key)
        return self.stages.index(stage)

    @property
    def gate(self) -> Stage:
        return self.stages[self.index(self.test_gate)]

    @property
    def trigger(self) -> Stage:
        return self.stages[self.index(self.release_trigger)]

    @property
    def to_production(self) -> list[Stage]:
        """The build stages the release job hands on to, in order, ending in production."""
        return self.stages[self.index(self.release_trigger) + 1 :]
