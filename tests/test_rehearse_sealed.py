"""`oob rehearse` is sealed from the operator's environment, quiet on stderr, and measures
reaction latency only on changes the run reacts to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oob.reaction import reaction_latencies
from oob.rehearse import rehearse

TIME_SCALE = 600
REAL = {
    "OOB_JENKINS_TOKEN": "real-jenkins-token",
    "OOB_GITHUB_TOKEN": "ghp_real",
    "OOB_SLACK_TOKEN": "xoxb-real",
}


def test_rehearsal_ignores_the_service_tokens_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in REAL.items():
        monkeypatch.setenv(name, value)
    result = rehearse("happy", time_scale=TIME_SCALE, drafts=tmp_path)
    assert result.outcome == "resolved"
    assert result.side_effects["pull_requests_opened"] == 1


def test_rehearsals_draft_into_a_folder_each(tmp_path: Path) -> None:
    first = rehearse("wrong-commit", time_scale=TIME_SCALE, drafts=tmp_path)
    second = rehearse("wrong-commit", time_scale=TIME_SCALE, drafts=tmp_path)
    assert first.postmortem_path
    assert second.postmortem_path
    assert first.postmortem_path != second.postmortem_path
    assert Path(first.postmortem_path).is_file()
    assert Path(second.postmortem_path).is_file()
    assert Path(first.postmortem_path).name == Path(second.postmortem_path).name


def test_cli_says_it_ignores_them_and_keeps_stderr_clean_under_faults(tmp_path: Path) -> None:
    env = {**os.environ, **REAL, "OOB_HOME": str(tmp_path / "home")}
    # A whole procedure whose fix passed staging before the run (happy's is followed through
    # staging: twice the requests, each a chance of a slow fault, twice the time).
    command = [sys.executable, "-m", "oob", "rehearse", "--json", "--faults", "0.2"]
    command += ["--scenario", "main-moved"]
    done = subprocess.run(
        [*command, "--time-scale", str(TIME_SCALE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == (
        "rehearse: ignoring OOB_JENKINS_TOKEN, OOB_GITHUB_TOKEN, OOB_SLACK_TOKEN: "
        "the sandbox uses its own token"
    )
    assert lines[1:] == [], done.stderr  # no library warning, no traceback
    assert json.loads(done.stdout)["scenario"] == "main-moved"


def ms(changes: list[tuple[str, float]], actions: list[float]) -> list[float]:
    return [sample["ms"] for sample in reaction_latencies(changes, actions)]


def test_a_wait_for_another_change_is_not_reaction_latency() -> None:
    # Approval at 0 s; the post-deploy tests end at 12 s; the run acts at 12.2 s.
    assert ms([("approve", 0.0), ("tests ended", 12.0)], [12.2]) == pytest.approx([200.0])
    # Each change followed by its own action counts.
    assert ms([("a", 0.0), ("b", 5.0)], [0.1, 5.3]) == pytest.approx([100.0, 300.0])
    # A change after the run's last action has none to measure.
    assert ms([("a", 0.0), ("b", 9.0)], [0.05]) == pytest.approx([50.0])
    # Each sample says what changed, when, and when the run acted.
    (sample,) = reaction_latencies([("deploys/x #3 ended", 0.0)], [0.25])
    assert sample == {
        "change": "deploys/x #3 ended",
        "changed_at": "1970-01-01T00:00:00.000+00:00",
        "acted_at": "1970-01-01T00:00:00.250+00:00",
        "ms": 250.0,
    }
