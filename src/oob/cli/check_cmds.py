"""`oob check`, `oob doctor` and `oob override-status`: pre-flight against the real services."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from oob.cli import app
from oob.cli.context import AppContext, fail_unless
from oob.cli.options import JsonOption, PipelineOption

if TYPE_CHECKING:
    from rich.console import Console

    from oob.doctor import Check
    from oob.preflight import BranchFinding, Report


@app.command()
def check(
    ctx: typer.Context,
    fix_sha: Annotated[str, typer.Argument(help="The fix commit (7 to 40 hex digits).")],
    as_json: JsonOption = False,
    pipeline: PipelineOption = None,
) -> None:
    """Is the fix ready to deploy? Test gate, commit status, and the release branch.

    Exit 0 when ready, 1 when not (the report says why and what to do), 2 on bad input.
    """
    from oob.adapters import connect
    from oob.clock import SystemClock
    from oob.preflight import preflight, validate_sha

    obj: AppContext = ctx.obj
    config = obj.config.pick(pipeline)
    sha = validate_sha(fix_sha)
    with connect(config) as services:
        report = preflight(
            config,
            sha,
            build_server=services.build_server,
            code_host=services.code_host,
            clock=SystemClock(),
        )
    obj.answer(as_json, report.to_json, lambda console: _print_report(console, report))
    fail_unless(report.ready)


@app.command()
def doctor(
    ctx: typer.Context, as_json: JsonOption = False, pipeline: PipelineOption = None
) -> None:
    """Check each configured service: reachable, credentials, jobs, permissions, channels;
    of every pipeline (or `--pipeline`'s).

    Exit 0 only when every check passes.
    """
    from oob.doctor import diagnose_pipelines

    obj: AppContext = ctx.obj
    checks = diagnose_pipelines(obj.config, pipeline)
    ok = all(c.ok for c in checks)
    obj.answer(
        as_json,
        lambda: {"ok": ok, "checks": [_check_json(c) for c in checks]},
        lambda console: _print_checks(console, checks),
    )
    fail_unless(ok)


def _check_json(check: Check) -> dict[str, object]:
    """A check as `--json` prints it: its fields in order, its name as "check"."""
    fields = asdict(check)
    return {"service": fields.pop("service"), "check": fields.pop("name"), **fields}


def _print_checks(console: Console, checks: list[Check]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="oob doctor", title_justify="left")
    table.add_column("service")
    table.add_column("check")
    table.add_column("")
    table.add_column("detail / fix")
    for c in checks:
        detail = escape(c.detail) + (f"\n[dim]fix:[/] {escape(c.fix)}" if c.fix else "")
        table.add_row(c.service, escape(c.name), _mark(c.ok), detail)
    console.print(table)


@app.command("override-status")
def override_status(  # noqa: PLR0917 - typer passes every option by keyword
    ctx: typer.Context,
    sha: Annotated[str, typer.Argument(help="The commit (7 to 40 hex digits).")],
    context: Annotated[str, typer.Option("--context", help="A required status context.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it failed spuriously.")],
    asserted: Annotated[
        str | None,
        typer.Option("--as", help="Act as NAME (only where the config allows it)."),
    ] = None,
    as_json: JsonOption = False,
    pipeline: PipelineOption = None,
) -> None:
    """Force a spuriously failing required status to success, with a reason, audited."""
    from contextlib import closing

    from oob.cli.reach import runs_for

    obj: AppContext = ctx.obj
    with closing(runs_for(obj, asserted)) as runs:
        done = runs.override(sha, context, reason, pipeline)
    if as_json:
        obj.print_json(done)
        return
    where = f"run {done['run_id']}" if done["run_id"] else "the audit log"
    obj.console.print(
        f"{done['context']} on {done['sha'][:12]}: {done['previous_state']} → success "
        f"({done['description']!r}); recorded in {where}",
        markup=False,
    )


def _print_report(console: Console, report: Report) -> None:
    from rich.markup import escape

    fix = report.fix
    title = fix.message.splitlines()[0] if fix.message else ""
    console.print(f"Fix {fix.sha[:12]} {escape(title)} ({escape(fix.author)})")
    _print_gate(console, report)
    _print_status(console, report)
    _print_branch(console, report.branch)
    for finding in report.warnings:
        console.print(f"[yellow]warning:[/] {escape(finding.what)}\n  → {escape(finding.todo)}")
    if report.ready:
        console.print("[bold green]ready to deploy[/]")
        return
    console.print("[bold red]not ready:[/]")
    for finding in report.problems:
        console.print(f"  • {escape(finding.what)}\n    → {escape(finding.todo)}")


def _print_gate(console: Console, report: Report) -> None:
    """The test gate's build that contains the fix, and when it finished (or will)."""
    from oob.preflight import GateState

    gate, build = report.gate, report.gate.build
    mark = _mark(gate.state is GateState.PASSED)
    if build is None:
        console.print(f"{mark} test gate {gate.job}: no build containing the fix")
        return
    tested = build.sha[:12] if build.sha else "commit not known yet"
    relation = " (the fix itself)" if build.sha == report.fix.sha else ""
    when = (
        f"finished {_local(gate.finished_at)}"
        if gate.finished_at
        else f"expected to finish {_local(gate.expected_finish)}"
    )
    console.print(
        f"{mark} test gate {gate.job} #{build.number}: {build.result or 'running'}, "
        f"tested {tested}{relation}, {when}"
    )


def _print_status(console: Console, report: Report) -> None:
    """The fix commit's combined status, and each of its contexts."""
    from rich.markup import escape
    from rich.table import Table

    status = report.status
    console.print(
        f"{_mark(status.passing)} combined status of {status.sha[:12]}: {status.state.value}"
    )
    table = Table(show_edge=False, box=None, pad_edge=False)
    table.add_column("  context")
    table.add_column("state")
    table.add_column("description")
    for row in status.contexts:
        style = "green" if row.label == "success" else "yellow" if row.label == "pending" else "red"
        name = row.context if row.required else f"{row.context} (not required)"
        table.add_row(
            f"  {escape(name)}", f"[{style}]{row.label}[/]", escape(row.description or "")
        )
    console.print(table)


def _print_branch(console: Console, branch: BranchFinding) -> None:
    """Whether the release branch holds the fix, and what it holds after it."""
    from rich.markup import escape

    if not branch.contains_fix:
        console.print(f"{_mark(False)} {branch.branch} does not contain the fix")
    elif not branch.commits_after:
        console.print(f"{_mark(True)} {branch.branch} is at the fix")
    else:
        console.print(
            f"[yellow]![/] {branch.branch} has {len(branch.commits_after)} commit(s) after the fix:"
        )
        for commit in branch.commits_after:
            first = commit.message.splitlines()[0] if commit.message else ""
            console.print(f"    {commit.sha[:12]} {escape(first)} ({escape(commit.author)})")


def _mark(ok: bool) -> str:
    return "[green]✓[/]" if ok else "[red]✗[/]"


def _local(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M %Z") if value else "?"
