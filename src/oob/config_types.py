"""The parts oob.toml's models are built of: their base (unknown keys are errors, values are
immutable) and the values several sections share: minutes, time limits, Jenkins job paths, the
names of environment variables, and sections that take exactly one of two keys."""

from __future__ import annotations

from typing import Annotated, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oob.limits import MAX_MINUTES

# Durations a person configures: finite, and at most a day (an out-of-band deploy that waits
# longer is not one; `inf` would make a run wait forever).
Minutes = Annotated[float, Field(ge=0, le=MAX_MINUTES, allow_inf_nan=False)]
# A time limit may be long (a drill that must not time out), but not infinite.
Limit = Annotated[float, Field(ge=0, allow_inf_nan=False)]
JOB_PATH = r"^[^/\s]+(/[^/\s]+)*$"
JobPath = Annotated[str, Field(pattern=JOB_PATH)]
# A GitHub Actions stage's path: a workflow file, or one job of its runs (`release.yml#deploy`).
WORKFLOW_PATH = r"^[^#/\s]+\.ya?ml(#[^#\s]+)?$"
# The name of an environment variable (that holds a secret: the file never does).
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OneOf(Model):
    """A section that takes exactly one of two keys (`keys`); `called` names it in the error."""

    keys: ClassVar[tuple[str, str]]
    called: ClassVar[str]

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        first, second = self.keys
        if (getattr(self, first) is None) == (getattr(self, second) is None):
            raise ValueError(f"{self.called} needs exactly one of `{first}` or `{second}`")
        return self
