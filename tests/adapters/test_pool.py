"""The adapters of each run's plan: its own repository and job folder, through one client per
service (shared by every run on it), with this process's tokens only."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest

from oob.adapters import tls
from oob.adapters.pool import Pool
from oob.config import parse
from oob.errors import ConfigError
from tests.adapters.conftest import Script, ok
from tests.many import many_pipelines

FORMS = """
[pipelines.forms.services.github]
repository = "org/forms"

[pipelines.forms.services.jenkins]
folder = "team-forms"
"""

BUILDS = {"builds": [], "url": "https://jenkins.vfs.va.gov/job/x/"}


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OOB_JENKINS_TOKEN", "jt")
    monkeypatch.setenv("OOB_GITHUB_TOKEN", "gt")
    monkeypatch.setenv("OOB_SLACK_TOKEN", "st")


@pytest.mark.usefixtures("tokens")
def test_each_plan_reaches_its_own_repository_and_job_folder_through_one_client(
    preset_text: str, script: Script
) -> None:
    config = parse(many_pipelines(preset_text, {"forms": FORMS}), Path("oob.toml"))
    cms, forms = config.for_pipeline("va-cms"), config.for_pipeline("forms")
    script.on("GET /repos/org/forms/commits/main", ok({"sha": "f" * 40, "commit": {}}))
    script.on(
        "GET /repos/department-of-veterans-affairs/va.gov-cms/commits/main",
        ok({"sha": "c" * 40, "commit": {}}),
    )
    script.on("GET /job/team-forms/job/deploys/job/cms-auto-deploy/api/json", ok(BUILDS))
    script.on("GET /job/deploys/job/cms-auto-deploy/api/json", ok(BUILDS))

    with Pool(config, transport=script.transport) as pool:
        assert pool.code_host(forms).commit("main").sha == "f" * 40
        assert pool.code_host(cms).commit("main").sha == "c" * 40
        pool.build_server(forms).builds(forms.pipeline.trigger.job or "")
        pool.build_server(cms).builds(cms.pipeline.trigger.job or "")
        # one client per service, whatever the runs on it: one connection pool, one
        # rate-limit state
        assert pool.code_host(forms)._api is pool.code_host(cms)._api
        assert pool.build_server(forms).jenkins._http is pool.build_server(cms).jenkins._http
        assert pool.build_server(forms).actions._api is pool.build_server(cms).actions._api
        assert pool.build_server(forms).actions.repository == "org/forms"
        assert pool.code_host(forms) is pool.code_host(forms)
        assert pool.chat(forms)._slack is pool.chat(cms)._slack

    paths = [r.url.path for r in script.requests]
    assert paths == [
        "/repos/org/forms/commits/main",
        "/repos/department-of-veterans-affairs/va.gov-cms/commits/main",
        "/job/team-forms/job/deploys/job/cms-auto-deploy/api/json",
        "/job/deploys/job/cms-auto-deploy/api/json",
    ]
    basic = "Basic " + base64.b64encode(b"oob:jt").decode()
    assert [r.headers["Authorization"] for r in script.requests] == [
        "Bearer gt",
        "Bearer gt",
        basic,
        basic,
    ]


@pytest.mark.usefixtures("tokens")
def test_a_plan_naming_a_service_this_config_does_not_gets_no_token(
    preset_text: str, script: Script
) -> None:
    ours = parse(preset_text, Path("oob.toml"))
    elsewhere = preset_text.replace("https://jenkins.vfs.va.gov", "https://jenkins.example.net")
    theirs = parse(elsewhere, Path("oob.toml"))

    with Pool(ours, transport=script.transport) as pool:
        with pytest.raises(ConfigError, match=r"Jenkins at https://jenkins\.example\.net with"):
            pool.build_server(theirs).builds("deploys/cms-auto-deploy")
        pool.code_host(theirs)  # its GitHub is this config's: fine
    assert script.requests == []


def test_a_worker_s_pool_names_a_token_not_set_before_any_run(
    preset_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
        monkeypatch.setenv(name, "set")
    monkeypatch.delenv("OOB_SLACK_TOKEN")
    pool = Pool(parse(preset_text, Path("oob.toml")))  # what `oob hold release` needs: GitHub
    with pytest.raises(ConfigError, match="OOB_SLACK_TOKEN is not set"):
        pool.check_tokens()


@pytest.mark.usefixtures("tokens")
def test_the_clients_of_a_pool_share_one_tls_context(
    preset_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A TLS context reads the CA bundle as it is made (30 to 50 ms): once per process, made
    # with the pool, not once per client in the first step of a run that reaches a service.
    made: list[ssl.SSLContext] = []
    create = ssl.create_default_context

    def counted(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(create(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counted)
    tls.context.cache_clear()
    config = parse(preset_text, Path("oob.toml"))
    with Pool(config) as pool:
        assert len(made) == 1
        pool.build_server(config)  # Jenkins, and GitHub Actions (its API and its log links)
        pool.code_host(config)
        pool.probe(config)
    assert len(made) == 1
