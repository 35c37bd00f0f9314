"""`oob postmortem RUN`: write a run's postmortem draft and, on request, open its pull request."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext
from oob.cli.options import JsonOption

if TYPE_CHECKING:
    from rich.console import Console

    from oob.config import Config
    from oob.ports import PullRequest
    from oob.postmortem import Draft
    from oob.store import Source, Store


@app.command()
def postmortem(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id.")],
    *,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the draft (default: the config's [postmortem] path, "
            "under the current directory).",
            show_default=False,
        ),
    ] = None,
    open_pr: Annotated[
        bool,
        typer.Option(
            "--open-pr",
            help="Commit the draft to the run's branch in the postmortems repository and open "
            "(or update) its pull request against the base branch.",
        ),
    ] = False,
    as_name: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Act as NAME (only where the config allows asserted identities).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the postmortem draft of RUN from its timeline, in the VA.gov structure."""
    from oob.store import Source, open_store

    obj: AppContext = ctx.obj
    store = open_store()
    try:
        config = obj.config.for_pipeline(store.run(run_id).pipeline)
        actor = _actor(config, as_name) if open_pr else None
        draft, path = _write_draft(store, config, run_id, output)
        pr: PullRequest | None = None
        if actor is not None:
            pr = _open(store, config, draft, actor, Source.CLI)
    finally:
        store.close()
    obj.answer(
        as_json,
        lambda: {
            "run_id": run_id,
            "outcome": draft.facts.outcome.value if draft.facts.outcome else None,
            "path": str(path),
            "repository": config.postmortem.repository,
            "repository_path": draft.repository_path,
            "pull_request": None if pr is None else {"number": pr.number, "url": pr.url},
        },
        lambda console: _say_written(console, run_id, path, pr),
    )


def _write_draft(
    store: Store, config: Config, run_id: str, output: Path | None
) -> tuple[Draft, Path]:
    """The run's draft, written to `output` (a file, or a folder for the draft's own file name)
    or else to the config's [postmortem] path under the current directory; and where it went."""
    from oob import postmortem as pm

    here = None if output is not None else Path.cwd()
    draft = pm.build_draft(store, config, run_id, directory=here)
    path = output if output is not None else Path.cwd() / draft.repository_path
    if path.is_dir():  # --output DIR: the draft's own file name, in that folder
        path /= Path(draft.repository_path).name
    pm.write_file(path, draft)
    return draft, path


def _say_written(console: Console, run_id: str, path: Path, pr: PullRequest | None) -> None:
    console.print(f"Postmortem draft of run {run_id} written to {path}", soft_wrap=True)
    if pr is not None:
        console.print(
            f"Pull request #{pr.number} ({pr.head} → {pr.base}): {pr.url}", soft_wrap=True
        )


def _open(store: Store, config: Config, draft: Draft, actor: str, source: Source) -> PullRequest:
    """Open or update the draft's pull request through the GitHub adapter, and close it."""
    from oob import postmortem as pm
    from oob.adapters import make_code_host

    code_host = make_code_host(config)
    try:
        return pm.open_pull_request(store, config, code_host, draft, actor=actor, source=source)
    finally:
        code_host.close()


def _actor(config: Config, as_name: str | None) -> str:
    """Who acts: `--as NAME` where the config allows it, else OOB_USER or the login name."""
    import getpass
    import os

    from oob.errors import UsageError

    if as_name is not None:
        if not config.roles.allow_asserted_identity:
            raise UsageError(
                "--as is not allowed by this config",
                hint="set OOB_USER, or roles.allow_asserted_identity = true in a sandbox config",
            )
        return as_name
    return os.environ.get("OOB_USER") or getpass.getuser()
