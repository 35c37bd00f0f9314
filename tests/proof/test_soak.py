"""A sample of the fault soak (`bench/soak.py`): one seed of every scenario rehearsed to an
outcome with the sandbox failing one request in five, and one with the worker killed with
SIGKILL as well. The right outcome, each side effect once, an intact audit chain."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path
from typing import Any

import pytest

import oob.rehearse as rehearse_mod
from oob.audit import verify
from oob.sandbox.faults import FaultPlan
from tests.procedure.test_rehearse import EXPECTED

TIME_SCALE = 600


# A step drawn from a seed, as `bench/soak.py --kill` draws it (a run records about 50 events).
KILL = rehearse_mod.Crash(random.Random(1).randint(3, 48))


@pytest.mark.parametrize(
    ("scenario", "outcome", "crash"),
    [
        *((scenario, outcome, None) for scenario, outcome in sorted(EXPECTED.items())),
        ("flaky-cypress", "resolved", KILL),
    ],
    ids=lambda value: "kill" if isinstance(value, rehearse_mod.Crash) else None,
)
def test_a_run_under_faults_ends_right_with_each_effect_once(
    scenario: str,
    outcome: str,
    crash: rehearse_mod.Crash | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verdicts = []
    result_of = rehearse_mod._result

    def verified(store: Any, config: Any, run_id: str, *args: Any, **kwargs: Any) -> Any:
        verdicts.append(verify(store, run_id))
        return result_of(store, config, run_id, *args, **kwargs)

    monkeypatch.setattr(rehearse_mod, "_result", verified)
    plan = FaultPlan(rate=0.2, seed=1, slow_seconds=0.5, retry_after_seconds=1)
    result = rehearse_mod.rehearse(
        scenario, time_scale=TIME_SCALE, drafts=tmp_path, faults=plan, crash=crash
    )
    assert result.outcome == outcome, (result.reason, result.troubles)
    assert (result.killed_after is not None) is (crash is not None)
    effects = result.side_effects
    assert effects["jenkins_builds_triggered"] == {"deploys/cms-auto-deploy": 1}
    assert effects["pull_requests_opened"] == 1
    assert effects["chat_messages"]["product_owner"] == 1
    assert effects["chat_messages"]["sitewide"] == 2 - (outcome == "resolved")
    assert [v.ok for v in verdicts] == [True], [v.line() for v in verdicts]
    assert verdicts[0].chained == verdicts[0].events > 10
    text = Path(str(result.postmortem_path)).read_text(encoding="utf-8")
    assert "Audit log: " in text


def test_the_soak_script_rehearses_every_scenario_with_an_outcome() -> None:
    path = Path(__file__).parents[2] / "bench" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak", path)
    assert spec is not None
    assert spec.loader is not None
    soak = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(soak)
    assert soak.EXPECTED == EXPECTED
