"""The `oob` command line: the root app, global options and error handling.

Each group of commands lives in its own module and registers itself on `app`; modules import
heavy libraries (DBOS, FastAPI, HTTP clients) inside the command bodies so that `oob --help`
stays instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from oob import __version__
from oob.cli.context import AppContext
from oob.cli.garbage import collect_late, skip_collection_at_exit
from oob.errors import OobError

app = typer.Typer(
    name="oob",
    help="Run an out-of-band (emergency) production deployment, from approval to postmortem.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"oob {__version__}")
        raise typer.Exit


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="OOB_CONFIG",
            help="Config file (default: ./oob.toml).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Global options."""
    ctx.obj = AppContext(config_path=config)


def _register() -> None:
    # Importing these modules only defines commands; they import their heavy libraries lazily.
    from oob.cli import (  # noqa: F401
        audit_cmd,
        check_cmds,
        config_cmds,
        hold_cmds,
        postmortem_cmd,
        rehearse_cmd,
        run_cmds,
        sandbox_cmd,
        serve_cmd,
        timeline_cmd,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `oob` console script: map oob's errors to one line and an exit code.

    Typer (in standalone mode) reports usage errors itself with exit code 2. Without `argv`
    (the console script, `python -m oob`) the command is the whole process, which collects no
    garbage while it starts nor at exit (`oob.cli.garbage`); with it (the tests), the command
    runs in the caller's process, whose collector is left alone.
    """
    if argv is not None:
        _command(argv)
        return
    collect_late()
    try:
        _command(None)
    finally:
        skip_collection_at_exit()


def _command(argv: list[str] | None) -> None:
    """One command: the process's command line when `argv` is None."""
    _register()
    try:
        _check_utf8(sys.argv[1:] if argv is None else argv)
        app(args=argv)
    except OobError as exc:
        err = AppContext.error_console()
        err.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
        if exc.hint:
            err.print(f"[dim]hint:[/] {escape(exc.hint)}", soft_wrap=True)
        sys.exit(exc.exit_code)


def _check_utf8(args: list[str]) -> None:
    from oob.errors import UsageError
    from oob.limits import is_utf8

    for position, arg in enumerate(args, start=1):
        if not is_utf8(arg):
            raise UsageError(
                f"argument {position} is not valid UTF-8",
                hint="retype it, or check the terminal's encoding (LANG, LC_ALL)",
            )
