"""`oob serve`: the dashboard, where the product owner approves and everyone follows a run."""

from __future__ import annotations

from typing import Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext
from oob.errors import ConfigError


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8080,
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

    from oob.control import Control
    from oob.store import database_url, open_store, redact_url
    from oob.web.app import Settings
    from oob.web.auth import Authenticator
    from oob.web.server import serve_dashboard

    url = database_url()
    store = open_store(url)
    settings = Settings(
        config=config,
        store=store,
        commands=Control(config, store, url),
        authenticator=Authenticator(config.web, store.clock),
    )
    shown = f"[{host}]" if ":" in host else host
    obj.console.print(f"oob dashboard on http://{shown}:{port}/ (runs in {redact_url(url)})")
    try:
        serve_dashboard(settings, host, port)
    finally:
        store.close()
