"""A run's plan read as the views read it (`oob.plan.Outline`, no config models): the same
stages, trigger, roles and confirmation as the config's models read from the same plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import Config, parse
from oob.errors import ProcedureError
from oob.plan import Outline, freeze, thaw
from oob.policy import Role, members
from oob.sandbox.configfile import render_config
from tests.many import many_pipelines
from tests.test_config_pipelines import FORMS


def _plans(preset_text: str) -> list[Config]:
    """One pipeline's config of each shape there is: the preset, the sandbox's Jenkins and
    Actions configs (no confirmation, a folder, several pipelines)."""
    configs = [
        parse(preset_text, Path("oob.toml")),
        parse(render_config("http://127.0.0.1:9", "t", require_confirmation=False), Path("a")),
        parse(render_config("http://127.0.0.1:9", "t", preset="gha"), Path("b")),
        parse(render_config("http://127.0.0.1:9", "t", preset="gha-runs"), Path("c")),
    ]
    many = parse(many_pipelines(preset_text, {"forms": FORMS}), Path("oob.toml"))
    return [
        *configs,
        *(many.for_pipeline(name) for name in many.pipeline_names),
    ]


def test_the_outline_reads_what_the_models_read(preset_text: str) -> None:
    for config in _plans(preset_text):
        plan = freeze(config)
        outline, thawed = Outline.read(plan), thaw(plan)
        pipeline = thawed.pipeline
        assert outline.pipeline.name == pipeline.name
        assert [(s.name, s.job, s.estimate_minutes) for s in outline.pipeline.stages] == [
            (s.name, s.job, s.estimate_minutes) for s in pipeline.stages
        ]
        assert outline.pipeline.trigger.name == pipeline.trigger.name
        for stage in pipeline.stages:  # found by name and by job path, as the model finds
            for key in (stage.name, stage.job or stage.name):
                assert outline.pipeline.find(key.upper()) == outline.pipeline.find(key)
                found = outline.pipeline.find(key)
                assert found is not None
                assert found.name == stage.name
        for role in Role:
            assert members(outline.roles, role) == members(thawed.roles, role)
        assert outline.require_confirmation is thawed.verify.require_confirmation
        assert Outline.of(config) == outline


@pytest.mark.parametrize("gone", ["pipeline", "roles", "verify"])
def test_a_plan_of_another_shape_is_said_to_be_unreadable(preset_text: str, gone: str) -> None:
    plan = freeze(parse(preset_text, Path("oob.toml")))
    del plan[gone]
    with pytest.raises(ProcedureError) as caught:
        Outline.read(plan)
    assert "cannot read the run's plan" in caught.value.message
