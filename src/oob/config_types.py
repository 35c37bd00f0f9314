"""The parts oob.toml's models are built of: their base (unknown keys are errors, values are
immutable) and the values several sections share: minutes, time limits, Jenkins job paths, the
names of environment variables, and a choice of exactly one of two keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from oob.limits import MAX_MINUTES

# Durations a person configures: finite, and at most a day (an out-of-band deploy that waits
# longer is not one; `inf` would make a run wait forever).
Minutes = Annotated[float, Field(ge=0, le=MAX_MINUTES, allow_inf_nan=False)]
# A time limit may be long (a drill that must not time out), but not infinite.
Limit = Annotated[float, Field(ge=0, allow_inf_nan=False)]
JobPath = Annotated[str, Field(pattern=r"^[^/\s]+(/[^/\s]+)*$")]
# The name of an environment variable (that holds a secret: the file never does).
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Model(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def exactly_one(model: Model, first: str, second: str, what: str) -> None:
    """Refuse `model` unless exactly one of its keys `first` and `second` is given."""
    if (getattr(model, first) is None) == (getattr(model, second) is None):
        raise ValueError(f"{what} needs exactly one of `{first}` or `{second}`")
