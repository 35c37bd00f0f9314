"""Two pipelines of one config on one store, at once: each its own active run following its own
plan, a second deploy refused on the busy pipeline only; on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.plan import thaw
from oob.store import RunBusy, RunState
from tests.procedure.doubles import RELEASE
from tests.procedure.harness import Harness, approve

FORMS = """
[pipelines.forms.services.github]
repository = "org/forms"

[pipelines.forms.services.jenkins]
folder = "team-forms"

[pipelines.forms.channels.forms-product]
slack = "#forms-product"

[pipelines.forms.audiences.product_owner]
channels = ["forms-product"]
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def harness_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both stores: each pipeline's one active run is the store's unique column."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'oob.sqlite'}"


@pytest.mark.parametrize("others", [{"forms": FORMS}])
def test_two_pipelines_each_hold_their_own_active_run(harness: Harness) -> None:
    cms = harness.start(pipeline="va-cms")
    forms = harness.start(pipeline="forms")

    assert harness.store.active_run("va-cms") == harness.store.run(cms.id)
    assert harness.store.active_run("forms") == harness.store.run(forms.id)
    for busy in (cms, forms):
        with pytest.raises(RunBusy) as refused:
            harness.start(pipeline=busy.pipeline)
        assert f"run {busy.id} of {busy.pipeline} is active" in refused.value.message
    # each run follows its own pipeline's plan
    plan = thaw(harness.store.plan(forms.id))
    assert plan.pipeline.name == "forms"
    assert plan.services.github.repository == "org/forms"
    assert plan.pipeline.trigger.job == f"team-forms/{RELEASE}"
    assert thaw(harness.store.plan(cms.id)).pipeline.trigger.job == RELEASE

    # the approval requests went to each pipeline's product owner
    harness.wait_for(forms.id, lambda r: "approval.requested" in harness.kinds(r.id))
    approve(harness, cms)
    assert any(
        k.startswith(f"oob:{forms.id}:approval_request") for k in _posted(harness, "forms-product")
    )
    assert any(
        k.startswith(f"oob:{cms.id}:approval_request") for k in _posted(harness, "cms-product")
    )

    # one pipeline's run ends; the other's stays active, its pipeline still busy
    assert harness.end(cms.id).outcome is RunState.RESOLVED
    assert harness.store.active_run("va-cms") is None
    assert harness.store.active_run("forms") == harness.store.run(forms.id)
    harness.control.deny(forms.id, "po", "not this one")
    assert harness.end(forms.id).outcome is RunState.DENIED
    assert harness.store.runs(active=True) == []
    assert [r.id for r in harness.store.runs(pipeline="forms")] == [forms.id]


def _posted(harness: Harness, channel: str) -> list[str]:
    return [key.partition("@")[0] for key, (ch, _) in harness.chat.posted.items() if ch == channel]
