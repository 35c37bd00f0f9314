"""The enforced merge hold (`[pipeline] merge_hold`): rehearsed against the sandbox, whose
simulated engineers merge through GitHub's protection, and proven with real workers killed with
SIGKILL at the moment the hold is set and at the moment it is lifted."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oob.commands import Control
from oob.config import parse
from oob.readmodel import snapshot
from oob.rehearse import rehearse
from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.states import Source
from oob.store import Run, RunState, Store
from tests.conftest import RunCli
from tests.procedure.test_crash import Deployment, kill

TIME_SCALE = 600
HOLD = "oob/merge-hold"


def released_once(held: dict[str, list[str]]) -> None:
    """Every head commit oob held ends with exactly one `success`, posted last."""
    assert held, "nothing was held"
    for sha, states in held.items():
        assert states[-1] == "success", (sha, states)
        assert states.count("success") == 1, (sha, states)


@pytest.mark.parametrize("scenario", ["main-moved", "pr-during-hold"])
def test_status_hold_refuses_the_engineers_merge(scenario: str, tmp_path: Path) -> None:
    result = rehearse(scenario, time_scale=TIME_SCALE, drafts=tmp_path, merge_hold="status")
    assert result.outcome == "resolved"
    effects = result.side_effects
    assert effects["merges"] == [
        {
            "pull": 1,
            "by": "cms-engineer",
            "status": 405,
            "message": f'Required status check "{HOLD}" is expected.',
        }
    ]
    released_once(effects["merge_hold_statuses"])
    # Nothing landed on main, so nobody was told of a merge.
    assert effects["chat_messages"]["engineers"] == 2  # hold merges, resume merging
    assert effects["chat_messages"]["operators"] == 1  # the release started; no merge to report


@pytest.mark.parametrize("scenario", ["main-moved", "pr-during-hold"])
def test_asked_only_the_engineer_merges_as_today(scenario: str, tmp_path: Path) -> None:
    result = rehearse(scenario, time_scale=TIME_SCALE, drafts=tmp_path)
    assert result.outcome == "resolved"
    effects = result.side_effects
    assert [m["status"] for m in effects["merges"]] == [200]
    assert effects["merge_hold_statuses"] == {}
    assert effects["chat_messages"]["operators"] == 2  # the release started; the merge


def test_lock_hold_refuses_the_engineers_merge(tmp_path: Path) -> None:
    result = rehearse("main-moved", time_scale=TIME_SCALE, drafts=tmp_path, merge_hold="lock")
    assert result.outcome == "resolved"
    assert result.side_effects["merges"] == [
        {
            "pull": 1,
            "by": "cms-engineer",
            "status": 405,
            "message": "Cannot change this locked branch",
        }
    ]


# --- SIGKILL at the moment the hold is set and at the moment it is lifted ---------------------


def hold_deployment(tmp_path: Path, mode: str) -> Iterator[Deployment]:
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    env = {**os.environ, "OOB_HOME": str(tmp_path), "OOB_DATABASE_URL": url}
    options = Options(
        scenario="main-moved",
        time_scale=240,
        hold_required=mode == "status",
        github_admin=mode == "lock",
    )
    with SandboxServer(options) as sandbox:
        config_path = tmp_path / "oob.toml"
        config_path.write_text(
            render_config(
                sandbox.url,
                sandbox.options.token,
                require_confirmation=False,
                merge_hold=mode,
            )
        )
        config = parse(config_path.read_text(), config_path)
        store = Store(url)
        deployment = Deployment(sandbox, config, config_path, store, url, env, tmp_path, [])
        try:
            yield deployment
        finally:
            for process in deployment.workers:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait(30)
            store.close()


@pytest.fixture
def status_deployment(tmp_path: Path) -> Iterator[Deployment]:
    yield from hold_deployment(tmp_path, "status")


@pytest.fixture
def lock_deployment(tmp_path: Path) -> Iterator[Deployment]:
    yield from hold_deployment(tmp_path, "lock")


def hold_statuses(deployment: Deployment, state: str) -> list[dict[str, Any]]:
    return [
        e["summary"]
        for e in deployment.sandbox.ledger()
        if e["summary"].get("context") == HOLD and e["summary"].get("state") == state
    ]


def hold_states(deployment: Deployment) -> dict[str, list[str]]:
    """The `oob/merge-hold` states posted per head commit, in order."""
    held: dict[str, list[str]] = {}
    for e in deployment.sandbox.ledger():
        if e["summary"].get("context") == HOLD:
            held.setdefault(e["summary"]["sha"], []).append(e["summary"]["state"])
    return held


def locks(deployment: Deployment) -> list[bool]:
    return [
        bool(e["summary"]["lock_branch"])
        for e in deployment.sandbox.ledger()
        if e["method"] == "PUT" and e["path"].endswith("/protection")
    ]


def crash_when(deployment: Deployment, moment: Callable[[], bool]) -> RunState | None:
    first = deployment.start_worker()
    run = deployment.start_run()
    deployment.approve(run)
    deployment.until(moment, timeout=180)
    kill(first)
    deployment.start_worker()
    outcome = deployment.finished(run.id).outcome
    deployment.check_exactly_once()
    kinds = deployment.kinds(run.id)
    assert "hold.lifted" in kinds
    assert "hold.not_lifted" not in kinds
    return outcome


@pytest.mark.parametrize("moment", ["set", "lifted"])
def test_status_hold_killed_is_released_exactly_once(
    status_deployment: Deployment, moment: str
) -> None:
    state = "pending" if moment == "set" else "success"
    outcome = crash_when(status_deployment, lambda: bool(hold_statuses(status_deployment, state)))
    assert outcome is RunState.RESOLVED
    pulls = status_deployment.sandbox.state()["pulls"]
    held = hold_states(status_deployment)
    assert set(held) == {p["head_sha"] for p in pulls}
    released_once(held)
    attempts = status_deployment.sandbox.state()["merge_attempts"]
    assert [a["status"] for a in attempts] == [405]
    assert not any(p["merged"] for p in pulls)


@pytest.mark.parametrize("moment", ["set", "lifted"])
def test_lock_hold_killed_restores_the_protection_exactly(
    lock_deployment: Deployment, moment: str
) -> None:
    before = lock_deployment.sandbox.state()["protection"]
    assert before["main"]["lock_branch"] is False
    wanted = [True] if moment == "set" else [True, False]
    outcome = crash_when(lock_deployment, lambda: locks(lock_deployment)[: len(wanted)] == wanted)
    assert outcome is RunState.RESOLVED
    assert lock_deployment.sandbox.state()["protection"] == before
    assert locks(lock_deployment)[-1] is False
    attempts = lock_deployment.sandbox.state()["merge_attempts"]
    assert [a["message"] for a in attempts] == ["Cannot change this locked branch"]


def cli_env(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's shell: the deployment's oob variables, no real tokens."""
    for name, value in deployment.env.items():
        if name.startswith("OOB_"):
            monkeypatch.setenv(name, value)
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OOB_USER", "operator")


def held_then_lost(deployment: Deployment) -> Run:
    """A run whose hold is set, and whose only worker is gone for good: nobody lifts it."""
    first = deployment.start_worker()
    run = deployment.start_run()
    deployment.approve(run)
    deployment.until(lambda: bool(hold_statuses(deployment, "pending")))
    kill(first)
    return run


def test_abandon_lifts_the_hold_once(
    status_deployment: Deployment, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ending lifts the hold, `oob abandon` too (seen: it left the pull requests held
    and only pointed at `oob hold release`)."""
    deployment = status_deployment
    cli_env(deployment, monkeypatch)
    run = held_then_lost(deployment)
    config = str(deployment.config_path)
    result = run_cli("--config", config, "abandon", run.id, "--reason", "lost", "--force")
    assert result.code == 0, result.out + result.err
    (pull,) = deployment.sandbox.state()["pulls"]
    assert f"pull request #1 ({pull['head_sha'][:7]}): {HOLD} set to success" in result.out
    released_once(hold_states(deployment))
    assert deployment.store.run(run.id).state is RunState.CANCELLED
    lifted = [e for e in deployment.store.events(run.id) if e.kind == "hold.lifted"]
    assert [e.actor for e in lifted] == ["operator"]
    again = run_cli("--config", config, "hold", "release", run.id)
    assert again.code == 0
    assert "nothing was still held" in again.out
    released_once(hold_states(deployment))


def test_hold_release_lifts_a_hold_closing_could_not_once(
    status_deployment: Deployment, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = status_deployment
    cli_env(deployment, monkeypatch)
    run = held_then_lost(deployment)
    Control(deployment.store, deployment.url).abandon(run.id, "operator", "lost", force=True)

    # As closing records a hold it could not lift: loud in `oob status` and the dashboard.
    deployment.store.append_event(
        run.id,
        actor="oob",
        source=Source.WORKER,
        kind="hold.not_lifted",
        summary="the merge hold could not be lifted: GitHub answered 502",
        details={"mode": "status", "command": f"oob hold release {run.id}"},
    )
    shot = snapshot(deployment.store, run.id, datetime.now(UTC))
    view = shot.to_json()
    assert view["hold_not_lifted"] is True
    assert view["undelivered"][-1]["command"] == f"oob hold release {run.id}"
    # The live view says what it is: merging still held, and how to lift it.
    assert str(shot.undelivered[-1]) == (
        "merging is still held: the merge hold could not be lifted: GitHub answered 502;"
        f" lift the hold with `oob hold release {run.id}`"
    )

    config = str(deployment.config_path)
    result = run_cli("--config", config, "hold", "release", run.id)
    assert result.code == 0, result.out + result.err
    (pull,) = deployment.sandbox.state()["pulls"]
    assert f"pull request #1 ({pull['head_sha'][:7]}): {HOLD} set to success" in result.out
    again = run_cli("--config", config, "hold", "release", run.id)
    assert again.code == 0
    assert "nothing was still held" in again.out
    released_once(hold_states(deployment))
    lifted = [e for e in deployment.store.events(run.id) if e.kind == "hold.lifted"]
    assert [e.actor for e in lifted] == ["operator", "operator"]
    view = snapshot(deployment.store, run.id, datetime.now(UTC)).to_json()
    assert view["hold_not_lifted"] is False


@pytest.fixture(params=["status", "lock"])
def any_deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    yield from hold_deployment(tmp_path, request.param)


def test_a_cancelled_run_lifts_its_hold(any_deployment: Deployment) -> None:
    deployment = any_deployment
    mode = deployment.config.pipeline.merge_hold
    before = deployment.sandbox.state()["protection"]
    deployment.start_worker()
    run = deployment.start_run()
    deployment.approve(run)
    deployment.until(lambda: deployment.store.run(run.id).state is RunState.RELEASE_WAIT)
    Control(deployment.store, deployment.url).cancel(run.id, "operator", "wrong fix")
    assert deployment.finished(run.id).outcome is RunState.CANCELLED
    kinds = deployment.kinds(run.id)
    assert kinds.index("hold.lifted") < kinds.index("run.ended")
    assert deployment.sandbox.state()["protection"] == before
    if mode == "status":
        released_once(hold_states(deployment))
    else:
        assert locks(deployment) == [True, False]


def test_rehearse_takes_the_merge_hold_on_the_command_line(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`oob rehearse --merge-hold status` (seen: only the Python API could rehearse a hold)."""
    monkeypatch.setenv("OOB_HOME", str(tmp_path))
    result = run_cli(
        "rehearse", "--scenario", "main-moved", "--merge-hold", "status", "--json",
        "--time-scale", str(TIME_SCALE),
    )  # fmt: skip
    assert result.code == 0, result.out + result.err
    effects = json.loads(result.out)["side_effects"]
    assert [m["status"] for m in effects["merges"]] == [405]
    released_once(effects["merge_hold_statuses"])
    wrong = run_cli("rehearse", "--merge-hold", "freeze")
    assert wrong.code == 2
    assert "'ask', 'status', 'lock'" in wrong.err
    assert "Traceback" not in wrong.err
