"""Config parsing: the preset is valid; every kind of mistake is one error naming its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import Config, StageKind, load, parse
from oob.errors import ConfigError


def test_preset_is_the_runbook_pipeline(preset_file: Path) -> None:
    config = load(preset_file)
    pipeline = config.pipeline
    assert [s.estimate_minutes for s in pipeline.stages] == [5, 50, 25, 35, 1, 55, 15, 7, 1, 7]
    assert pipeline.gate.job == "testing/cms-post-deploy-tests-staging"
    assert pipeline.trigger.job == "deploys/cms-auto-deploy"
    assert [s.job for s in pipeline.to_production] == [
        "cms/cms-full-pipeline",
        "releases/cms",
        "deploys/cms-vagov-prod",
    ]
    assert pipeline.release_wait == 15
    assert "va/tests/cypress" in config.services.github.required_contexts
    assert config.audiences.engineers.mention == "@cms-engineers-group"
    assert config.channels["sitewide-program"].slack == "#sitewide-program"
    assert config.roles.allow_self_approval is False
    assert config.source == preset_file.resolve()


def test_stage_lookup_by_name_or_job(preset_file: Path) -> None:
    pipeline = load(preset_file).pipeline
    stage = pipeline.find("TESTING/CMS")
    assert stage is not None
    assert stage.kind is StageKind.JENKINS
    assert pipeline.find("Create a PR") is pipeline.stages[0]
    assert pipeline.find("nope") is None


def _broken(preset_text: str, old: str, new: str) -> str:
    assert old in preset_text, old
    return preset_text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # an unknown key (a typo) is an error, with its line
        (
            "release_wait = 15",
            "release_wiat = 15",
            ":15: pipeline.release_wiat: unknown key (did you mean 'release_wait'?)",
        ),
        # a missing key
        ('repository = "department-of-veterans-affairs/va.gov-cms"\n', "", "services.github"),
        # a wrong type
        ("release_wait = 15", 'release_wait = "soon"', "pipeline.release_wait"),
        # a negative estimate, in the 4th stage (array of tables)
        (
            "estimate_minutes = 35",
            "estimate_minutes = -35",
            ":42: pipeline.stages.3.estimate_minutes",
        ),
        # a gate that is not a stage
        (
            'test_gate = "testing/cms-post-deploy-tests-staging"',
            'test_gate = "testing/nope"',
            "test_gate 'testing/nope' is not a stage",
        ),
        # a jenkins stage without a job
        ('job = "testing/cms"\n', "", "needs a `job` path"),
        # an audience naming a channel that does not exist
        ('channels = ["cms-editors"]', 'channels = ["editors"]', "names channel 'editors'"),
        # a log pattern without the groups oob needs
        (
            "release_log_pattern = 'Commit status: (?P<state>\\w+) : (?P<sha>[0-9a-f]{7,40})'",
            "release_log_pattern = 'Commit status: (\\w+)'",
            "named groups",
        ),
        # sandbox credentials against a real service
        ("# [templates]", '[sandbox]\ntoken = "x"\n# [templates]', "only for local sandboxes"),
        # a worker must take at least one run
        ("# [templates]", "[workers]\nmax_runs = 0\n# [templates]", "workers.max_runs"),
        # not TOML at all
        ("[pipeline]", "[pipeline", "not valid TOML"),
    ],
)
def test_invalid_config_names_the_place(
    preset_text: str, old: str, new: str, expected: str
) -> None:
    text = _broken(preset_text, old, new)
    with pytest.raises(ConfigError) as info:
        parse(text, Path("oob.toml"))
    assert expected in info.value.message
    assert info.value.message.startswith("oob.toml")
    assert info.value.exit_code == 2


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path / "absent.toml")
    assert "no such config file" in info.value.message
    assert info.value.hint is not None
    assert "oob init" in info.value.hint


def test_secret_comes_from_the_environment(
    preset_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config: Config = load(preset_file)
    jenkins = config.services.jenkins
    monkeypatch.delenv("OOB_JENKINS_TOKEN", raising=False)
    assert not config.secret_is_set(jenkins)
    with pytest.raises(ConfigError, match="OOB_JENKINS_TOKEN is not set"):
        config.secret(jenkins)
    monkeypatch.setenv("OOB_JENKINS_TOKEN", "t0k3n")
    assert config.secret(jenkins) == "t0k3n"


def test_sandbox_token_only_on_loopback(preset_text: str) -> None:
    local = preset_text.replace("https://jenkins.vfs.va.gov", "http://127.0.0.1:8765/jenkins")
    local = local.replace("https://api.github.com", "http://localhost:8765/github")
    local = local.replace("https://slack.com/api/", "http://127.0.0.1:8765/slack/api/")
    local += '\n[sandbox]\ntoken = "sandbox-token"\n'
    config = parse(local, Path("oob.toml"))
    assert config.secret(config.services.github) == "sandbox-token"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("allow_self_approval = false", 'allow_self_approval = "no"'),
        ("allow_self_approval = false", "allow_self_approval = 1"),
        ("require_confirmation = true", 'require_confirmation = "yes"'),
        ("open_pull_request = true", "open_pull_request = 0"),
    ],
)
def test_booleans_are_true_or_false_only(preset_text: str, old: str, new: str) -> None:
    assert old in preset_text
    with pytest.raises(ConfigError, match="valid boolean"):
        parse(preset_text.replace(old, new), Path("oob.toml"))


def test_every_problem_is_listed_with_its_line(preset_text: str) -> None:
    text = (
        preset_text.replace("release_wait = 15", "release_wait = -1")
        .replace("allow_self_approval = false", 'allow_self_approval = "no"')
        .replace("timeout_minutes = 30", "timeout_minutes = inf")
    )
    with pytest.raises(ConfigError) as caught:
        parse(text, Path("oob.toml"))
    assert "\n" not in caught.value.message
    problems = caught.value.message.split("; ")
    assert len(problems) == 3
    assert problems[0].startswith("oob.toml:15: pipeline.release_wait: ")
    assert problems[1].startswith("oob.toml:146: roles.allow_self_approval: Input should be a")
    assert problems[2].startswith("oob.toml:154: verify.timeout_minutes: Input should be a finite")
    assert "more problem" not in caught.value.message


def test_workers_take_fifty_runs_each_unless_told(preset_text: str) -> None:
    assert parse(preset_text, Path("oob.toml")).workers.max_runs == 50
    told = preset_text.replace("# [templates]", "[workers]\nmax_runs = 5\n# [templates]", 1)
    assert parse(told, Path("oob.toml")).workers.max_runs == 5
