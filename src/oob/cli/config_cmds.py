"""`oob init` and `oob config validate|show`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from oob.cli import app
from oob.cli.context import AppContext
from oob.errors import UsageError

if TYPE_CHECKING:
    from oob.config import Config

config_app = typer.Typer(help="Check and show the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def preset_names() -> list[str]:
    folder = resources.files("oob") / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


@app.command()
def init(
    preset: Annotated[str, typer.Option(help="The preset to start from.")] = "va-cms",
    path: Annotated[Path, typer.Option(help="Where to write the config.")] = Path("oob.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented oob.toml from a preset."""
    if preset not in preset_names():
        raise UsageError(f"no preset {preset!r}", hint=f"use one of: {', '.join(preset_names())}")
    if path.exists() and not force:
        raise UsageError(f"{path} already exists", hint="pass --force to overwrite it")
    text = (resources.files("oob") / "presets" / f"{preset}.toml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path} from preset {preset}; check it with `oob config validate`")


@config_app.command()
def validate(ctx: typer.Context) -> None:
    """Check the config file; exit 0 when valid, 2 with the first problem otherwise."""
    from oob.config import listed

    obj: AppContext = ctx.obj
    config = obj.config
    names = config.pipeline_names
    if len(names) == 1:
        stages = len(config.pipeline.stages)
        typer.echo(f"{config.source}: valid ({config.pipeline.name}, {stages} stages)")
    else:
        typer.echo(f"{config.source}: valid ({len(names)} pipelines: {listed(names)})")


@config_app.command()
def show(ctx: typer.Context) -> None:
    """Print the resolved config as JSON (each pipeline's, when there are several); secrets
    appear only as set or unset."""
    obj: AppContext = ctx.obj
    config = obj.config
    if config.pipelines_ is None:
        data = _shown(config)
    else:
        data = {"pipelines": {n: _shown(config.for_pipeline(n)) for n in config.pipeline_names}}
    data["source"] = str(config.source)
    obj.print_json(data)


def _shown(config: Config) -> dict[str, Any]:
    """One pipeline's config as `show` prints it."""
    data: dict[str, Any] = config.model_dump(mode="json", by_alias=True)
    for name, service in config.services:
        if service is not None:
            data["services"][name]["token"] = "set" if config.secret_is_set(service) else "unset"
    if config.sandbox is not None:
        data["sandbox"] = {"token": "set (sandbox only)"}
    return data
