"""Schemathesis against the dashboard's own OpenAPI description, over real HTTP, authenticated
with a bearer token (and the CSRF token its POSTs need): no 5xx, and every answer matches the
schema (status code, content type, body).

The number of examples per operation is small in CI (`OOB_FUZZ_EXAMPLES`, default 25); the
larger run's figures are in docs/reliability.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from oob.states import RunState
from oob.store import Store
from tests.proof.test_authz_matrix import Runs
from tests.proof.test_authz_ways_in import TOKENS, _web_config

EXAMPLES = int(os.environ.get("OOB_FUZZ_EXAMPLES", "25"))


@pytest.fixture
def dashboard(tmp_path: Path, preset_text: str) -> Iterator[tuple[str, Store]]:
    from oob.commands import Control
    from oob.web.app import Settings, create_app
    from oob.web.auth import Authenticator
    from tests.web.conftest import serving

    url = f"sqlite:///{tmp_path / 'oob.sqlite'}"
    store = Store(url)
    config = _web_config(preset_text, tmp_path)
    assert config.web is not None

    def override(**_: object) -> None:
        from oob.errors import ProcedureError

        raise ProcedureError("no code host in this test")

    settings = Settings(
        config=config,
        store=store,
        commands=Control(store, url),
        override_status=override,
        authenticator=Authenticator(config.web, store.clock),
        poll_seconds=0.05,
    )
    with serving(create_app(settings)) as base:
        yield base, store
    store.close()


def test_the_api_keeps_to_its_schema(dashboard: tuple[str, Store]) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    base, store = dashboard
    runs = Runs(store)
    for state in (RunState.AWAITING_APPROVAL, RunState.VERIFYING, RunState.RESOLVED):
        runs.get(state)
    token = TOKENS["abe"]
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client:
        csrf = client.get("/api/me").json()["csrf_token"]
    headers = {"Authorization": f"Bearer {token}", "X-CSRF-Token": csrf}
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            nonlocal tried
            tried += 1
            case.call_and_validate(base_url=base, headers=headers, checks=checks)

        call()
    assert tried >= EXAMPLES
