"""`oob sandbox`: a local Jenkins, GitHub, Slack and CMS playing the va-cms pipeline, for drills."""

from __future__ import annotations

import signal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from oob.cli import app
from oob.cli.context import AppContext
from oob.cli.options import HostOption, Preset, PresetOption
from oob.errors import UsageError

if TYPE_CHECKING:
    # typer carries its own copy of click; its help is formatted with that copy's types.
    from rich.console import Console
    from typer._click import Context, HelpFormatter

    from oob.sandbox.options import Options


class _WithScenarios(TyperCommand):
    """`oob sandbox --help` ends with the scenarios, one line each (read only for the help)."""

    def format_epilog(self, ctx: Context, formatter: HelpFormatter) -> None:
        from oob.sandbox.scenario import load_scenario, scenario_names

        rows = [(name, load_scenario(name).summary) for name in scenario_names()]
        with formatter.section("Scenarios (--scenario)"):
            formatter.write_dl(rows)


class Dispatch(StrEnum):
    """How the sandbox's GitHub answers a workflow dispatch (`Options.actions_dispatch`)."""

    DETAILS = "details"
    NO_CONTENT = "no-content"
    REFUSE = "refuse"


FaultsOption = Annotated[
    float,
    typer.Option(
        help="Share of API requests that fail as real services do (0 to 1).", min=0, max=1
    ),
]
WriteConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--write-config",
        help="Write an oob.toml pointing every service at this sandbox, with a [web] table "
        "for `oob serve` (refuses to overwrite a file without --force); of --preset.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Let --write-config overwrite an existing file.")
]
DispatchOption = Annotated[
    Dispatch,
    typer.Option(
        "--actions-dispatch",
        help="details: 200 with the run (GitHub since February 2026); no-content: 204 without "
        "it, as older GitHub Enterprise Servers; refuse: 422 to return_run_details.",
    ),
]


@app.command(cls=_WithScenarios)
def sandbox(
    ctx: typer.Context,
    *,
    host: HostOption = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="Port to listen on (0: any free one).", min=0, max=65535)
    ] = 8765,
    scenario: Annotated[str, typer.Option(help="What goes wrong (see the list below).")] = "happy",
    time_scale: Annotated[
        float,
        typer.Option(
            help="Simulated seconds per real second; 0 moves time only on POST /_sandbox/advance.",
            min=0,
        ),
    ] = 60,
    faults: FaultsOption = 0,
    seed: Annotated[
        int, typer.Option(help="Seed of durations and faults: same seed, same run.")
    ] = 0,
    token: Annotated[
        str, typer.Option(help="The one token every service accepts (user `oob`).")
    ] = "sandbox-token",  # noqa: S107 - the sandbox's well-known fake credential
    write_config: WriteConfigOption = None,
    force: ForceOption = False,
    preset: PresetOption = Preset.VA_CMS,
    actions_dispatch: DispatchOption = Dispatch.DETAILS,
) -> None:
    """Serve the sandbox: Jenkins, GitHub, Slack and the CMS on one port, in simulated time."""
    from oob.sandbox.configfile import PRESETS
    from oob.sandbox.faults import FaultPlan
    from oob.sandbox.options import Options
    from oob.sandbox.server import SandboxServer

    console = ctx.obj.console if isinstance(ctx.obj, AppContext) else AppContext().console
    _refuse_bad_input(scenario, write_config, force=force)
    options = Options(
        scenario=scenario,
        seed=seed,
        time_scale=time_scale,
        token=token,
        actions_dispatch=actions_dispatch.value,
        actions_layout=PRESETS[preset.value],
    )
    server = SandboxServer(options, faults=FaultPlan(rate=faults, seed=seed), host=host, port=port)
    _stop_on_signals()
    server.start()
    try:
        state = server.state()
        if write_config is not None:
            _write_config(write_config, server.url, token, preset.value)
        _announce(console, server.url, state, options, faults=faults, written=write_config)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and `kill` (SIGTERM) stop the sandbox cleanly, as they stop `oob serve`,
    also where the shell that started it ignores SIGINT (a script's background job: Python then
    leaves SIGINT ignored, and Ctrl-C did nothing)."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _refuse_bad_input(scenario: str, write_config: Path | None, *, force: bool) -> None:
    """An unknown scenario, or a file in the config's way, fails before anything listens."""
    from oob.sandbox.scenario import load_scenario

    load_scenario(scenario)
    if write_config is not None and write_config.exists() and not force:
        raise UsageError(
            f"{write_config} exists", hint="pass --force to overwrite it, or choose another path"
        )


def _write_config(path: Path, url: str, token: str, preset: str) -> None:
    """An oob.toml of `preset` pointing every service at the sandbox on `url`, with a [web]
    table."""
    from oob.sandbox.configfile import render_config

    text = render_config(url, token, sealed=True, web=True, preset=preset)
    path.write_text(text, encoding="utf-8")


def _announce(
    console: Console,
    url: str,
    state: dict[str, Any],
    options: Options,
    *,
    faults: float,
    written: Path | None,
) -> None:
    """Say where the services are, how time and faults go, and how to use the config written."""
    from oob.sandbox.scenario import scenario_names

    scale = options.time_scale
    clock = "manual (POST /_sandbox/advance)" if scale == 0 else f"{scale:g}x"
    lines = _banner(url, options.token, options.scenario, state)
    lines.append(f"  clock {clock}, faults {faults:g}, seed {options.seed}")
    lines.append(f"  scenarios: {', '.join(scenario_names())}")
    if written is not None:
        lines += _config_lines(written, options.token)
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)
    console.print("Ctrl-C stops the sandbox.", markup=False)


def _banner(url: str, token: str, scenario: str, state: dict[str, Any]) -> list[str]:
    """Where each service is, with its credentials, and the world it starts in."""
    return [
        f"oob sandbox on {url}  (scenario {scenario}: {state['summary']})",
        f"  Jenkins   {url}/jenkins/    user oob, API token {token}",
        f"  GitHub    {url}/github      token {token}  (API base URL)",
        f"  Slack     {url}/slack/api/  token {token}",
        f"  CMS       {url}/cms/        login page {url}/cms/user/login",
        f"  control   {url}/_sandbox/ (state, ledger, reset, advance)",
        f"  repository {state['repo']}: fix {state['fix_sha']}, main {state['main_sha']}",
        f"  production {state['cms']['tag']} ({state['cms']['deployed_sha']}), "
        f"login answers {state['cms']['login_status']}",
    ]


def _config_lines(path: Path, token: str) -> list[str]:
    """How to use the config just written: commands, and the dashboard's sign-in."""
    from oob.sandbox.configfile import PEOPLE, person_token

    people = ", ".join(f"{p} with token {person_token(token, p)}" for p in PEOPLE)
    return [
        f"  config written to {path}: oob --config {path} deploy --as operator ...",
        f"  dashboard: oob --config {path} serve, then sign in as {people}",
    ]
