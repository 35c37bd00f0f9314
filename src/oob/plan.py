"""A run's plan: the config it follows, frozen in the store when the run starts.

The workflow, the policy and the views read a run's stages, jobs, gate, contexts, log pattern,
audiences, verification and roles from its plan, never from the config file of whichever
process looks at it: editing `oob.toml` never changes a running run.

The plan is the config's models' own JSON (`freeze`), read back into them (`thaw`). What
people see of a run (`oob.readmodel.fold`) reads only its `Outline`: the stages, the release
trigger, the roles and whether the fix needs a person's confirmation, read from that JSON
without the models, whose import and building were a third of `oob status`'s start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oob import __version__
from oob.errors import ProcedureError
from oob.eta import find_stage

if TYPE_CHECKING:
    from oob.config import Config

WITHHELD = "(withheld)"


def freeze(config: Config) -> dict[str, Any]:
    """The plan of a run that starts now under `config` (JSON; never a secret, only the names
    of the variables that hold them). A plan is one pipeline's: `config.for_pipeline(NAME)`."""
    config = config.for_pipeline(config.pipeline.name)  # refused when several: a bug
    plan = config.model_dump(mode="json", by_alias=True)
    plan["_source"] = str(config.source) if config.source else None
    if plan.get("sandbox"):
        # The one credential a config may hold: the worker connects with its own config's,
        # never the plan's, so the plan keeps only that there was one.
        plan["sandbox"]["token"] = WITHHELD
        if plan["sandbox"].get("signing_secret"):
            plan["sandbox"]["signing_secret"] = WITHHELD
    return plan


def thaw(plan: dict[str, Any]) -> Config:
    """The config a plan froze; `ProcedureError` for a plan this oob cannot read (written by
    another version of oob)."""
    from pydantic import ValidationError

    from oob.config import Config
    from oob.config_errors import problems

    data = {k: v for k, v in plan.items() if k != "_source"}
    source = plan.get("_source")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise _unreadable(problems("", Path("plan"), exc)) from None
    return config.model_copy(update={"source": Path(source) if source else None})


def _unreadable(what: str) -> ProcedureError:
    return ProcedureError(
        f"oob {__version__} cannot read the run's {what}",
        hint="the oob that started the run wrote it: read it with that version",
    )


@dataclass(frozen=True)
class StageOutline:
    name: str
    job: str | None
    estimate_minutes: float


@dataclass(frozen=True)
class PipelineOutline:
    """The plan's stages in order, and the one an out-of-band deploy triggers."""

    name: str
    stages: tuple[StageOutline, ...]
    release_trigger: str

    def find(self, key: str) -> StageOutline | None:
        """The stage named `key`, or whose job path is `key` (as `Pipeline.find`)."""
        return find_stage(self.stages, key)

    @property
    def trigger(self) -> StageOutline:
        found = self.find(self.release_trigger)
        assert found is not None  # the models checked it when the plan was frozen
        return found


@dataclass(frozen=True)
class RoleNames:
    """Who holds each role of the plan's `[roles]` (as `oob.config.Roles` names them)."""

    deployers: tuple[str, ...]
    approvers: tuple[str, ...]
    status_overriders: tuple[str, ...]
    fix_confirmers: tuple[str, ...]


@dataclass(frozen=True)
class Outline:
    """What the views read of a run's plan."""

    pipeline: PipelineOutline
    roles: RoleNames
    require_confirmation: bool

    @classmethod
    def read(cls, plan: Mapping[str, Any]) -> Outline:
        """The outline of a frozen plan (`freeze`'s JSON); `ProcedureError` for a plan of
        another shape (written by another version of oob)."""
        try:
            pipeline, roles = plan["pipeline"], plan["roles"]
            stages = tuple(
                StageOutline(s["name"], s["job"], float(s["estimate_minutes"]))
                for s in pipeline["stages"]
            )
            return cls(
                PipelineOutline(pipeline["name"], stages, pipeline["release_trigger"]),
                RoleNames(*(tuple(roles[f]) for f in RoleNames.__dataclass_fields__)),
                bool(plan["verify"]["require_confirmation"]),
            )
        except KeyError as exc:
            raise _unreadable(f"plan: it has no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise _unreadable(f"plan: {exc}") from None

    @classmethod
    def of(cls, config: Config) -> Outline:
        """The outline of the plan a run under `config` (one pipeline's) follows."""
        return cls.read(freeze(config))


def digest(plan: dict[str, Any]) -> str:
    """A short fingerprint of a plan, to show which plan a run follows."""
    text = json.dumps(plan, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
