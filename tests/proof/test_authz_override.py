"""`override-status` through every way in, against the sandbox's GitHub: the CLI as typed, the
dashboard's JSON API and its form. While a run is active the override is decided by the policy
on that run, with the run's roles and state, and every refusal is audited; the status is posted
only when the policy allowed it.

Seen before: the dashboard overrode a status of a run in `verifying` (the policy allows it only
while approval or pre-flight waits), decided by the config's roles instead of the run's, and the
CLI's refusals left nothing in the audit log.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from oob.config import Config, parse
from oob.events import KIND_COMMAND_REFUSED, KIND_STATUS_OVERRIDDEN
from oob.policy import Action
from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from oob.states import RunState
from oob.store import RunRequest, Store
from tests.conftest import RunCli
from tests.proof.authz import Cell
from tests.proof.test_authz_matrix import plan
from tests.support import behind_oobs_back

CONTEXT = "va/tests/cypress"  # failing on the fix commit in `flaky-cypress`
STATES = (RunState.AWAITING_APPROVAL, RunState.PREFLIGHT, RunState.VERIFYING)
PEOPLE = {"approver": "abe", "status overrider": "sol", "fix confirmer": "fay", "no role": "zed"}
TOKENS = {name: f"token-of-{name}-0123456789" for name in PEOPLE.values()}


@dataclass
class World:
    sandbox: SandboxServer
    config: Config
    config_path: Path
    store: Store
    url: str

    @property
    def fix(self) -> str:
        return str(self.sandbox.state()["fix_sha"])

    def run_in(self, state: RunState) -> str:
        """A run of the config's pipeline in `state` (the only active one), with the roles of
        the matrix (`tests.proof.authz.ROLES`) in its plan."""
        active = self.store.active_run(self.config.pipeline.name)
        if active is not None:
            self._set(active.id, RunState.CANCELLED)
        run = self.store.create_run(
            RunRequest(
                pipeline=self.config.pipeline.name,
                requester="ria",
                fix_sha=self.fix,
                symptoms="s",
                cause="c",
                fix_summary="f",
            ),
            plan(),
        )
        self._set(run.id, state)
        return run.id

    def _set(self, run_id: str, state: RunState) -> None:
        values: dict[str, object] = {"state": state.value}
        if state.terminal:
            values |= {"outcome": state.value, "active_pipeline": None}
        with behind_oobs_back(self.store) as conn:
            table = sa.Table("oob_runs", sa.MetaData(), autoload_with=conn)
            conn.execute(table.update().where(table.c.id == run_id).values(**values))

    def cypress(self) -> str:
        """The state of the cypress status on the fix commit, as GitHub combines it."""
        with httpx.Client(base_url=self.sandbox.url) as client:
            combined = client.get(
                f"/github/repos/{self.config.services.github.repository}/commits/{self.fix}/status",
                headers={"Authorization": f"token {self.sandbox.options.token}"},
            ).json()
        return next(s["state"] for s in combined["statuses"] if s["context"] == CONTEXT)

    def fail_cypress_again(self) -> None:
        with httpx.Client(base_url=self.sandbox.url) as client:
            client.post(
                f"/github/repos/{self.config.services.github.repository}/statuses/{self.fix}",
                headers={"Authorization": f"token {self.sandbox.options.token}"},
                json={"state": "failure", "context": CONTEXT, "description": "flaky again"},
            ).raise_for_status()

    def refusals(self, run_id: str) -> int:
        return sum(1 for e in self.store.events(run_id) if e.kind == KIND_COMMAND_REFUSED)

    def overrides(self, run_id: str) -> int:
        return sum(1 for e in self.store.events(run_id) if e.kind == KIND_STATUS_OVERRIDDEN)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    with SandboxServer(Options(scenario="flaky-cypress", time_scale=0)) as sandbox:
        users = "".join(
            f'\n[web.users.{name}]\ntoken_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"\n'
            for name, token in TOKENS.items()
        )
        text = render_config(sandbox.url, sandbox.options.token)
        text += '\n[web]\nidentity = "tokens"\n' + users
        path = tmp_path / "oob.toml"
        path.write_text(text, "utf-8")
        store = Store(url)
        try:
            yield World(sandbox, parse(text, path), path, store, url)
        finally:
            store.close()


def _expect(world: World, run_id: str, cell: Cell, accepted: bool, answer: str) -> None:
    if cell.expected:
        assert accepted, (cell, answer)
        assert world.overrides(run_id) == 1, cell
        assert world.cypress() == "success"
        world.fail_cypress_again()
    else:
        assert not accepted, (cell, answer)
        assert world.refusals(run_id) == 1, (cell, answer)
        assert world.overrides(run_id) == 0, cell
        assert world.cypress() == "failure", cell


def test_the_cli_overrides_as_the_rules_say(
    world: World, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OOB_DATABASE_URL", world.url)
    # The config names other status overriders than the run's plan: the run's roles decide.
    assert "sol" not in world.config.roles.status_overriders
    for state in STATES:
        for who, actor in PEOPLE.items():
            cell = Cell(Action.OVERRIDE_STATUS, who, actor, state, "flaky")
            run_id = world.run_in(state)
            monkeypatch.setenv("OOB_USER", actor)
            result = run_cli(
                "--config", str(world.config_path), "override-status", world.fix,
                "--context", CONTEXT, "--reason", "flaky",
            )  # fmt: skip
            assert "Traceback" not in result.err
            _expect(world, run_id, cell, result.code == 0, result.err)
            if not cell.expected:
                assert result.err.startswith("error: refused"), result.err


def _api(base: str, token: str, run_id: str) -> tuple[int, str]:
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        csrf = client.get("/api/me").json()["csrf_token"]
        answer = client.post(
            f"/api/runs/{run_id}/actions/{Action.OVERRIDE_STATUS.value}",
            json={"reason": "flaky", "context": CONTEXT},
            headers={"X-CSRF-Token": csrf},
        )
        return answer.status_code, answer.text


def _form(base: str, token: str, run_id: str) -> tuple[int, str]:
    with httpx.Client(base_url=base, timeout=10, follow_redirects=False) as client:
        login = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert csrf is not None
        client.post("/login", data={"csrf_token": csrf[1], "token": token, "next": "/"})
        page = client.get(f"/runs/{run_id}")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None, page.text
        answer = client.post(
            f"/runs/{run_id}/actions/{Action.OVERRIDE_STATUS.value}",
            data={"csrf_token": found[1], "reason": "flaky", "context": CONTEXT},
        )
        return answer.status_code, answer.text


@pytest.mark.parametrize("way", ["api", "form"])
def test_the_dashboard_overrides_as_the_rules_say(way: str, world: World) -> None:
    from oob.adapters.pool import Pool
    from oob.commands import Control
    from oob.override import override_in
    from oob.web.app import Settings, create_app
    from oob.web.auth import Authenticator
    from tests.web.conftest import serving

    assert world.config.web is not None
    services = Pool(world.config)
    settings = Settings(
        config=world.config,
        store=world.store,
        commands=Control(world.store, world.url),
        override_status=partial(
            override_in, world.config, services, world.store, clock=world.store.clock
        ),
        authenticator=Authenticator(world.config.web, world.store.clock),
        poll_seconds=0.05,
    )
    send = _api if way == "api" else _form
    try:
        with serving(create_app(settings)) as base:
            for state in STATES:
                for who, actor in PEOPLE.items():
                    cell = Cell(Action.OVERRIDE_STATUS, who, actor, state, "flaky")
                    run_id = world.run_in(state)
                    status, text = send(base, TOKENS[actor], run_id)
                    assert status < 500, text
                    _expect(world, run_id, cell, status in {200, 303}, f"{status} {text[:300]}")
                    if not cell.expected:
                        assert status in {403, 409}, (cell, status)
    finally:
        services.close()
