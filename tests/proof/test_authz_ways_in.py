"""The authorization matrix, sampled through each way in: the CLI as people type it
(`oob.cli.main`), the dashboard's form (signed in through its login page) and its JSON API
(bearer token), each over real HTTP to a real dashboard whose commands are the real `Control`.

Each action x a few states x a few people (and no token, a wrong token): the answer is what the
policy's rules say (`tests.proof.authz.Cell.expected`), and every refusal of the policy is in
the run's audit log as `command.refused`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from oob.config import Config, parse
from oob.events import KIND_COMMAND_REFUSED, KIND_DENIED
from oob.policy import Action
from oob.states import RunState
from oob.store import Store
from tests.conftest import RunCli
from tests.proof.authz import Cell
from tests.proof.test_authz_matrix import Runs

STATES = (RunState.AWAITING_APPROVAL, RunState.VERIFYING, RunState.RESOLVED)
WEB_ACTIONS = (Action.APPROVE, Action.DENY, Action.CANCEL, Action.CONFIRM_FIX, Action.REJECT_FIX)
# `oob abandon` asks DBOS for the workflow, whose tables a worker creates: store level only.
CLI_ACTIONS = WEB_ACTIONS
PEOPLE = {"approver": "abe", "deployer": "dee", "fix confirmer": "fay", "no role": "zed"}
TOKENS = {name: f"token-of-{name}-0123456789" for name in PEOPLE.values()}


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'oob.sqlite'}"


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = Store(url)
    yield s
    s.close()


def _refusals(store: Store, run_id: str) -> int:
    return sum(1 for e in store.events(run_id) if e.kind == KIND_COMMAND_REFUSED)


# --- the CLI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("action", CLI_ACTIONS, ids=str)
def test_the_cli_answers_as_the_rules_say(
    action: Action,
    store: Store,
    url: str,
    run_cli: RunCli,
    preset_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    option = "--reason" if action in {Action.DENY, Action.CANCEL, Action.REJECT_FIX} else "--note"
    _cli_cells(action, store, run_cli, monkeypatch, [option, "because"], preset_file)


def _cli_cells(
    action: Action,
    store: Store,
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    preset_file: Path,
) -> None:
    """`oob ACTION RUN OPTIONS` by each person in each state: allowed or refused (audited) as
    the rules say."""
    runs = Runs(store)
    for state in STATES:
        for who, actor in PEOPLE.items():
            cell = Cell(action, who, actor, state, "because")
            run_id = runs.get(state)
            refused_before = _refusals(store, run_id)
            monkeypatch.setenv("OOB_USER", actor)
            args = ["--config", str(preset_file), *action.value.split(), run_id, *options]
            result = run_cli(*args)
            assert "Traceback" not in result.err
            assert (result.code == 0) == cell.expected, (cell, result.err)
            if cell.expected:
                runs.used(state)
            else:
                assert result.err.startswith("error: refused"), result.err
                assert _refusals(store, run_id) == refused_before + 1, cell


def test_the_cli_s_notify_answers_as_the_rules_say(
    store: Store, url: str, run_cli: RunCli, preset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`oob notify`: who may is told there is nothing undelivered; who may not is refused,
    audited, before oob looks for the message (or talks to Slack)."""
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.setenv(name, "not-used-0123456789")
    runs = Runs(store)
    for state in STATES:
        for who, actor in PEOPLE.items():
            cell = Cell(Action.NOTIFY, who, actor, state, "")
            run_id = runs.get(state)
            refused_before = _refusals(store, run_id)
            monkeypatch.setenv("OOB_USER", actor)
            args = ["--config", str(preset_file), "notify", run_id, "resume_merging"]
            result = run_cli(*args)
            assert "Traceback" not in result.err
            assert result.code == 2, result
            if cell.expected:
                assert "no undelivered" in result.err, (cell, result.err)
                assert _refusals(store, run_id) == refused_before, cell
            else:
                assert result.err.startswith("error: refused"), result.err
                assert _refusals(store, run_id) == refused_before + 1, cell


@pytest.mark.parametrize("action", [Action.ABANDON, Action.HOLD_RELEASE], ids=str)
def test_the_cli_s_abandon_and_hold_release_answer_as_the_rules_say(
    action: Action,
    store: Store,
    url: str,
    run_cli: RunCli,
    preset_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`oob abandon` asks DBOS about the workflow after the policy: a worker that starts and
    leaves at once creates DBOS's tables. `oob hold release` of a run that held nothing (the
    preset asks engineers) changes nothing on GitHub."""
    import subprocess
    import sys

    monkeypatch.setenv("OOB_DATABASE_URL", url)
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.setenv(name, "not-used-0123456789")
    if action is Action.ABANDON:
        worker = [sys.executable, "-m", "oob", "--config", str(preset_file), "worker"]
        subprocess.run([*worker, "--exit-when-idle", "0"], check=True, capture_output=True)
    options = ["--reason", "because"] if action is Action.ABANDON else []
    _cli_cells(action, store, run_cli, monkeypatch, options, preset_file)


def test_deny_with_an_empty_reason_is_refused_on_the_cli(
    store: Store, url: str, run_cli: RunCli, preset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    monkeypatch.setenv("OOB_USER", "abe")
    run_id = Runs(store).get(RunState.AWAITING_APPROVAL)
    for reason in ("", "   ", "\t\n"):
        result = run_cli("--config", str(preset_file), "deny", run_id, "--reason", reason)
        assert result.code == 2, result
        assert "--reason" in result.err
        assert "Traceback" not in result.err
    assert store.run(run_id).state is RunState.AWAITING_APPROVAL
    assert not [e for e in store.events(run_id) if e.kind == KIND_DENIED]


# --- the dashboard ---------------------------------------------------------------------------


def _web_config(preset_text: str, tmp_path: Path) -> Config:
    users = "".join(
        f'\n[web.users.{name}]\ntoken_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
        for name, token in TOKENS.items()
    )
    return parse(preset_text + '\n[web]\nidentity = "tokens"\n' + users, tmp_path / "oob.toml")


@pytest.fixture
def dashboard(store: Store, url: str, preset_text: str, tmp_path: Path) -> Iterator[str]:
    from oob.commands import Control
    from oob.web.app import Settings, create_app
    from oob.web.auth import Authenticator
    from tests.web.conftest import serving

    config = _web_config(preset_text, tmp_path)
    assert config.web is not None

    def no_override(**_: object) -> None:
        raise AssertionError("not sampled here")

    settings = Settings(
        config=config,
        store=store,
        commands=Control(store, url),
        override_status=no_override,
        authenticator=Authenticator(config.web, store.clock),
        poll_seconds=0.05,
    )
    with serving(create_app(settings)) as base:
        yield base


def _api(base: str, token: str | None, run_id: str, action: Action) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        me = client.get("/api/me")
        if me.status_code != 200:
            return me.status_code
        answer = client.post(
            f"/api/runs/{run_id}/actions/{action.value}",
            json={"note": "ok", "reason": "because"},
            headers={"X-CSRF-Token": me.json()["csrf_token"]},
        )
        assert answer.status_code < 500, answer.text
        return answer.status_code


def _form(base: str, token: str, run_id: str, action: Action) -> int:
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as client:
        login = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf is not None
        signed = client.post("/login", data={"csrf_token": csrf[1], "token": token, "next": "/"})
        if signed.status_code != 303:
            return signed.status_code
        page = client.get(f"/runs/{run_id}")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None, page.text
        answer = client.post(
            f"/runs/{run_id}/actions/{action.value}",
            data={"csrf_token": found[1], "note": "ok", "reason": "because"},
        )
        assert answer.status_code < 500, answer.text
        return answer.status_code


@pytest.mark.parametrize("way", ["api", "form"])
def test_the_dashboard_answers_as_the_rules_say(way: str, store: Store, dashboard: str) -> None:
    runs = Runs(store)
    for action in WEB_ACTIONS:
        for state in STATES:
            for who, actor in PEOPLE.items():
                cell = Cell(action, who, actor, state, "because")
                run_id = runs.get(state)
                refused_before = _refusals(store, run_id)
                send = _api if way == "api" else _form
                status = send(dashboard, TOKENS[actor], run_id, action)
                if cell.expected:
                    assert status in {200, 303}, (cell, status)
                    assert store.events(run_id)[-1].source.value == "web"
                    runs.used(state)
                else:
                    assert status in {403, 409}, (cell, status)
                    assert _refusals(store, run_id) == refused_before + 1, cell
    # No token and a wrong token reach nothing, and change nothing.
    run_id = runs.get(RunState.AWAITING_APPROVAL)
    events = len(store.events(run_id))
    for token in (None, "wrong-token-0123456789"):
        if way == "api":
            assert _api(dashboard, token, run_id, Action.APPROVE) == 401
        elif token:
            assert _form(dashboard, token, run_id, Action.APPROVE) == 401
    assert len(store.events(run_id)) == events
    assert store.run(run_id).state is RunState.AWAITING_APPROVAL


def test_oob_deploy_by_someone_who_may_not_is_refused_and_audited(
    store: Store, url: str, run_cli: RunCli, preset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_DATABASE_URL", url)
    for actor in ("cms-product-owner", "zed"):
        monkeypatch.setenv("OOB_USER", actor)
        result = run_cli(
            "--config", str(preset_file), "deploy", "--fix", "abc1234", "--symptoms", "s",
            "--cause", "c", "--fix-summary", "f",
        )  # fmt: skip
        assert result.code != 0
        assert "may not start a deploy" in result.err
    refused = [(e.kind, e.actor) for e in store.events(None)]
    assert refused == [(KIND_COMMAND_REFUSED, "cms-product-owner"), (KIND_COMMAND_REFUSED, "zed")]
