"""The CLI's foundation commands: exit codes, one-line errors, the preset round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunCli


def test_version_and_help(run_cli: RunCli) -> None:
    result = run_cli("--version")
    assert result.code == 0
    assert result.out.startswith("oob ")
    assert run_cli("--help").code == 0


def test_help_imports_no_heavy_module() -> None:
    # `oob --help` must stay instant: none of these may load at start-up.
    code = (
        "import sys\n"
        "from oob.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'dbos', 'httpx', 'fastapi', 'sqlalchemy', 'slack_sdk', 'apprise', 'api4jenkins',"
        " 'pydantic', 'jinja2', 'uvicorn'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_status_and_runs_load_no_workflow_engine_nor_http_client(
    tmp_path: Path, preset_file: Path
) -> None:
    """`oob status` and `oob runs` read the store: DBOS, httpx, the web stack and the workflow's
    own modules stay unloaded (seen: the read model pulled in the workflow's steps, and
    `oob status` took 1.9 s; then `oob.procedure`, 15 ms, for the names of its steps)."""
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    _store_with_a_run(url, preset_file)
    code = (
        "import sys\n"
        "from oob.cli import main\n"
        "for argv in (['status', 'run-1'], ['runs']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = {'dbos', 'httpx', 'fastapi', 'uvicorn', 'slack_sdk', 'oob.procedure'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    env = {**os.environ, "OOB_CONFIG": str(preset_file), "OOB_DATABASE_URL": url}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_status_and_runs_read_the_store_without_sqlalchemy(
    tmp_path: Path, preset_file: Path
) -> None:
    """The store reads and writes through the driver's DB-API (`oob.database`): SQLAlchemy's
    import was about 150 ms of `oob status` and of `oob runs` (1,000 runs stored), on a quiet
    machine; both commands still show the run."""
    probe = "sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy')"
    lines = _shown_with_a_run(tmp_path, preset_file, [["status", "run-1"], ["runs"]], probe)
    assert any(line.startswith("run run-1 ") for line in lines)  # `oob status`'s head
    assert any(line.split()[:1] == ["run-1"] for line in lines)  # a row of `oob runs`
    assert lines[-1] == "[]"


def test_status_builds_none_of_the_config_models(tmp_path: Path, preset_file: Path) -> None:
    """`oob status` reads the run against its plan's outline (`oob.plan.Outline`), and tells the
    real clock from the config's tables: pydantic and the config's models (a third of its
    start, once SQLAlchemy was gone) stay unloaded; the run's stages are still shown."""
    probe = "sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic' or m == 'oob.config')"
    lines = _shown_with_a_run(tmp_path, preset_file, [["status", "run-1"]], probe)
    assert any("deploys/cms-vagov-prod" in line for line in lines)  # the last stage
    assert any("ETA to restore service" in line for line in lines)
    assert lines[-1] == "[]"


def _shown_with_a_run(
    tmp_path: Path, config: Path, commands: list[list[str]], probe: str
) -> list[str]:
    """What `oob COMMAND`s print, then `probe` (an expression, `sys` imported), in one fresh
    process on a store with one run, `run-1`, following `config` (no server)."""
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    _store_with_a_run(url, config)
    code = (
        "import sys\n"
        "from oob.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        f"print({probe})\n"
    )
    env = {**os.environ, "OOB_CONFIG": str(config), "OOB_DATABASE_URL": url}
    env.pop("OOB_SERVER", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    return out.strip().splitlines()


def test_runs_reads_no_config() -> None:
    """`oob runs` asks no time of the runs' clock, so it reads no config (pydantic's models,
    40 ms of its start) and asks no sandbox."""
    assert _after_oob(["runs"], "'oob.config' in sys.modules") == "False"


def _after_oob(argv: list[str], probe: str) -> str:
    """What `probe` (an expression, `sys` imported) prints after `oob ARGV` ran in a fresh
    process without config, server or store."""
    code = (
        "import sys\n"
        "from oob.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print({probe})\n"
    )
    env = {**os.environ, "OOB_CONFIG": "/nonexistent/oob.toml"}
    env.pop("OOB_SERVER", None)
    env["OOB_DATABASE_URL"] = "sqlite:///:memory:"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    return out.strip().splitlines()[-1]


def test_a_command_collects_no_garbage_while_it_starts_nor_at_exit(
    tmp_path: Path, preset_file: Path
) -> None:
    """Seen: the collector walked the 100,000 objects of `oob status`'s start some 140 times
    as they were made, and all of them again at exit: a third of the command's time."""
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    _store_with_a_run(url, preset_file)
    code = (
        "import gc, sys\n"
        "from oob.cli import main\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'start' and seen.append(info))\n"
        "for argv in (['oob', 'status', 'run-1'], ['oob', 'runs']):\n"
        "    sys.argv = argv\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "print(len(seen), gc.get_freeze_count() > 0)\n"
    )
    env = {**os.environ, "OOB_CONFIG": str(preset_file), "OOB_DATABASE_URL": url}
    env.pop("OOB_SERVER", None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout
    assert out.strip().splitlines()[-1] == "0 True"


def test_a_long_command_collects_as_usual_once_started() -> None:
    """The collector is held back only for a command's start: past it, the default
    thresholds (a worker and the dashboard run for days)."""
    code = (
        "import gc\n"
        "from oob.cli.garbage import FIRST_COLLECTION, collect_late\n"
        "default = gc.get_threshold()\n"
        "collect_late()\n"
        "held = gc.get_threshold()\n"
        "kept = [[] for _ in range(FIRST_COLLECTION + 1000)]\n"
        "print(held[0] == FIRST_COLLECTION, gc.get_threshold() == default)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "True True"


def test_runs_loads_no_pydantic() -> None:
    """Seen: Typer 0.29 coerced every parameter through a pydantic `TypeAdapter`, so that
    pydantic (and through its plugin loader `importlib.metadata`) loaded for `oob runs`, a
    sixth of its start; Typer is kept below 0.29 (a venv made before: reinstall it with
    `constraints.txt`)."""
    pydantic = "sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic')"
    assert _after_oob(["runs", "--pipeline", "cms"], pydantic) == "[]"


def test_runs_lists_the_runs_of_a_sandbox_that_stopped(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen: `oob runs` with a sandbox config failed with "the sandbox ... does not answer"
    once the sandbox had stopped, asking it for a time the list does not show."""
    from oob.sandbox.configfile import render_config

    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    monkeypatch.delenv("OOB_SERVER", raising=False)
    config = tmp_path / "oob.toml"
    config.write_text(render_config("http://127.0.0.1:9", "sandbox-token"), encoding="utf-8")
    _store_with_a_run(url, config)
    listed = run_cli("--config", str(config), "runs", "--json")
    assert listed.code == 0, listed.err
    assert [r["run_id"] for r in json.loads(listed.out)] == ["run-1"]
    # What shows a run's time still asks the sandbox, and says it does not answer.
    shown = run_cli("--config", str(config), "status", "run-1")
    assert shown.code == 2
    assert "does not answer" in shown.err


def _store_with_a_run(url: str, config: Path) -> None:
    """A store at `url` with one run, `run-1`, following `config`."""
    from oob.config import parse
    from oob.plan import freeze
    from oob.store import RunRequest, Store

    request = RunRequest("cms", "alice", "a" * 40, "cannot publish", "a migration", "revert it")
    store = Store(url)
    store.create_run(request, freeze(parse(config.read_text("utf-8"), config)), run_id="run-1")
    store.close()


def test_init_then_validate(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "oob.toml"
    assert run_cli("init", "--preset", "va-cms", "--path", str(path)).code == 0
    result = run_cli("--config", str(path), "config", "validate")
    assert result.code == 0
    assert "valid (va-cms, 10 stages)" in result.out


def test_init_refuses_to_overwrite(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "oob.toml"
    path.write_text("mine", encoding="utf-8")
    result = run_cli("init", "--path", str(path))
    assert result.code == 2
    assert "already exists" in result.err
    assert "--force" in result.err
    assert path.read_text(encoding="utf-8") == "mine"
    assert run_cli("init", "--path", str(path), "--force").code == 0


def test_unknown_preset(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("init", "--preset", "nope", "--path", str(tmp_path / "x.toml"))
    assert result.code == 2
    assert "no preset 'nope'" in result.err
    assert "va-cms" in result.err


def test_invalid_config_is_one_line_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "oob.toml"
    path.write_text("[pipeline]\nname = 1\n", encoding="utf-8")
    result = run_cli("--config", str(path), "config", "validate")
    assert result.code == 2
    assert result.err.startswith("error: ")
    assert "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_missing_config(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "none.toml"), "timeline")
    assert result.code == 2
    assert "no such config file" in result.err
    assert "hint: write one with `oob init --preset va-cms`" in result.err


def test_config_from_environment(
    run_cli: RunCli, preset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_CONFIG", str(preset_file))
    assert run_cli("config", "validate").code == 0


def test_show_never_prints_secrets(
    run_cli: RunCli, preset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_JENKINS_TOKEN", "very-secret-value")
    monkeypatch.delenv("OOB_GITHUB_TOKEN", raising=False)
    result = run_cli("--config", str(preset_file), "config", "show")
    assert result.code == 0
    assert "very-secret-value" not in result.out
    data = json.loads(result.out)
    assert data["services"]["jenkins"]["token"] == "set"
    assert data["services"]["github"]["token"] == "unset"


def test_timeline_json(run_cli: RunCli, preset_file: Path) -> None:
    result = run_cli("--config", str(preset_file), "timeline", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["total_minutes"] == 201
    assert data["stages"][0] == {
        "name": "Create a PR",
        "job": None,
        "estimate_minutes": 5,
        "remaining_after_minutes": 196,
    }


def test_timeline_from_stage_table(run_cli: RunCli, preset_file: Path) -> None:
    result = run_cli("--config", str(preset_file), "timeline", "--from", "deploys/cms-auto-deploy")
    assert result.code == 0
    assert "testing/cms-post-deploy-tests-staging" not in result.out
    assert "30 min" in result.out  # the total from the release trigger: 15 + 7 + 1 + 7


def test_timeline_unknown_stage(run_cli: RunCli, preset_file: Path) -> None:
    result = run_cli("--config", str(preset_file), "timeline", "--from", "nope")
    assert result.code == 2
    assert "no stage 'nope'" in result.err


def test_usage_error_exit_2(run_cli: RunCli) -> None:
    result = run_cli("timeline", "--bogus")
    assert result.code == 2
    assert "No such option" in result.err
