"""Jenkins on the wire, driven by python-jenkins and api4jenkins as a user's scripts would."""

from __future__ import annotations

import jenkins
import pytest
import requests
from api4jenkins.exceptions import AuthenticationError, ItemNotFoundError

from .conftest import TOKEN, Clients, Connect, StartSandbox

RELEASE = "deploys/cms-auto-deploy"
RELEASE_URL = "/jenkins/job/deploys/job/cms-auto-deploy"
AUTH = ("oob", TOKEN)


def start_release(clients: Clients, wait: int = 15) -> int:
    """Trigger the release job with python-jenkins; return the build number."""
    queue_id = clients.jenkins.build_job(RELEASE, {"release_wait": wait})
    clients.sandbox.advance(10)  # past the quiet period
    number: int = clients.jenkins.get_queue_item(queue_id)["executable"]["number"]
    return number


def test_build_with_parameters_answers_201_with_an_absolute_queue_location(
    clients: Clients,
) -> None:
    answer = clients.http.post(
        f"{RELEASE_URL}/buildWithParameters", params={"release_wait": "15"}, auth=AUTH
    )
    assert answer.status_code == 201
    assert answer.content == b""
    location = answer.headers["Location"]
    assert location.startswith(f"{clients.sandbox.url}/jenkins/queue/item/")
    assert location.endswith("/")
    ledger = clients.sandbox.ledger()
    assert [e["summary"]["parameters"] for e in ledger] == [{"release_wait": "15"}]


def test_queue_item_waits_its_quiet_period_then_names_the_build(clients: Clients) -> None:
    server = clients.jenkins
    queue_id = server.build_job(RELEASE, {"release_wait": 15})
    waiting = server.get_queue_item(queue_id)
    assert waiting["_class"] == "hudson.model.Queue$WaitingItem"
    assert waiting["why"].startswith("In the quiet period")
    assert "executable" not in waiting
    clients.sandbox.advance(10)
    left = server.get_queue_item(queue_id)
    assert left["_class"] == "hudson.model.Queue$LeftItem"
    assert left["executable"]["number"] == server.get_job_info(RELEASE)["lastBuild"]["number"]
    clients.sandbox.advance(6 * 60)
    with pytest.raises(jenkins.JenkinsException):
        server.get_queue_item(queue_id)  # forgotten a few minutes after it left


def test_build_json_has_the_actions_oob_reads(clients: Clients) -> None:
    number = start_release(clients)
    info = clients.jenkins.get_build_info(RELEASE, number)
    assert info["_class"] == "org.jenkinsci.plugins.workflow.job.WorkflowRun"
    assert info["building"] is True
    assert info["result"] is None
    assert info["estimatedDuration"] == 15 * 60_000
    by_class = {a.get("_class"): a for a in info["actions"]}
    assert by_class["hudson.model.ParametersAction"]["parameters"] == [
        {"_class": "hudson.model.StringParameterValue", "name": "release_wait", "value": "15"}
    ]
    assert by_class["hudson.model.CauseAction"]["causes"][0]["userId"] == "oob"
    sha = by_class["hudson.plugins.git.util.BuildData"]["lastBuiltRevision"]["SHA1"]
    assert sha == clients.sandbox.state()["main_sha"]
    assert {} in info["actions"]


def test_progressive_text_says_more_data_only_while_building(clients: Clients) -> None:
    number = start_release(clients)
    url = f"{RELEASE_URL}/{number}/logText/progressiveText"
    first = clients.http.get(url, params={"start": 0}, auth=AUTH)
    assert first.headers["X-More-Data"] == "true"
    size = int(first.headers["X-Text-Size"])
    assert first.text.endswith("\n")
    assert "Sleeping for 15 min" in first.text
    clients.sandbox.advance(20 * 60)
    rest = clients.http.get(url, params={"start": size}, auth=AUTH)
    assert "X-More-Data" not in rest.headers
    assert rest.text.startswith("[Pipeline] }")
    assert f"Commit status: success : {clients.sandbox.state()['fix_sha']}\n" in rest.text
    assert rest.text.endswith("Finished: SUCCESS\n")
    whole = clients.jenkins.get_build_console_output(RELEASE, number)
    assert whole == first.text + rest.text


def test_progressive_offsets_count_hidden_console_notes(clients: Clients) -> None:
    """X-Text-Size is a byte offset into the log file, console notes included: a follower
    that adds the body's length instead would ask again from inside text it already has."""
    number = start_release(clients)
    url = f"{RELEASE_URL}/{number}/logText/progressiveText"
    first = clients.http.get(url, params={"start": 0}, auth=AUTH)
    size = int(first.headers["X-Text-Size"])
    assert size > len(first.content)
    assert "\x1b" not in first.text
    clients.sandbox.advance(20 * 60)
    naive = clients.http.get(url, params={"start": len(first.content)}, auth=AUTH)
    right = clients.http.get(url, params={"start": size}, auth=AUTH)
    fix = clients.sandbox.state()["fix_sha"]
    assert right.text.count(f"Commit status: success : {fix}") == 1
    assert naive.text != right.text  # the naive offset lands elsewhere in the file
    whole = clients.jenkins.get_build_console_output(RELEASE, number)
    assert whole == first.text + right.text


def test_progressive_start_past_the_end_rolls_over_and_garbage_is_500(clients: Clients) -> None:
    number = start_release(clients)
    url = f"{RELEASE_URL}/{number}/logText/progressiveText"
    whole = clients.http.get(url, params={"start": 0}, auth=AUTH)
    size = int(whole.headers["X-Text-Size"])
    beyond = clients.http.get(url, params={"start": size + 1000}, auth=AUTH)
    assert beyond.status_code == 200
    assert beyond.text == whole.text
    assert beyond.headers["X-Text-Size"] == str(size)
    at_end = clients.http.get(url, params={"start": size}, auth=AUTH)
    assert at_end.content == b""
    garbage = clients.http.get(url, params={"start": "ten"}, auth=AUTH)
    assert garbage.status_code == 500
    assert "NumberFormatException" in garbage.text


def test_identical_triggers_fold_into_the_queued_item(clients: Clients) -> None:
    server = clients.jenkins
    first = server.build_job(RELEASE, {"release_wait": 15})
    again = server.build_job(RELEASE, {"release_wait": 15})
    other = server.build_job(RELEASE, {"release_wait": 16})
    assert again == first
    assert other != first
    clients.sandbox.advance(10)
    numbers = {server.get_queue_item(q)["executable"]["number"] for q in (first, again, other)}
    assert len(numbers) == 2
    ledger = clients.sandbox.ledger()
    assert [e["summary"].get("parameters") for e in ledger] == [
        {"release_wait": "15"},
        None,
        {"release_wait": "16"},
    ]
    assert ledger[1]["summary"]["folded"] == {"release_wait": "15"}


def test_a_disabled_job_answers_409(start_sandbox: StartSandbox, connect: Connect) -> None:
    clients = connect(start_sandbox("release-disabled"))
    answer = clients.http.post(
        f"{RELEASE_URL}/buildWithParameters", params={"release_wait": "15"}, auth=AUTH
    )
    assert answer.status_code == 409
    info = clients.jenkins.get_job_info(RELEASE)
    assert info["buildable"] is False
    assert info["color"] == "disabled"
    assert clients.sandbox.ledger() == []


def test_queue_items_pass_through_blocked_and_buildable(clients: Clients) -> None:
    prod = "deploys/cms-vagov-prod"
    server = clients.jenkins
    first = server.build_job(prod, {"release_tag": "cms/v0.0.1"})
    clients.sandbox.advance(5)
    buildable = server.get_queue_item(first)
    assert buildable["_class"] == "hudson.model.Queue$BuildableItem"
    assert buildable["buildable"] is True
    assert buildable["why"] == "Waiting for next available executor"
    clients.sandbox.advance(5)
    number = server.get_queue_item(first)["executable"]["number"]
    second = server.build_job(prod, {"release_tag": "cms/v0.0.2"})
    clients.sandbox.advance(10)
    blocked = server.get_queue_item(second)
    assert blocked["_class"] == "hudson.model.Queue$BlockedItem"
    assert blocked["blocked"] is True
    assert blocked["why"].startswith(f"Build #{number} is already in progress")
    assert "executable" not in blocked
    clients.sandbox.advance(8 * 60)  # the first deploy ends; the second starts after it
    left = server.get_queue_item(second)
    assert left["_class"] == "hudson.model.Queue$LeftItem"
    assert left["executable"]["number"] == number + 1


def test_a_long_job_writes_its_log_steadily(clients: Clients) -> None:
    queue_id = clients.jenkins.build_job("testing/cms-post-deploy-tests-staging")
    clients.sandbox.advance(10)
    number = clients.jenkins.get_queue_item(queue_id)["executable"]["number"]
    sizes = []
    for _ in range(5):  # happy's post-deploy tests run about five and a half minutes
        clients.sandbox.advance(60)
        log = clients.jenkins.get_build_console_output(
            "testing/cms-post-deploy-tests-staging", number
        )
        sizes.append(len(log.splitlines()))
    assert sizes == sorted(set(sizes))  # more lines every minute


def test_api4jenkins_follows_a_build_through_the_queue(clients: Clients) -> None:
    client = clients.api4jenkins
    item = client.build_job(RELEASE, release_wait=15)
    clients.sandbox.advance(10)
    build = item.get_build()
    assert build.number == client.get_job(RELEASE).get_last_build().number
    assert build.get_parameters()[0].value == "15"
    assert build.get_causes()[0]["userId"] == "oob"
    assert build.building is True
    clients.sandbox.advance(17 * 60)
    assert list(build.console_text())[-1] == "Finished: SUCCESS"
    assert build.result == "SUCCESS"


def test_stop_aborts_the_release_during_its_wait(clients: Clients) -> None:
    number = start_release(clients)
    clients.sandbox.advance(5 * 60)
    clients.jenkins.stop_build(RELEASE, number)
    info = clients.jenkins.get_build_info(RELEASE, number)
    assert info["result"] == "ABORTED"
    assert info["building"] is False
    clients.sandbox.advance(30 * 60)
    assert "Commit status" not in clients.jenkins.get_build_console_output(RELEASE, number)
    state = clients.sandbox.state()
    downstream = next(j for j in state["jobs"] if j["path"] == "cms/cms-full-pipeline")
    assert not any(b["during_scenario"] for b in downstream["builds"])
    paths = [e["path"].rsplit("/", 1)[-1] for e in clients.sandbox.ledger()]
    assert paths == ["buildWithParameters", "stop"]


def test_api4jenkins_stop_gets_the_redirect(clients: Clients) -> None:
    item = clients.api4jenkins.build_job(RELEASE, release_wait=15)
    clients.sandbox.advance(10)
    build = item.get_build()
    assert build.stop().status_code == 302
    assert build.result == "ABORTED"


def test_job_json_honours_tree(clients: Clients) -> None:
    start_release(clients)
    answer = clients.http.get(
        f"{RELEASE_URL}/api/json",
        params={"tree": "builds[number,result,duration,timestamp]{0,2}"},
        auth=AUTH,
    )
    data = answer.json()
    assert set(data) == {"_class", "builds"}
    newest, older = data["builds"]
    assert newest["number"] > older["number"]
    assert newest["result"] is None
    assert set(newest) == {"_class", "number", "result", "duration", "timestamp"}
    assert older["result"] == "SUCCESS"


def test_folders_and_jobs_are_listed_and_unknown_jobs_are_404(clients: Clients) -> None:
    names = {job["fullname"] for job in clients.jenkins.get_all_jobs()}
    assert {"deploys/cms-auto-deploy", "testing/cms", "releases/cms"} <= names
    with pytest.raises(jenkins.JenkinsException, match="does not exist"):
        clients.jenkins.get_job_info("deploys/no-such-job")
    assert clients.http.get("/jenkins/job/deploys/job/nope/api/json", auth=AUTH).status_code == 404
    assert clients.api4jenkins.get_job("deploys/no-such-job") is None


def test_bad_credentials_are_401(clients: Clients, connect: Connect) -> None:
    wrong = connect(clients.sandbox, token="wrong")
    with pytest.raises(AuthenticationError):
        wrong.api4jenkins.get_job(RELEASE)
    with pytest.raises(jenkins.JenkinsException, match="401"):
        wrong.jenkins.get_job_info(RELEASE)


def test_crumb_issuer_and_whoami(clients: Clients) -> None:
    assert clients.jenkins.get_whoami()["id"] == "oob"
    assert clients.jenkins.get_version() == "2.462.3"
    request = requests.Request("POST", clients.sandbox.url)
    clients.jenkins.maybe_add_crumb(request)
    assert "Jenkins-Crumb" in request.headers


def test_wrong_build_entry_points_fail_as_jenkins_does(clients: Clients) -> None:
    post = clients.http.post
    assert post(f"{RELEASE_URL}/build", auth=AUTH).status_code == 400
    assert post("/jenkins/job/testing/job/cms/buildWithParameters", auth=AUTH).status_code == 500
    assert post("/jenkins/job/testing/job/cms/build", auth=AUTH).status_code == 201
    assert post(f"{RELEASE_URL}/build").status_code == 403  # anonymous


def test_cancelled_queue_item_never_builds(clients: Clients) -> None:
    server = clients.jenkins
    before = server.get_job_info(RELEASE)["nextBuildNumber"]
    queue_id = server.build_job(RELEASE, {"release_wait": 15})
    server.cancel_queue(queue_id)
    clients.sandbox.advance(60)
    item = server.get_queue_item(queue_id)
    assert item["cancelled"] is True
    assert item["executable"] is None
    assert server.get_job_info(RELEASE)["nextBuildNumber"] == before


def test_unknown_queue_item_is_404(clients: Clients) -> None:
    with pytest.raises(ItemNotFoundError):
        clients.api4jenkins.queue.handle_req("GET", "item/1/api/json")
