"""HttpProbe: verification checks and the deploy shield."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from oob.adapters.probe import HttpProbe
from oob.config import CommandCheck, HttpCheck
from oob.errors import ConfigError, ProbeError
from tests.adapters.conftest import POLICY, Script

SHIELD = "https://cms.example/user/login"
CHECKS: list[HttpCheck | CommandCheck] = [
    HttpCheck(kind="http", name="login", url=SHIELD, body_pattern="Log in"),
    CommandCheck(kind="command", name="passes", command=[sys.executable, "-c", "pass"]),
    CommandCheck(
        kind="command",
        name="fails",
        command=[sys.executable, "-c", "import sys; sys.exit('login still broken')"],
    ),
    CommandCheck(kind="command", name="missing", command=["/nonexistent/oob-check"]),
]


@pytest.fixture
def probe(script: Script) -> Iterator[HttpProbe]:
    probe = HttpProbe(CHECKS, SHIELD, policy=POLICY, transport=script.transport)
    yield probe
    probe.close()


def test_http_check_passes_on_status_and_body(probe: HttpProbe, script: Script) -> None:
    script.on("GET /user/login", httpx.Response(200, text="<button>Log in</button>"))
    result = probe.run("login")
    assert result.ok
    assert result.detail.startswith("HTTP 200 in ")


def test_http_check_fails_on_body(probe: HttpProbe, script: Script) -> None:
    script.on("GET /user/login", httpx.Response(200, text="Fatal error"))
    result = probe.run("login")
    assert not result.ok
    assert "body lacks /Log in/" in result.detail


def test_a_shielded_cms_is_a_failed_check_not_a_retry(probe: HttpProbe, script: Script) -> None:
    script.on("GET /user/login", httpx.Response(503, headers={"Retry-After": "120"}))
    result = probe.run("login")
    assert not result.ok
    assert "HTTP 503" in result.detail
    assert len(script.requests) == 1


def test_no_answer_is_a_failed_check(probe: HttpProbe, script: Script) -> None:
    script.on("GET /user/login", httpx.ConnectError("refused"))
    result = probe.run("login")
    assert (result.ok, result.detail) == (False, "no answer: ConnectError refused")
    assert len(script.requests) == POLICY.attempts


def test_command_checks(probe: HttpProbe) -> None:
    assert probe.run("passes").ok
    failed = probe.run("fails")
    assert (failed.ok, failed.detail) == (False, "exit 1: login still broken")
    assert probe.run("missing").detail == "no such command: /nonexistent/oob-check"


def test_an_unknown_check_is_a_config_error(probe: HttpProbe) -> None:
    with pytest.raises(ConfigError, match="no check 'nope'"):
        probe.run("nope")


@pytest.mark.parametrize(("status", "up"), [(503, True), (200, False), (302, False), (500, False)])
def test_shield_is_a_503(probe: HttpProbe, script: Script, status: int, up: bool) -> None:
    script.on("GET /user/login", httpx.Response(status))
    assert probe.shield_up() is up


def test_shield_unseen_is_an_error(probe: HttpProbe, script: Script) -> None:
    script.on("GET /user/login", httpx.ConnectTimeout("slow"))
    with pytest.raises(ProbeError, match="no answer from"):
        probe.shield_up()
