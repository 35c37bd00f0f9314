"""`oob serve`: the dashboard, where the product owner approves and everyone follows a run."""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext
from oob.cli.options import HostOption, TimeScaleOption
from oob.errors import ConfigError

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from oob.config import Config
    from oob.telemetry import Traces
    from oob.web.app import Settings

# Said by `oob serve` when no shared key is configured (`[web] session_key_env`).
NO_SHARED_KEY = (
    "[web] session_key_env is not set: sign-ins and forms do not survive a restart "
    "nor cross to another `oob serve`"
)


@app.command()
def serve(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8080,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Also execute runs in this process (--no-worker when `oob worker`s do).",
        ),
    ] = True,
    time_scale: TimeScaleOption = 1.0,
) -> None:
    """Serve the dashboard (runs, live run pages, actions, JSON API under /api/)."""
    obj: AppContext = ctx.obj
    config = obj.config
    if config.web is None:
        raise ConfigError(
            "the dashboard needs a [web] table in the config: who may sign in, and how",
            hint='add [web] identity = "sso" with trusted_proxies, or identity = "tokens" '
            "with [web.users.NAME] token_env = ...",
        )

    from oob.store import database_url, redact_url
    from oob.telemetry import traces
    from oob.web.server import serve_dashboard

    exported = traces(config.telemetry) if worker else None
    url = database_url()
    with ExitStack() as stack:
        settings = _settings(config, url, stack, host=host, time_scale=time_scale)

        # Built before serving, so that a missing token stops the command with its message.
        def say(line: str) -> None:
            obj.console.print(line, soft_wrap=True)  # whole lines, whatever the width

        execute = _runs_executor(settings, url, stack, exported, say=say) if worker else None
        shown = f"[{host}]" if ":" in host else host
        say(f"oob dashboard on http://{shown}:{port}/ (runs in {redact_url(url)})")
        if config.web.session_key_env is None:
            say(NO_SHARED_KEY)
        serve_dashboard(settings, host, port, worker=execute)


def _settings(
    config: Config, url: str, stack: ExitStack, *, host: str, time_scale: float
) -> Settings:
    """The dashboard's store, commands, sign-in and Slack app; `stack` closes what they open.

    Sessions are kept in the run store, so that every `oob serve` on it shares them."""
    from oob.adapters.pool import Pool
    from oob.clock import clock_for
    from oob.commands import Control
    from oob.override import override_in
    from oob.sessions import StoredSessions
    from oob.store import open_store
    from oob.web.app import Settings
    from oob.web.auth import Authenticator
    from oob.web.hooks import hooks_for
    from oob.web.slack import interactions_for

    assert config.web is not None  # `serve` refuses a config without one
    store = open_store(url, clock=clock_for(config.sandbox_base()))
    stack.callback(store.close)
    services = stack.enter_context(Pool(config))
    commands = Control(store, url)
    clock = store.clock
    return Settings(
        config=config,
        store=store,
        commands=commands,
        override_status=partial(override_in, config, services, store, clock=clock),
        authenticator=Authenticator(config.web, clock, sessions=StoredSessions(store)),
        time_scale=time_scale,
        host=host,
        slack=interactions_for(config, store, commands, now=lambda: clock.now().timestamp()),
        hooks=hooks_for(config.web, store, url),
    )


def _runs_executor(
    settings: Settings,
    url: str,
    stack: ExitStack,
    exported: Traces | None,
    *,
    say: Callable[[str], None],
) -> Callable[[threading.Event], None]:
    """What `oob worker` does, to run in a thread of the dashboard's process until stopped."""
    from oob.adapters.pool import Pool
    from oob.adapters.retry import RetryPolicy
    from oob.procedure import Tuning
    from oob.store import state_dir
    from oob.worker import WorkerOptions, make_runtime, serve

    policy = RetryPolicy(time_scale=settings.time_scale)
    services = stack.enter_context(Pool(settings.config, policy=policy).check_tokens())
    runtime = make_runtime(
        settings.store,
        services,
        drafts=state_dir() / "postmortems",
        tuning=Tuning(time_scale=settings.time_scale),
    )

    def execute(stop: threading.Event) -> None:
        serve(runtime, url, WorkerOptions(traces=exported), stop, say=say)

    return execute
