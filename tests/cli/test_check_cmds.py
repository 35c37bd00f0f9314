"""`oob check`: exit codes, the table and the JSON, over in-memory services."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunCli
from tests.test_preflight import FIX, GATE, Builds, World, build, passing


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    world = World(statuses={FIX: passing(FIX)})

    class Services:
        build_server = Builds(world)
        code_host = world

    @contextmanager
    def connect(config: Any) -> Iterator[Services]:
        yield Services()

    monkeypatch.setattr("oob.adapters.connect", connect)
    return world


def test_ready(run_cli: RunCli, preset_file: Path, world: World) -> None:
    world.builds[GATE] = [build(12, FIX)]
    result = run_cli("--config", str(preset_file), "check", FIX[:8])
    assert result.code == 0, result.err
    assert "ready to deploy" in result.out
    assert "va/tests/content-build-gql" in result.out


def test_not_ready_says_why_and_exits_1(run_cli: RunCli, preset_file: Path, world: World) -> None:
    world.statuses[FIX] = passing(FIX)[:3]
    result = run_cli("--config", str(preset_file), "check", FIX)
    assert result.code == 1
    assert "not ready" in result.out
    assert "va/tests/content-build-gql never reported" in result.out
    assert "no recent build of testing/cms-post-deploy-tests-staging" in result.out


def test_json(run_cli: RunCli, preset_file: Path, world: World) -> None:
    world.builds[GATE] = [build(12, FIX)]
    result = run_cli("--config", str(preset_file), "check", FIX, "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["ready"] is True
    assert data["fix"]["sha"] == FIX
    assert data["gate"]["state"] == "passed"


def test_bad_sha_exits_2_without_calling_services(
    run_cli: RunCli, preset_file: Path, world: World
) -> None:
    result = run_cli("--config", str(preset_file), "check", "not-a-sha")
    assert result.code == 2
    assert "not a commit SHA" in result.err
    assert "Traceback" not in result.err


def test_unknown_commit_exits_2(run_cli: RunCli, preset_file: Path, world: World) -> None:
    result = run_cli("--config", str(preset_file), "check", "ffffffff")
    assert result.code == 2
    assert "no commit" in result.err
