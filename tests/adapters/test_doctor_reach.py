"""`oob doctor` says where it asked, which token it used, and whether mentions notify anyone."""

from __future__ import annotations

import json

import pytest

from oob.sandbox.slack import USERGROUPS
from tests.adapters.conftest import Start
from tests.conftest import RunCli

GROUP_ID = USERGROUPS[0][0]


def checks(run_cli: RunCli, path: object) -> tuple[int, list[dict[str, object]]]:
    result = run_cli("--config", str(path), "doctor", "--json")
    return result.code, json.loads(result.out)["checks"]


def test_doctor_checks_the_mentioned_group_exists(run_cli: RunCli, start: Start) -> None:
    _, path = start()
    code, found = checks(run_cli, path)
    assert code == 0
    [mention] = [c for c in found if str(c["check"]).startswith("mention ")]
    assert mention["check"] == "mention @cms-engineers-group (engineers)"
    assert mention["ok"] is True
    assert GROUP_ID in str(mention["detail"])

    path.write_text(path.read_text().replace(GROUP_ID, "S0NOSUCH00"))
    code, found = checks(run_cli, path)
    assert code == 1
    [bad] = [c for c in found if not c["ok"]]
    assert bad["detail"] == "Slack has no user group S0NOSUCH00"

    path.write_text(path.read_text().replace('mention_id = "S0NOSUCH00"\n', ""))
    code, found = checks(run_cli, path)
    assert code == 1
    [bad] = [c for c in found if not c["ok"]]
    assert "notifies nobody" in str(bad["detail"])


def test_doctor_says_the_sandbox_token_is_used(run_cli: RunCli, start: Start) -> None:
    _, path = start()
    _, found = checks(run_cli, path)
    tokens = [str(c["detail"]) for c in found if c["check"] == "token"]
    assert tokens == [
        f"{v} is not set: the [sandbox] token is used"
        for v in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN")
    ]


def test_doctor_names_the_url_it_could_not_reach(
    run_cli: RunCli, start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, path = start()
    dead = "http://127.0.0.1:9/jenkins/"
    path.write_text(path.read_text().replace(f"{server.url}/jenkins/", dead))
    code, found = checks(run_cli, path)
    assert code == 1
    [bad] = [c for c in found if not c["ok"]]
    assert dead in f"{bad['detail']} {bad['fix']}"
    [ok] = [c for c in found if c["check"] == "reachable, credentials" and c["service"] == "Slack"]
    assert f"at {server.url}/slack/api/" in str(ok["detail"])


def test_a_sealed_sandbox_config_says_the_variables_are_ignored(
    run_cli: RunCli, start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = start()
    path.write_text(path.read_text().replace("sealed = false", "sealed = true"))
    monkeypatch.setenv("OOB_GITHUB_TOKEN", "ghp_real")
    code, found = checks(run_cli, path)
    assert code == 0
    tokens = {str(c["service"]): str(c["detail"]) for c in found if c["check"] == "token"}
    assert tokens["GitHub"] == "OOB_GITHUB_TOKEN is set but ignored: the [sandbox] token is used"
    assert tokens["Jenkins"] == "OOB_JENKINS_TOKEN is not set: the [sandbox] token is used"


def test_doctor_checks_each_pipeline_s_own_repository_and_jobs(
    run_cli: RunCli, start: Start
) -> None:
    from tests.many import many_pipelines

    _, path = start()
    lost = (
        '[pipelines.lost.services.github]\nrepository = "sandbox/lost"\n'
        '[pipelines.lost.services.jenkins]\nfolder = "lost"\n'
    )
    path.write_text(many_pipelines(path.read_text(), {"lost": lost}, name="cms"))
    code, found = checks(run_cli, path)
    assert code == 1
    failed = [c for c in found if not c["ok"]]
    assert failed, found
    # what fails is the lost pipeline's own repository and jobs, said with its name
    assert {c["service"] for c in failed} <= {"GitHub (lost)", "Jenkins (lost)"}
    assert any("sandbox/lost" in str(c["detail"]) for c in failed)
    assert any("lost/" in str(c["detail"]) for c in failed)
    # what is the same for both pipelines is said once, without a pipeline
    assert [c["check"] for c in found].count("token") == 3
    single = run_cli("--config", str(path), "doctor", "--pipeline", "cms", "--json")
    assert single.code == 0, single.out
