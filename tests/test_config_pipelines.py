"""Several pipelines in one config: `[pipelines.NAME]` tables, merged over the top-level ones,
each resolved to the single-pipeline config its runs follow; mistakes told at their place."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import parse
from oob.errors import ConfigError
from oob.plan import freeze, thaw
from tests.many import many_pipelines

FORMS = """
[pipelines.forms.services.github]
repository = "org/forms"
required_contexts = ["ci/forms"]

[pipelines.forms.services.jenkins]
folder = "team-forms"
max_releases = 3

[pipelines.forms.audiences.engineers]
mention = "@forms-engineers"
"""


def _problem(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, Path("oob.toml"))
    return str(caught.value)


def test_each_pipeline_resolves_its_own_overrides_over_the_shared_tables(
    preset_text: str,
) -> None:
    config = parse(many_pipelines(preset_text, {"forms": FORMS}), Path("oob.toml"))

    assert config.pipeline_names == ["va-cms", "forms"]
    cms, forms = config.for_pipeline("va-cms"), config.for_pipeline("forms")
    assert cms.services.github.repository == "department-of-veterans-affairs/va.gov-cms"
    assert forms.services.github.repository == "org/forms"
    assert forms.services.github.required_contexts == ["ci/forms"]  # a list replaces
    assert forms.services.github.branch == "main"  # the rest of the table stays shared
    # a table merges key by key: the mention is the pipeline's, the channels the shared ones
    assert forms.audiences.engineers.mention == "@forms-engineers"
    assert forms.audiences.engineers.channels == ["sitewide-program"]
    assert forms.pipeline.name == "forms"
    assert forms.services.jenkins.max_releases == 3
    assert cms.services.jenkins.max_releases is None
    # the folder prefixes every job path of that pipeline only
    assert forms.pipeline.trigger.job == "team-forms/deploys/cms-auto-deploy"
    assert forms.pipeline.gate.job == "team-forms/testing/cms-post-deploy-tests-staging"
    assert cms.pipeline.trigger.job == "deploys/cms-auto-deploy"
    assert forms.for_pipeline("forms") is forms


def test_a_run_plan_is_one_pipeline_and_thaws_to_the_same_jobs(preset_text: str) -> None:
    config = parse(many_pipelines(preset_text, {"forms": FORMS}), Path("oob.toml"))
    plan = freeze(config.for_pipeline("forms"))

    assert plan["pipeline"]["name"] == "forms"
    assert "pipelines" not in plan
    thawed = thaw(plan)
    # the folder was folded into the plan's paths once: thawing does not prefix them again
    assert [s.job for s in thawed.pipeline.to_production] == [
        "team-forms/cms/cms-full-pipeline",
        "team-forms/releases/cms",
        "team-forms/deploys/cms-vagov-prod",
    ]
    assert thawed.services.github.repository == "org/forms"


def test_a_caller_that_chose_no_pipeline_is_told_the_choices(preset_text: str) -> None:
    config = parse(many_pipelines(preset_text, {"forms": FORMS}), Path("oob.toml"))

    with pytest.raises(ConfigError) as e:
        _ = config.pipeline
    assert e.value.message.endswith(
        "oob.toml has 2 pipelines (va-cms, forms): say which one with --pipeline NAME"
    )
    assert config.pick("forms").pipeline.name == "forms"
    with pytest.raises(ConfigError, match="has 2 pipelines"):
        _ = config.services
    with pytest.raises(
        ConfigError, match=r"no pipeline 'nope' in .*oob\.toml; its pipelines: va-cms, forms$"
    ):
        config.for_pipeline("nope")
    lone = parse(many_pipelines(preset_text, {}), Path("oob.toml"))
    assert lone.pipeline.name == "va-cms"  # exactly one: it is the pipeline


def test_a_single_pipeline_config_takes_a_folder_too(preset_text: str) -> None:
    text = preset_text.replace('user = "oob"', 'user = "oob"\nfolder = "cms"')
    config = parse(text, Path("oob.toml"))

    assert config.pipeline_names == ["va-cms"]
    assert config.pipeline.trigger.job == "cms/deploys/cms-auto-deploy"
    assert thaw(freeze(config)).pipeline.trigger.job == "cms/deploys/cms-auto-deploy"
    with pytest.raises(ConfigError, match="no pipeline 'forms'"):
        config.for_pipeline("forms")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # a typo in a pipeline's table, at its line, under the pipeline
        (
            "[pipelines.forms]\n",
            "[pipelines.forms]\nrelease_wiat = 3\n",
            "pipelines.forms.release_wiat: unknown key",
        ),
        # a bad override, under the pipeline
        (
            'repository = "org/forms"',
            'repository = "org forms"',
            "pipelines.forms.services.github.repository: String should match",
        ),
        (
            "max_releases = 3",
            "max_releases = 0",
            "pipelines.forms.services.jenkins.max_releases: Input should be greater than or equal",
        ),
        (
            "max_releases = 3",
            "max_releases = true",
            "pipelines.forms.services.jenkins.max_releases: Input should be a valid integer",
        ),
        (
            'folder = "team-forms"',
            'folder = "team forms"',
            "pipelines.forms.services.jenkins.folder: String should match",
        ),
        # a pipeline's name is its table's
        (
            "[pipelines.forms]\n",
            '[pipelines.forms]\nname = "x"\n',
            "pipelines.forms.name: a pipeline is named by its table",
        ),
        (
            "[pipelines.forms]",
            "[pipelines.Forms]",
            "pipelines.Forms: 'Forms' is not a pipeline name",
        ),
    ],
)
def test_a_mistake_in_a_pipeline_is_told_under_it(
    preset_text: str, old: str, new: str, expected: str
) -> None:
    text = many_pipelines(preset_text, {"forms": FORMS})
    assert old in text, old
    broken = text.replace(old, new, 1)
    if "Forms" in new:
        broken = broken.replace("[[pipelines.forms.", "[[pipelines.Forms.")
    message = _problem(broken)
    assert expected in message, message
    line = int(message.split(":")[1])
    assert new.splitlines()[-1] in broken.splitlines()[line - 1] or "Forms" in new


def test_a_shared_mistake_is_told_once_at_its_top_level_place(preset_text: str) -> None:
    text = many_pipelines(preset_text, {"forms": FORMS, "news": ""})
    broken = text.replace('user = "oob"', 'user = ""')

    message = _problem(broken)
    assert message.count("services.jenkins.user") == 1, message
    line = int(message.split(":")[1])
    assert broken.splitlines()[line - 1] == 'user = ""'


def test_a_table_no_pipeline_gets_is_missing_once(preset_text: str) -> None:
    text = many_pipelines(preset_text, {"forms": FORMS, "news": ""})
    start, end = text.index("[postmortem]"), text.index("open_pull_request = true")
    message = _problem(text[:start] + text[end + len("open_pull_request = true") :])
    assert message == "oob.toml: postmortem: missing required key"


def test_one_form_or_the_other(preset_text: str) -> None:
    text = many_pipelines(preset_text, {})
    both = text.replace("[services.jenkins]", '[pipeline]\nname = "x"\n\n[services.jenkins]')
    assert "give either [pipeline] or [pipelines.NAME] tables, not both" in _problem(both)
    none = text.replace("[pipelines.va-cms]", "[other]").replace("pipelines.va-cms.", "other.")
    assert "pipeline: missing required key" in _problem(none)


def test_the_readme_s_second_pipeline_is_valid(preset_text: str) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Several pipelines") :]
    block = section[section.index("```toml\n") + len("```toml\n") :]
    block = block[: block.index("```")]
    second = block[block.index("[pipelines.forms]") :]
    text = many_pipelines(preset_text, {}).replace(
        "[services.jenkins]", second + "\n[services.jenkins]"
    )

    config = parse(text, Path("oob.toml"))
    assert config.pipeline_names == ["va-cms", "forms"]
    forms = config.for_pipeline("forms")
    assert forms.pipeline.trigger.job == "forms/deploys/forms-deploy"
    assert forms.services.github.repository == "department-of-veterans-affairs/va-forms"
    assert forms.verify.checks == config.for_pipeline("va-cms").verify.checks


def test_a_copy_takes_the_tables_by_the_names_callers_read(preset_text: str) -> None:
    # A copy updating `postmortem` once kept the old table: the field is `postmortem_`.
    config = parse(preset_text, Path("oob.toml"))
    moved = config.postmortem.model_copy(update={"path": "pm/{run_id}.md"})
    assert config.model_copy(update={"postmortem": moved}).postmortem.path == "pm/{run_id}.md"
    assert config.model_copy(update={"postmortem_": moved}).postmortem.path == "pm/{run_id}.md"
