"""Secret canaries: every token set to a unique value, a full deploy (approval, a status
override, the postmortem and its pull request), then every place oob writes or shows is
searched for them. A canary may appear only in the requests' credentials to its service.

The sandbox takes one token for all its services (`Options.token`): that is the services'
canary, given to oob the way a sandbox config gives it. The token variables of the real
services are set to canaries of their own, which a sealed sandbox config must never use; the
dashboard's sign-in token is one more.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest

import oob.rehearse as rehearse_mod
from oob.config import parse
from oob.store import Store

SERVICE = f"canary-service-{uuid.uuid4().hex}"
ENV = {
    name: f"canary-{name.lower()}-{uuid.uuid4().hex}"
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN")
}
WEB = f"canary-web-{uuid.uuid4().hex}"
CANARIES = [SERVICE, *ENV.values(), WEB]


def _found(name: str, blob: bytes | str) -> list[str]:
    data = blob.encode() if isinstance(blob, str) else blob
    return [f"{canary[:20]}… in {name}" for canary in CANARIES if canary.encode() in data]


def test_no_secret_leaves_its_request(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    preset_text: str,
) -> None:
    from oob.sandbox.server import SandboxServer
    from oob.sandbox.world import Options

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    home, drafts = tmp_path / "home", tmp_path / "drafts"
    home.mkdir()
    options = Options(scenario="flaky-cypress", time_scale=600, token=SERVICE)
    with SandboxServer(options) as sandbox:
        result = rehearse_mod._play(
            sandbox,
            home=home,
            scenario="flaky-cypress",
            time_scale=600,
            drafts=drafts,
            show=None,
            log_level="DEBUG",
            incident=rehearse_mod.Incident(),
        )
        ledger = json.dumps(sandbox.ledger(), default=str)
        state = json.dumps(sandbox.state(), default=str)
    assert result.outcome == "resolved"
    assert result.side_effects["statuses_posted"] == 1  # the operator's override
    assert result.side_effects["pull_requests_opened"] == 1
    leaks: list[str] = []
    leaks += _found("the sandbox's ledger", ledger)
    leaks += _found("the sandbox's state (chat messages, pull requests, statuses)", state)
    for path in drafts.rglob("*"):
        if path.is_file():
            leaks += _found(f"draft {path.name}", path.read_bytes())
    database = home / "oob.sqlite"
    assert database.is_file()
    for path in home.iterdir():
        if path.name.startswith("oob.sqlite"):
            leaks += _found(path.name, path.read_bytes())
    leaks += _found("the log", caplog.text)
    # Not standard output: a capture fixture would leave DBOS's process-wide log handler
    # writing to a closed stream for the tests after this one. Every log record is above.
    assert any(r.levelno <= logging.INFO for r in caplog.records), "the log was captured"

    # The dashboard over the same store: its pages and its API.
    from oob.commands import Control
    from oob.web.app import Settings, create_app
    from oob.web.auth import Authenticator
    from tests.web.conftest import serving

    digest = hashlib.sha256(WEB.encode()).hexdigest()
    config = parse(
        preset_text
        + f'\n[web]\nidentity = "tokens"\n[web.users.cms-oncall]\ntoken_sha256 = "{digest}"\n',
        tmp_path / "oob.toml",
    )
    assert config.web is not None
    url = f"sqlite:///{database}"
    store = Store(url)
    settings = Settings(
        config=config,
        store=store,
        commands=Control(store, url),
        override_status=lambda **_: None,
        authenticator=Authenticator(config.web, store.clock),
    )
    run_id = result.run_id
    with (
        serving(create_app(settings)) as base,
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {WEB}"}) as client,
    ):
        for page in (
            "/",
            f"/runs/{run_id}",
            "/api/me",
            "/api/runs",
            f"/api/runs/{run_id}",
            f"/api/runs/{run_id}/events",
            "/api/openapi.json",
        ):
            answer = client.get(page)
            assert answer.status_code == 200, (page, answer.status_code)
            leaks += _found(f"GET {page}", answer.content)
            leaks += _found(f"GET {page} headers", json.dumps(dict(answer.headers)))
    store.close()
    assert leaks == []
    # The canary did reach its service: the run could not have resolved otherwise.
    assert SERVICE in (home / "oob.toml").read_text(encoding="utf-8")
