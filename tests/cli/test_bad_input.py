"""Bad input is refused before a run exists, in one line with the right exit code: no run, no
worker left behind, no traceback (issue: commands and endings)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.store import Store
from tests.conftest import CliResult, RunCli

DEPLOY = ("--symptoms", "editors cannot log in", "--cause", "bad update", "--fix-summary", "revert")


def one_line(result: CliResult) -> str:
    assert "Traceback" not in result.err, result.err
    assert result.err.startswith("error: "), result.err
    return result.err


@pytest.fixture
def sandboxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SandboxServer, Path]:
    monkeypatch.setenv("OOB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    sandbox = SandboxServer(Options(scenario="happy", time_scale=60))
    sandbox.__enter__()
    config = tmp_path / "oob.toml"
    config.write_text(render_config(sandbox.url, sandbox.options.token), encoding="utf-8")
    yield sandbox, config  # type: ignore[misc]
    sandbox.__exit__(None, None, None)


def nothing_started(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'home' / 'oob.sqlite'}")
    try:
        assert store.runs() == []
        assert store.workers() == []
    finally:
        store.close()
    assert not (tmp_path / "home" / "worker.log").exists()


def test_an_unknown_fix_commit_is_refused_before_a_run_exists(
    run_cli: RunCli, sandboxed: tuple[SandboxServer, Path], tmp_path: Path
) -> None:
    _, config = sandboxed
    result = run_cli(
        "--config", str(config), "deploy", "--as", "operator", "--fix", "1234567", *DEPLOY
    )
    assert result.code == 2
    assert "has no commit '1234567'" in one_line(result)
    nothing_started(tmp_path)


def test_a_missing_token_is_named_before_a_run_exists(
    run_cli: RunCli, sandboxed: tuple[SandboxServer, Path], tmp_path: Path
) -> None:
    sandbox, config = sandboxed
    text = config.read_text(encoding="utf-8")
    start = text.index("[sandbox]")
    config.write_text(text[:start], encoding="utf-8")  # no sandbox token: the variables count
    fix = str(sandbox.state()["fix_sha"])
    result = run_cli("--config", str(config), "deploy", "--as", "operator", "--fix", fix, *DEPLOY)
    assert result.code == 2
    assert "OOB_JENKINS_TOKEN is not set" in one_line(result)
    nothing_started(tmp_path)


def test_a_deployer_role_is_checked_before_a_run_exists(
    run_cli: RunCli, sandboxed: tuple[SandboxServer, Path], tmp_path: Path
) -> None:
    sandbox, config = sandboxed
    fix = str(sandbox.state()["fix_sha"])
    result = run_cli("--config", str(config), "deploy", "--as", "po", "--fix", fix, *DEPLOY)
    assert result.code == 2
    assert "po may not start a deploy" in one_line(result)
    nothing_started(tmp_path)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--release-wait", "inf", "--release-wait"),
        ("--release-wait", "100000", "--release-wait"),
        ("--symptoms", "x" * 2001, "--symptoms is 2,001 characters; at most 2,000"),
        ("--cause", "   ", "--cause must not be empty"),
        ("--symptoms", "broken \udcff", "not valid UTF-8"),
    ],
)
def test_bounds_and_texts_are_refused_before_a_run_exists(
    run_cli: RunCli,
    sandboxed: tuple[SandboxServer, Path],
    tmp_path: Path,
    option: str,
    value: str,
    says: str,
) -> None:
    sandbox, config = sandboxed
    fix = str(sandbox.state()["fix_sha"])
    args = dict(zip(DEPLOY[::2], DEPLOY[1::2], strict=True))
    args[option] = value
    flat = [part for pair in args.items() for part in pair]
    result = run_cli("--config", str(config), "deploy", "--as", "operator", "--fix", fix, *flat)
    assert result.code == 2
    assert says in result.err
    assert "Traceback" not in result.err
    nothing_started(tmp_path)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("release_wait = 15", "release_wait = inf", "pipeline.release_wait"),
        ("estimate_minutes = 50", "estimate_minutes = inf", "estimate_minutes"),
    ],
)
def test_infinite_minutes_in_the_config_are_refused(
    run_cli: RunCli, preset_file: Path, old: str, new: str, says: str
) -> None:
    text = preset_file.read_text(encoding="utf-8")
    assert old in text
    preset_file.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = run_cli("--config", str(preset_file), "config", "validate")
    assert result.code == 2
    assert says in one_line(result)


def test_a_config_that_is_not_utf8_is_one_line(run_cli: RunCli, preset_file: Path) -> None:
    preset_file.write_bytes(preset_file.read_bytes() + b"\n# caf\xe9\n")
    result = run_cli("--config", str(preset_file), "config", "validate")
    assert result.code == 2
    assert "not valid UTF-8" in one_line(result)


def test_an_argument_that_is_not_utf8_is_one_line(run_cli: RunCli) -> None:
    result = run_cli("runs", "--json", "\udcff")
    assert result.code == 2
    assert "argument 3 is not valid UTF-8" in one_line(result)


@pytest.mark.parametrize("kind", ["unwritable", "corrupt"])
def test_a_store_that_cannot_be_used_is_one_line_naming_it(
    run_cli: RunCli,
    preset_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    if kind == "unwritable":
        home = Path("/proc/oob-cannot-be-here")  # not writable, even by root
    else:
        home = tmp_path / "home"
        home.mkdir()
        (home / "oob.sqlite").write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("OOB_HOME", str(home))
    result = run_cli("--config", str(preset_file), "runs")
    assert result.code == 2
    assert str(home) in one_line(result)


def test_a_plan_another_oob_wrote_is_one_line(
    run_cli: RunCli, preset_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen: `oob status` of a run whose plan a newer oob wrote (a key this one does not know)
    ended in pydantic's traceback. `oob status` reads only the plan's outline (`Outline`): a
    key it does not read is no obstacle to showing the run, one it needs and cannot find is
    said in one line."""
    from oob.config import parse
    from oob.plan import freeze
    from oob.store import RunRequest

    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    monkeypatch.delenv("OOB_SERVER", raising=False)
    plan = freeze(parse(preset_file.read_text("utf-8"), preset_file)) | {"from_a_newer_oob": 1}
    request = RunRequest("va-cms", "alice", "a" * 40, "cannot publish", "a migration", "revert")
    store = Store(url)
    store.create_run(request, plan, run_id="run-1")
    renamed = {("stages" if k == "pipeline" else k): v for k, v in plan.items()}
    store.create_run(replace(request, pipeline="forms"), renamed, run_id="run-2")
    store.close()
    shown = run_cli("--config", str(preset_file), "status", "run-1")
    assert shown.code == 0
    assert "deploys/cms-vagov-prod" in shown.out
    result = run_cli("--config", str(preset_file), "status", "run-2")
    assert result.code == 1
    assert "cannot read the run's plan: it has no 'pipeline'" in one_line(result)


def test_a_name_with_rich_markup_is_shown_as_typed(
    run_cli: RunCli, preset_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen: `oob runs` and `oob status` ended in Rich's MarkupError traceback when a requester
    or an actor (`OOB_USER`, `--as`: anyone's text) was `[/]...`; `[bold]` styled the table."""
    from oob.config import parse
    from oob.plan import freeze
    from oob.store import RunRequest

    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    monkeypatch.delenv("OOB_SERVER", raising=False)
    name = "[/]mallory [bold]x[/bold]"
    request = RunRequest("va-cms", name, "a" * 40, "cannot publish", "a migration", "revert")
    store = Store(url)
    store.create_run(request, freeze(parse(preset_file.read_text("utf-8"), preset_file)), "run-1")
    store.append_event("run-1", actor=name, source="cli", kind="note", summary="[/]a note")
    store.close()
    for command in ("runs", "status"):
        result = run_cli("--config", str(preset_file), command)
        assert result.code == 0, result.err
        assert name in result.out


def _number_options() -> list[tuple[str, Any, Any]]:
    """Every option of every command that takes a number with a fraction: the command's name,
    its Click command and the option's parameter."""
    from typing import get_type_hints

    from typer.main import get_command

    from oob.cli import _register, app

    _register()
    found = []
    commands = [("", get_command(app))]
    while commands:
        path, command = commands.pop()
        subcommands = getattr(command, "commands", {})
        commands += [(f"{path} {name}".strip(), sub) for name, sub in subcommands.items()]
        callback = getattr(command.callback, "__wrapped__", command.callback)
        hints = get_type_hints(callback) if callback else {}
        found += [
            (path, command, param)
            for param in command.params
            if hints.get(param.name) in (float, float | None)
        ]
    return sorted(found, key=lambda f: (f[0], f[2].opts[0]))


NUMBER_OPTIONS = _number_options()


@pytest.mark.parametrize(
    ("name", "command", "param"),
    NUMBER_OPTIONS,
    ids=[f"{name} {param.opts[0]}" for name, _, param in NUMBER_OPTIONS],
)
def test_a_number_option_refuses_nan(name: str, command: Any, param: Any) -> None:
    """Seen with Typer 0.28: Click's ranges let `nan` through (no comparison with it holds), so
    `oob deploy --release-wait nan` went on with NaN minutes (tests/proof/test_fuzz.py)."""
    from typer._click import Context
    from typer._click.exceptions import BadParameter

    assert len(NUMBER_OPTIONS) >= 11  # deploy's minutes, the time scales, the worker's seconds
    with pytest.raises(BadParameter):
        param.process_value(Context(command, info_name=name), "nan")
