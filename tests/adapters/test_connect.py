"""`connect` builds every adapter from a config, tokens from the environment."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from oob.adapters import connect
from oob.config import load
from oob.errors import ConfigError
from tests.adapters.conftest import Script, ok


def test_connect_builds_adapters_that_use_the_configured_tokens(
    preset_file: Path, monkeypatch: pytest.MonkeyPatch, script: Script
) -> None:
    monkeypatch.setenv("OOB_JENKINS_TOKEN", "jt")
    monkeypatch.setenv("OOB_GITHUB_TOKEN", "gt")
    monkeypatch.setenv("OOB_SLACK_TOKEN", "st")
    script.on("GET /repos/department-of-veterans-affairs/va.gov-cms", ok({"permissions": {}}))
    script.on("GET /me/api/json", ok({"id": "oob"}))
    with connect(load(preset_file), transport=script.transport) as services:
        services.code_host.permissions()
        assert services.build_server.whoami() == "oob"
        assert "jt" not in repr(services.build_server)
    github, jenkins = script.requests
    assert github.headers["Authorization"] == "Bearer gt"
    assert github.url.host == "api.github.com"
    assert jenkins.url.host == "jenkins.vfs.va.gov"
    assert jenkins.headers["Authorization"] == "Basic " + base64.b64encode(b"oob:jt").decode()


def test_connect_names_a_missing_token(preset_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="OOB_JENKINS_TOKEN is not set"):
        connect(load(preset_file))
