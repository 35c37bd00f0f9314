"""The options and arguments several commands share, each defined once with its help text."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated

import typer


def refuse_nan(value: float | None) -> float | None:
    """The callback of every option taking a number with a fraction: Click's ranges let `nan`
    through (no comparison with it holds), so it is refused here."""
    if value is not None and math.isnan(value):
        raise typer.BadParameter("nan is not a number")
    return value


AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Act as NAME (only where roles.allow_asserted_identity is set)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RunArgument = Annotated[str, typer.Argument(help="The run id (see `oob runs`).")]
HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
TimeScaleOption = Annotated[
    float,
    typer.Option(
        "--time-scale",
        min=0.001,
        callback=refuse_nan,
        help="For a sandbox running N times real time.",
    ),
]
PipelineOption = Annotated[
    str | None,
    typer.Option(
        "--pipeline",
        metavar="NAME",
        help="The pipeline ([pipelines.NAME]); needed when the config has several.",
    ),
]


class Preset(StrEnum):
    """The sandbox pipeline a rehearsal plays (or a sandbox's config names): Jenkins releases
    it, or GitHub Actions."""

    VA_CMS = "va-cms"
    GHA = "gha"
    GHA_RUNS = "gha-runs"


PresetOption = Annotated[
    Preset,
    typer.Option(
        "--preset",
        help="va-cms: Jenkins' jobs release; gha: a GitHub Actions workflow releases "
        "(dispatched, followed job by job, deploying to the production environment); gha-runs: "
        "its deploy is the run of another workflow that its success starts.",
    ),
]
