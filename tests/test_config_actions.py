"""Stages of kind `github-actions`: a workflow file and one of its jobs, told apart from Jenkins
paths; the release trigger's correlation input; a Jenkins folder leaves them alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import Config, StageKind, parse
from oob.errors import ConfigError
from oob.sandbox.configfile import render_config

GHA = render_config("http://127.0.0.1:8765", "sandbox-token", preset="gha")


def load(text: str) -> Config:
    return parse(text, Path("oob.toml"))


def problem(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(text)
    return str(caught.value)


def test_the_gha_sandbox_config_releases_with_a_workflow() -> None:
    pipeline = load(GHA).pipeline
    assert pipeline.trigger.kind is StageKind.GITHUB_ACTIONS
    assert pipeline.trigger.job == "release.yml#release"
    assert [s.job for s in pipeline.to_production] == ["release.yml#build", "release.yml#deploy"]
    assert pipeline.gate.kind is StageKind.JENKINS
    assert pipeline.correlation_input == "oob_run"


@pytest.mark.parametrize(
    ("before", "after", "said"),
    [
        ('job = "release.yml#build"', 'job = "deploys/build"', "names a workflow file"),
        ('job = "release.yml#build"', 'job = "release.yml#a#b"', "names a workflow file"),
        ('job = "release.yml#build"\n', "", "needs a `job`"),
        (
            'kind = "github-actions"\njob = "release.yml#build"',
            'kind = "jenkins"\njob = "x.yml"',
            'its kind is "github-actions"',
        ),
        (
            'release_wait_parameter = "release_wait"',
            'correlation_input = "no spaces"',
            "correlation_input",
        ),
    ],
)
def test_a_mistaken_actions_stage_is_told(before: str, after: str, said: str) -> None:
    assert before in GHA
    assert said in problem(GHA.replace(before, after, 1))


def test_a_jenkins_folder_prefixes_jenkins_jobs_only() -> None:
    text = GHA.replace("[services.jenkins]\n", '[services.jenkins]\nfolder = "team-x"\n', 1)
    pipeline = load(text).pipeline
    assert pipeline.gate.job == "team-x/testing/cms-post-deploy-tests-staging"
    assert pipeline.trigger.job == "release.yml#release"
