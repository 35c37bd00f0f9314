"""oob's adapters and commands against the sandbox, over a real socket, in every scenario.

With faults (a share of requests failing the way real services fail) the answer must be the
fault-free one, or a clear error after bounded retries: never a wrong answer, never a duplicate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from oob.adapters import Services, connect
from oob.config import Config, load
from oob.errors import IntegrationError
from oob.ports import Button
from oob.sandbox.faults import FaultPlan
from oob.sandbox.server import SandboxServer
from tests.adapters.conftest import Start, render  # noqa: F401 - tests/web imports render from here
from tests.conftest import RunCli

SCENARIOS = sorted(
    p.name.removesuffix(".toml")
    for p in (resources.files("oob.sandbox") / "scenarios").iterdir()
    if p.name.endswith(".toml")
)
# What `oob check` says at the start of each scenario: (exit code, problems mentioning).
EXPECTED = {
    "happy": (1, "no recent build of testing/cms-post-deploy-tests-staging"),  # just merged
    "main-moved": (0, ""),
    "pr-during-hold": (0, ""),
    "wrong-commit": (0, ""),
    "fix-ineffective": (0, ""),
    "prod-deploy-fails": (0, ""),
    "tests-pending": (1, "is running; expected to finish"),
    "flaky-cypress": (1, "va/tests/cypress failed"),
    "release-disabled": (0, ""),
    "slack-not-invited": (0, ""),
    "slack-missing-scope": (0, ""),
    "quick": (1, "no recent build of testing/cms-post-deploy-tests-staging"),  # the fix just merged
}
# Faults slower than the timeout the test config gives oob (0.5 s), but not by much.
FAULTS = FaultPlan(rate=0.2, seed=7, slow_seconds=0.8, retry_after_seconds=1)


@pytest.fixture
def services(start: Start) -> Iterator[tuple[SandboxServer, Config, Services]]:
    server, path = start()
    config = load(path)
    with connect(config) as connected:
        yield server, config, connected


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_check_in_every_scenario(run_cli: RunCli, start: Start, scenario: str) -> None:
    server, path = start(scenario)
    fix = server.state()["fix_sha"]
    result = run_cli("--config", str(path), "check", fix[:10], "--json")
    code, says = EXPECTED[scenario]
    assert result.code == code, result.out + result.err
    report = json.loads(result.out)
    assert report["fix"]["sha"] == fix
    assert says in " ".join(p["what"] for p in report["problems"])


def timeless(part: object) -> object:
    """A report part without the expected finish, which is computed from the time of asking."""
    text = re.sub(r"expected to finish at [^;\"]+", "expected to finish at T", json.dumps(part))
    text = re.sub(r'"expected_finish": "[^"]+"', '"expected_finish": "T"', text)
    return json.loads(text)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_check_with_faults_is_right_or_a_clear_error(
    run_cli: RunCli, start: Start, scenario: str
) -> None:
    clean_server, clean_path = start(scenario)
    fix = clean_server.state()["fix_sha"]
    clean_out = run_cli("--config", str(clean_path), "check", fix, "--json").out
    clean = json.loads(clean_out.replace(clean_server.url, "SANDBOX"))
    # Each scenario meets its own sequence of faults.
    server, path = start(scenario, replace(FAULTS, seed=SCENARIOS.index(scenario)))
    result = run_cli("--config", str(path), "check", fix, "--json")
    if result.code in (0, 1) and result.out:
        report = json.loads(result.out.replace(server.url, "SANDBOX"))
        for part in ("ready", "gate", "status", "branch", "problems"):
            assert timeless(report[part]) == timeless(clean[part]), part
    else:
        assert result.code == 1, result.err
        assert "error:" in result.err
        assert "Traceback" not in result.err


def test_doctor_passes_against_the_sandbox(run_cli: RunCli, start: Start) -> None:
    _, path = start()
    result = run_cli("--config", str(path), "doctor", "--json")
    assert result.code == 0, result.out
    checks = json.loads(result.out)["checks"]
    assert {c["service"] for c in checks} == {"Jenkins", "GitHub", "Slack"}
    assert all(c["ok"] for c in checks)


def test_doctor_names_a_bad_token_and_its_fix(
    run_cli: RunCli, start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = start()
    monkeypatch.setenv("OOB_JENKINS_TOKEN", "wrong")
    result = run_cli("--config", str(path), "doctor", "--json")
    assert result.code == 1
    bad = [c for c in json.loads(result.out)["checks"] if not c["ok"]]
    assert [(c["service"], c["check"]) for c in bad] == [("Jenkins", "reachable, credentials")]
    assert bad[0]["detail"] == "Jenkins answered 401 for user oob"
    assert "OOB_JENKINS_TOKEN" in bad[0]["fix"]
    assert "wrong" not in result.out


def test_doctor_finds_a_missing_release_parameter(
    run_cli: RunCli, start: Start, tmp_path: Path
) -> None:
    _, path = start()
    path.write_text(
        path.read_text().replace(
            'release_wait_parameter = "release_wait"', 'release_wait_parameter = "wait"'
        )
    )
    result = run_cli("--config", str(path), "doctor", "--json")
    assert result.code == 1
    [bad] = [c for c in json.loads(result.out)["checks"] if not c["ok"]]
    assert "has no parameter 'wait'" in bad["detail"]


def test_trigger_follow_the_log_and_read_the_released_commit(
    services: tuple[SandboxServer, Config, Services],
) -> None:
    server, config, s = services
    job = config.pipeline.release_trigger
    queued = s.build_server.trigger(job, {config.pipeline.release_wait_parameter: "15"})
    server.advance(10)
    started = s.build_server.queued(job, queued.queue_id)
    assert started.build_number is not None
    server.advance(20 * 60)
    lines = list(s.build_server.follow_log(job, started.build_number))
    released = [line for line in lines if line.startswith("Commit status:")]
    assert released == [f"Commit status: success : {server.state()['fix_sha']}"]
    build = s.build_server.build(job, started.build_number)
    assert build.parameters[config.pipeline.release_wait_parameter] == "15"
    assert build.causes == ("oob",)
    assert build.succeeded


def test_post_is_idempotent_and_settle_replaces_the_buttons(
    services: tuple[SandboxServer, Config, Services],
) -> None:
    server, _, s = services
    asked = (Button("approve", "Approve", "run-1", "primary"),)
    first = s.chat.post("sitewide-program", "Please approve", key="run-1/ask", buttons=asked)
    again = s.chat.post("sitewide-program", "Please approve", key="run-1/ask", buttons=asked)
    assert first.ts == again.ts
    assert first.permalink is not None
    assert first.permalink.endswith(f"p{first.ts.replace('.', '')}")
    posts = [e for e in server.ledger() if e["service"] == "slack" and "postMessage" in e["path"]]
    assert len(posts) == 1
    channel = s.chat.channel_id("sitewide-program")
    s.chat.settle(first, "*Approved* by po")
    with server.world.session() as world:
        (shown,) = [m for m in world.slack.channels[channel].messages if m.ts == first.ts]
        assert [b["type"] for b in shown.blocks or []] == ["section", "context"]
        assert shown.text == "Please approve"


def test_posts_with_faults_never_duplicate(start: Start) -> None:
    server, path = start("happy", FaultPlan(rate=0.3, seed=3, slow_seconds=0.8))
    errors: list[IntegrationError] = []
    with connect(load(path)) as s:
        for n in range(12):
            try:
                s.chat.post("cms-helpdesk", f"message {n}", key=f"run-1/m{n}")
            except IntegrationError as exc:
                errors.append(exc)
    posts = [e for e in server.ledger() if e["service"] == "slack" and "postMessage" in e["path"]]
    keys = [json.dumps(e) for e in posts]
    assert len(posts) <= 12
    assert len(set(keys)) == len(keys)
    assert all(exc.hint for exc in errors)  # a clear error, after bounded retries


def test_probe_sees_the_shield(services: tuple[SandboxServer, Config, Services]) -> None:
    _, _, s = services
    assert s.probe.shield_up() is False
    broken = s.probe.run("editor login page")  # the bug the fix is for: login fails
    assert (broken.ok, broken.detail.split(" in ")[0]) == (False, "HTTP 500")


def test_timeline_learns_from_the_sandbox_s_build_history(run_cli: RunCli, start: Start) -> None:
    _, path = start()
    result = run_cli("--config", str(path), "timeline", "--learn", "--json")
    assert result.code == 0, result.err
    stages = {s["name"]: s for s in json.loads(result.out)["stages"]}
    gate = stages["testing/cms-post-deploy-tests-staging"]
    learned = gate["learned"]
    assert learned["samples"] > 1
    assert learned["median_minutes"] <= learned["p90_minutes"]
    assert gate["estimate_minutes"] == learned["median_minutes"]
    assert gate["configured_minutes"] == 55
    assert stages["Create a PR"]["learned"] is None
    table = run_cli("--config", str(path), "timeline", "--learn")
    assert "Learned p90" in table.out
