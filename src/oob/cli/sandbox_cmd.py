"""`oob sandbox`: a local Jenkins, GitHub, Slack and CMS playing the va-cms pipeline, for drills."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext


@app.command()
def sandbox(
    ctx: typer.Context,
    *,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
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
    faults: Annotated[
        float,
        typer.Option(
            help="Share of API requests that fail as real services do (0 to 1).", min=0, max=1
        ),
    ] = 0,
    seed: Annotated[
        int, typer.Option(help="Seed of durations and faults: same seed, same run.")
    ] = 0,
    token: Annotated[
        str, typer.Option(help="The one token every service accepts (user `oob`).")
    ] = "sandbox-token",  # noqa: S107 - the sandbox's well-known fake credential
    write_config: Annotated[
        Path | None,
        typer.Option(
            "--write-config", help="Write an oob.toml pointing every service at this sandbox."
        ),
    ] = None,
) -> None:
    """Serve the sandbox: Jenkins, GitHub, Slack and the CMS on one port, in simulated time."""
    from oob.sandbox.configfile import render_config
    from oob.sandbox.faults import FaultPlan
    from oob.sandbox.scenario import load_scenario, scenario_names
    from oob.sandbox.server import SandboxServer
    from oob.sandbox.world import Options

    console = ctx.obj.console if isinstance(ctx.obj, AppContext) else AppContext().console
    load_scenario(scenario)  # an unknown name fails before anything listens
    options = Options(scenario=scenario, seed=seed, time_scale=time_scale, token=token)
    server = SandboxServer(options, faults=FaultPlan(rate=faults, seed=seed), host=host, port=port)
    server.start()
    try:
        state = server.state()
        url = server.url
        if write_config is not None:
            write_config.write_text(render_config(url, token), encoding="utf-8")
        clock = "manual (POST /_sandbox/advance)" if time_scale == 0 else f"{time_scale:g}x"
        lines = [
            f"oob sandbox on {url}  (scenario {scenario}: {state['summary']})",
            f"  Jenkins   {url}/jenkins/    user oob, API token {token}",
            f"  GitHub    {url}/github      token {token}  (API base URL)",
            f"  Slack     {url}/slack/api/  token {token}",
            f"  CMS       {url}/cms/        login page {url}/cms/user/login",
            f"  control   {url}/_sandbox/ (state, ledger, reset, advance)",
            f"  repository {state['repo']}: fix {state['fix_sha']}, main {state['main_sha']}",
            f"  production {state['cms']['tag']} ({state['cms']['deployed_sha']}), "
            f"login answers {state['cms']['login_status']}",
            f"  clock {clock}, faults {faults:g}, seed {seed}",
            f"  scenarios: {', '.join(scenario_names())}",
        ]
        if write_config is not None:
            lines.append(f"  config written to {write_config}: oob --config {write_config} ...")
        for line in lines:
            console.print(line, markup=False, soft_wrap=True)
        console.print("Ctrl-C stops the sandbox.", markup=False)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
