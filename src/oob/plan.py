"""A run's plan: the config it follows, frozen in the store when the run starts.

The workflow, the policy and the views read a run's stages, jobs, gate, contexts, log pattern,
audiences, verification and roles from its plan, never from the config file of whichever
process looks at it: editing `oob.toml` never changes a running run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from oob import __version__
from oob.config import Config
from oob.config_errors import problems
from oob.errors import ProcedureError

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
    data = {k: v for k, v in plan.items() if k != "_source"}
    source = plan.get("_source")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ProcedureError(
            f"oob {__version__} cannot read the run's {problems('', Path('plan'), exc)}",
            hint="the oob that started the run wrote it: read it with that version",
        ) from None
    return config.model_copy(update={"source": Path(source) if source else None})


def digest(plan: dict[str, Any]) -> str:
    """A short fingerprint of a plan, to show which plan a run follows."""
    text = json.dumps(plan, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
