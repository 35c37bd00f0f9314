"""`oob sandbox --pipelines N`: a fleet of worlds, each under its pipeline's prefix."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import jenkins
import pytest
from github import Auth, Github

from oob.config import load
from oob.sandbox.configfile import render_fleet_config
from oob.sandbox.fleet import draw, parse_mix, pipeline_names
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options
from tests.conftest import RunCli

from .conftest import START, TOKEN

REPO = "department-of-veterans-affairs/va.gov-cms"


@pytest.fixture
def fleet() -> Iterator[SandboxServer]:
    options = Options(time_scale=0, start=START)
    with SandboxServer(options, scenarios=["happy", "wrong-commit"]) as server:
        yield server


def test_each_pipeline_answers_under_its_prefix_with_its_own_scenario(
    fleet: SandboxServer,
) -> None:
    base = fleet.url
    first = httpx.get(f"{base}/p001/_sandbox/state", timeout=5).json()
    second = httpx.get(f"{base}/p002/_sandbox/state", timeout=5).json()
    assert (first["scenario"], second["scenario"]) == ("happy", "wrong-commit")
    assert httpx.get(f"{base}/p003/_sandbox/state", timeout=5).status_code == 404
    assert httpx.get(f"{base}/_sandbox/state", timeout=5).status_code == 404
    # A real client sees the pipeline's Jenkins as a Jenkins at that prefix.
    server = jenkins.Jenkins(f"{base}/p002/jenkins", username="oob", password=TOKEN, timeout=5)
    assert server.get_job_name("deploys/cms-auto-deploy") == "cms-auto-deploy"
    # What one pipeline's GitHub accepts is in its world's ledger only.
    github = Github(base_url=f"{base}/p002/github", auth=Auth.Token(TOKEN), timeout=5)
    sha = github.get_repo(REPO).get_branch("main").commit.sha
    github.get_repo(REPO).get_commit(sha).create_status("success", context="fleet/test")
    github.close()
    assert any("/statuses/" in e["path"] for e in fleet.ledger("p002"))
    assert not any("/statuses/" in e["path"] for e in fleet.ledger("p001"))
    assert fleet.world_of("p002").requests["github"] >= 3
    assert fleet.world_of("p001").requests["github"] == 0
    # The pages it links to are its own pipeline's.
    build = server.get_job_info("deploys/cms-auto-deploy")["lastBuild"]
    assert build["url"].startswith(f"{base}/p002/jenkins/job/deploys/")


def test_a_pipeline_s_cms_links_within_its_prefix(fleet: SandboxServer) -> None:
    with fleet.world_of("p002").session() as world:
        world.cms.deployed_sha = None  # production as before the bug: editors may log in
    page = httpx.get(f"{fleet.url}/p002/cms/user/login", timeout=5)
    assert page.status_code == 200
    assert 'href="/p002/cms/user/login/piv"' in page.text
    assert httpx.get(f"{fleet.url}/p002/cms/user/login/piv", timeout=5).status_code == 200


def test_the_pipelines_share_one_clock(fleet: SandboxServer) -> None:
    answer = httpx.post(f"{fleet.url}/p001/_sandbox/advance", json={"seconds": 600}, timeout=5)
    assert answer.status_code == 200
    assert fleet.state("p002")["sim_epoch"] == fleet.state("p001")["sim_epoch"]
    assert fleet.state("p002")["sim_epoch"] >= START + 600


def test_worlds_are_built_when_first_asked_for(fleet: SandboxServer) -> None:
    assert fleet.fleet.built() == []
    httpx.get(f"{fleet.url}/p002/cms/user/login", timeout=5)
    assert fleet.fleet.built() == ["p002"]


def test_the_fleet_config_validates_and_points_each_pipeline_at_its_world(
    tmp_path: Path, run_cli: RunCli
) -> None:
    base = "http://127.0.0.1:8765"
    path = tmp_path / "oob.toml"
    path.write_text(render_fleet_config(base, TOKEN, pipeline_names(3)), encoding="utf-8")
    result = run_cli("--config", str(path), "config", "validate")
    assert result.code == 0, result.err
    assert "3 pipelines: p001, p002, p003" in result.out
    config = load(path)
    assert config.pipeline_names == ["p001", "p002", "p003"]
    second = config.for_pipeline("p002")
    assert second.services.jenkins.url == f"{base}/p002/jenkins/"
    assert second.services.github.api_url == f"{base}/p002/github"
    assert second.services.slack is not None
    assert second.services.slack.api_url == f"{base}/p002/slack/api/"
    assert second.verify.shield_url == f"{base}/p002/cms/user/login"
    assert [c.url for c in second.verify.checks] == [f"{base}/p002/cms/user/login"]
    assert second.pipeline.trigger.job == "deploys/cms-auto-deploy"
    assert config.sandbox_base() == f"{base}/p001"


def test_the_mix_is_drawn_with_the_seed() -> None:
    mix = parse_mix("happy=0.5, wrong-commit=0.5")
    assert draw(mix, 40, seed=7) == draw(mix, 40, seed=7)
    assert set(draw(mix, 40, seed=7)) == {"happy", "wrong-commit"}
    assert draw(parse_mix("happy=1,wrong-commit=0"), 10, seed=1) == ["happy"] * 10


@pytest.mark.parametrize(
    ("mix", "said"),
    [
        ("happy=0.5,nope=0.5", "unknown scenario 'nope'"),
        ("happy=lots", "the weight 'lots'"),
        ("happy=-1", "the weight '-1'"),
        ("happy=0", "every scenario the weight 0"),
    ],
)
def test_a_bad_mix_is_one_line_and_exit_2(run_cli: RunCli, mix: str, said: str) -> None:
    result = run_cli("sandbox", "--port", "0", "--pipelines", "2", "--mix", mix)
    assert result.code == 2
    assert said in result.err
    assert "Traceback" not in result.err


def test_oob_sandbox_pipelines_serves_the_fleet_and_writes_its_config(
    tmp_path: Path, run_cli: RunCli
) -> None:
    config = tmp_path / "oob.toml"
    command = [sys.executable, "-m", "oob", "sandbox", "--port", "0", "--time-scale", "0"]
    command += ["--pipelines", "3", "--mix", "happy=1,wrong-commit=1", "--seed", "4"]
    command += ["--write-config", str(config)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("oob sandbox on http://127.0.0.1:")
        assert "3 pipelines, p001 to p003" in first
        url = first.split()[3]
        expected = draw(parse_mix("happy=1,wrong-commit=1"), 3, seed=4)
        for name, scenario in zip(pipeline_names(3), expected, strict=True):
            state = httpx.get(f"{url}/{name}/_sandbox/state", timeout=5).json()
            assert state["scenario"] == scenario
        result = run_cli("--config", str(config), "config", "validate")
        assert result.code == 0, result.err
        assert "3 pipelines" in result.out
        assert load(config).for_pipeline("p003").services.jenkins.url == f"{url}/p003/jenkins/"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
