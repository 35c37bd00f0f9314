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
from oob.cli.options import HostOption, Preset, PresetOption, refuse_nan
from oob.errors import UsageError

if TYPE_CHECKING:
    # typer carries its own copy of click; its help is formatted with that copy's types.
    from rich.console import Console
    from typer._click import Context, HelpFormatter

    from oob.sandbox.options import Options
    from oob.sandbox.server import SandboxServer


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
        help="Share of API requests that fail as real services do (0 to 1).",
        min=0,
        max=1,
        callback=refuse_nan,
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

PipelinesOption = Annotated[
    int,
    typer.Option(
        "--pipelines",
        help="Serve a fleet of N pipelines, p001 to pNNN, each a world of its own under "
        "/pNNN/ (1: one pipeline at the root, as always).",
        min=1,
        max=999,
    ),
]
MixOption = Annotated[
    str | None,
    typer.Option(
        "--mix",
        help="The scenarios of the pipelines with their weights, drawn with --seed: "
        "happy=0.8,wrong-commit=0.1,flaky-cypress=0.1 (default: --scenario for all).",
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
            callback=refuse_nan,
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
    pipelines: PipelinesOption = 1,
    mix: MixOption = None,
) -> None:
    """Serve the sandbox: Jenkins, GitHub, Slack and the CMS on one port, in simulated time."""
    from oob.sandbox.configfile import PRESETS
    from oob.sandbox.faults import FaultPlan
    from oob.sandbox.fleet import draw, parse_mix
    from oob.sandbox.options import Options
    from oob.sandbox.server import SandboxServer

    console = ctx.obj.console if isinstance(ctx.obj, AppContext) else AppContext().console
    _refuse_bad_input(scenario, write_config, force=force)
    scenarios = draw(parse_mix(mix), pipelines, seed) if mix is not None else [scenario] * pipelines
    options = Options(
        scenario=scenarios[0],
        seed=seed,
        time_scale=time_scale,
        token=token,
        actions_dispatch=actions_dispatch.value,
        actions_layout=PRESETS[preset.value],
    )
    fleet = scenarios if pipelines > 1 else None
    plan = FaultPlan(rate=faults, seed=seed)
    server = SandboxServer(options, faults=plan, host=host, port=port, scenarios=fleet)
    _stop_on_signals()
    server.start()
    try:
        _serve(console, server, write_config, preset.value, faults=faults)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _serve(
    console: Console, server: SandboxServer, written: Path | None, preset: str, *, faults: float
) -> None:
    """Write the config if asked, say where everything is, and serve until stopped."""
    options, fleet = server.options, server.scenarios
    if written is not None:
        _write_config(written, server.url, options.token, preset, fleet or [options.scenario])
    if fleet is None:
        state = server.state()
        _announce(console, server.url, state, options, faults=faults, written=written)
    else:
        _announce_fleet(console, server.url, fleet, options, written=written)
    server.serve_forever()


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


def _write_config(path: Path, url: str, token: str, preset: str, scenarios: list[str]) -> None:
    """An oob.toml of `preset` pointing every service at the sandbox on `url`, with a [web]
    table, its stages estimated as the scenario runs the jobs; for a fleet, a
    [pipelines.NAME] table per pipeline."""
    from oob.sandbox.configfile import render_config, render_fleet_config
    from oob.sandbox.fleet import pipeline_names

    if len(scenarios) > 1:
        text = render_fleet_config(url, token, pipeline_names(len(scenarios)), preset=preset)
    else:
        text = render_config(
            url, token, sealed=True, web=True, preset=preset, scenario=scenarios[0]
        )
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


def _announce_fleet(
    console: Console, url: str, scenarios: list[str], options: Options, *, written: Path | None
) -> None:
    """Where the fleet's pipelines are, and which scenario each plays."""
    from collections import Counter

    from oob.sandbox.fleet import pipeline_names

    names = pipeline_names(len(scenarios))
    scale = options.time_scale
    clock = "manual (POST /PNNN/_sandbox/advance)" if scale == 0 else f"{scale:g}x"
    mix = ", ".join(f"{name} {count}" for name, count in Counter(scenarios).most_common())
    lines = [
        f"oob sandbox on {url}  ({len(names)} pipelines, {names[0]} to {names[-1]})",
        f"  each under {url}/PNNN/: jenkins/, github, slack/api/, cms/, _sandbox/ (its state)",
        f"  token {options.token}; one clock for all, {clock}, seed {options.seed}",
        f"  scenarios: {mix}",
    ]
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
