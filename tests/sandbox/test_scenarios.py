"""Every scenario, played end to end the way the runbook does it, with the real clients.

Each test checks the fix's statuses (PyGithub), announces the deploy (slack_sdk), triggers the
release job with `release_wait=15` (python-jenkins), follows its log, checks that the released
commit contains the fix, watches the CMS behind its deploy shield, and verifies the login. The
clock is manual: the test moves it a minute at a time, so nothing depends on wall-clock time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from oob.sandbox.scenario import scenario_names

from .conftest import CMS_REPO, STAGING, Clients, Connect, StartSandbox

RELEASE = "deploys/cms-auto-deploy"
PROD = "deploys/cms-vagov-prod"
GATE = "testing/cms-post-deploy-tests-staging"
PICKED = re.compile(r"^Commit status: (?P<state>\w+) : (?P<sha>[0-9a-f]{40})$", re.M)


@dataclass
class Outcome:
    """What the operator saw."""

    fix_state: str
    released: str | None = None
    tag: str | None = None
    contains_fix: bool | None = None
    prod_result: str | None = None
    shield_seen: bool = False
    login: int = 0
    version: dict[str, object] = field(default_factory=dict)


def run_release(clients: Clients) -> Outcome:
    """Trigger the release job and follow everything to the end of the production deploy."""
    sandbox, server = clients.sandbox, clients.jenkins
    repo = clients.github.get_repo(CMS_REPO)
    fix = sandbox.state()["fix_sha"]
    outcome = Outcome(fix_state=repo.get_commit(fix).get_combined_status().state)
    clients.slack.chat_postMessage(channel="#sitewide-program", text="Please hold off on merging")
    prod_before = server.get_job_info(PROD)["nextBuildNumber"]
    queue_id = server.build_job(RELEASE, {"release_wait": 15})
    sandbox.advance(10)
    number = server.get_queue_item(queue_id)["executable"]["number"]
    log, start = "", 0
    for _ in range(20):
        sandbox.advance(180)
        answer = clients.http.get(
            f"/jenkins/job/deploys/job/cms-auto-deploy/{number}/logText/progressiveText",
            params={"start": start},
            auth=("oob", clients.token),
        )
        log += answer.text
        start = int(answer.headers["X-Text-Size"])
        if "X-More-Data" not in answer.headers:
            break
    picked = PICKED.search(log)
    if picked:
        outcome.released = picked["sha"]
        outcome.tag = re.search(r"^Release tag: (\S+)$", log, re.M)[1]  # type: ignore[index]
        outcome.contains_fix = repo.compare(fix, outcome.released).status in ("ahead", "identical")
    for _ in range(30):
        sandbox.advance(90)  # the production deploy takes about 7 minutes
        if clients.http.get("/cms/user/login").status_code == 503:
            outcome.shield_seen = True
            assert clients.http.get("/cms/user/login").headers["Retry-After"] == "120"
            assert clients.http.get("/cms/health").status_code == 200
        if server.get_job_info(PROD)["nextBuildNumber"] > prod_before:
            info = server.get_build_info(PROD, prod_before)
            if not info["building"]:
                outcome.prod_result = info["result"]
                break
    outcome.login = clients.http.get("/cms/user/login").status_code
    outcome.version = clients.http.get("/cms/version").json()
    return outcome


def test_every_scenario_file_is_covered() -> None:
    assert set(scenario_names()) == {
        "happy", "flaky-cypress", "tests-pending", "main-moved",
        "wrong-commit", "prod-deploy-fails", "fix-ineffective", "release-disabled",
        "slack-not-invited", "slack-missing-scope", "pr-during-hold", "quick",
    }  # fmt: skip


def test_happy(start_sandbox: StartSandbox, connect: Connect) -> None:
    clients = connect(start_sandbox("happy"))
    assert clients.http.get("/cms/user/login").status_code == 500  # the bug is live
    fix = clients.sandbox.state()["fix_sha"]
    clients.sandbox.advance(STAGING)  # the fix, merged a minute before the start, passes staging
    outcome = run_release(clients)
    assert outcome.fix_state == "success"
    assert (outcome.released, outcome.tag, outcome.contains_fix) == (fix, "cms/v0.0.313", True)
    assert outcome.shield_seen
    assert outcome.prod_result == "SUCCESS"
    assert outcome.login == 200
    assert outcome.version["commit"] == fix
    assert outcome.version["tag"] == "cms/v0.0.313"
    state = clients.sandbox.state()
    chain = {j["path"]: j["builds"][0] for j in state["jobs"]}
    for path in ("cms/cms-full-pipeline", "releases/cms", PROD):
        assert chain[path]["sha"] == fix
        assert chain[path]["cause"].startswith("Started by upstream project")
    services = [(e["service"], e["path"].rsplit("/", 1)[-1]) for e in clients.sandbox.ledger()]
    assert services == [("slack", "chat.postMessage"), ("jenkins", "buildWithParameters")]


def test_flaky_cypress_passes_after_an_override(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("flaky-cypress"))
    repo = clients.github.get_repo(CMS_REPO)
    fix = clients.sandbox.state()["fix_sha"]
    combined = repo.get_commit(fix).get_combined_status()
    assert combined.state == "failure"
    assert {s.context: s.state for s in combined.statuses}["va/tests/cypress"] == "failure"
    gate = clients.jenkins.get_job_info(GATE)["lastCompletedBuild"]["number"]
    assert clients.jenkins.get_build_info(GATE, gate)["result"] == "UNSTABLE"
    # The runbook's github-status-updater: force the spuriously failing context to success.
    repo.get_commit(fix).create_status("success", context="va/tests/cypress", description="Success")
    outcome = run_release(clients)
    assert outcome.fix_state == "success"
    assert outcome.released == fix
    assert outcome.login == 200


def test_tests_pending_finish_later_on_their_own(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("tests-pending"))
    repo = clients.github.get_repo(CMS_REPO)
    fix = clients.sandbox.state()["fix_sha"]
    assert repo.get_commit(fix).get_combined_status().state == "pending"
    last = clients.jenkins.get_job_info(GATE)["lastBuild"]["number"]
    gate = clients.jenkins.get_build_info(GATE, last)
    assert gate["building"] is True
    assert gate["actions"][2]["lastBuiltRevision"]["SHA1"] == fix
    for _ in range(30):
        clients.sandbox.advance(120)
        if not clients.jenkins.get_build_info(GATE, last)["building"]:
            break
    assert clients.jenkins.get_build_info(GATE, last)["result"] == "SUCCESS"
    assert repo.get_commit(fix).get_combined_status().state == "success"
    outcome = run_release(clients)
    assert (outcome.released, outcome.login) == (fix, 200)


def test_main_moved_releases_a_newer_commit_that_contains_the_fix(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("main-moved"))
    fix = clients.sandbox.state()["fix_sha"]
    outcome = run_release(clients)
    assert outcome.released not in (None, fix)
    assert outcome.released == clients.sandbox.state()["main_sha"]
    assert outcome.contains_fix is True
    assert outcome.login == 200


def test_wrong_commit_is_released_without_the_fix(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("wrong-commit"))
    fix = clients.sandbox.state()["fix_sha"]
    outcome = run_release(clients)
    assert outcome.fix_state == "success"  # it passed when the operator checked
    assert outcome.released is not None
    assert outcome.contains_fix is False
    behind = clients.github.get_repo(CMS_REPO).compare(fix, outcome.released)
    assert (behind.status, behind.behind_by) == ("behind", 1)
    assert outcome.prod_result == "SUCCESS"
    assert outcome.login == 500  # production still has the bug
    reruns = next(j for j in clients.sandbox.state()["jobs"] if j["path"] == GATE)["builds"]
    assert reruns[0]["cause"] == "Started by user kwalsh"


def test_prod_deploy_fails_and_production_keeps_the_old_release(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("prod-deploy-fails"))
    outcome = run_release(clients)
    assert outcome.contains_fix is True
    assert outcome.shield_seen
    assert outcome.prod_result == "FAILURE"
    assert outcome.login == 500
    assert outcome.version["tag"] == "cms/v0.0.312"


def test_fix_ineffective_deploys_but_login_stays_broken(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    clients = connect(start_sandbox("fix-ineffective"))
    fix = clients.sandbox.state()["fix_sha"]
    outcome = run_release(clients)
    assert (outcome.released, outcome.prod_result) == (fix, "SUCCESS")
    assert outcome.version["commit"] == fix
    assert outcome.login == 500


def test_same_seed_same_world(start_sandbox: StartSandbox, connect: Connect) -> None:
    first, second = (connect(start_sandbox("wrong-commit", seed=7)) for _ in range(2))
    assert run_release(first) == run_release(second)
    strip = ("sim_time", "sim_epoch", "sim_elapsed_seconds")
    states = [
        {k: v for k, v in c.sandbox.state().items() if k not in strip} for c in (first, second)
    ]
    assert states[0] == states[1]


def test_quick_jobs_take_the_scenario_s_minutes_on_the_wire(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    # A build's estimatedDuration is what oob paces its looks by: the scenario's, not the
    # pipeline's usual minutes (a world reset from another scenario included).
    sandbox = start_sandbox("happy")
    sandbox.world.reset(scenario="quick", seed=0)
    server = connect(sandbox).jenkins
    estimates = {}
    for path in ("deploys/cms-auto-deploy", PROD):
        last = server.get_job_info(path)["lastBuild"]["number"]
        estimates[path] = server.get_build_info(path, last)["estimatedDuration"]
    assert estimates == {"deploys/cms-auto-deploy": 120_000, PROD: 60_000}
