"""JenkinsBuildServer against scripted answers: the wire facts of DESIGN.md section 5."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from oob.adapters.jenkins import JenkinsBuildServer
from oob.errors import JenkinsError
from tests.adapters.conftest import POLICY, Script, ok

JOB = "/job/deploys/job/cms-auto-deploy/"
BASE = "https://jenkins.example"


@pytest.fixture
def jenkins(script: Script) -> Iterator[JenkinsBuildServer]:
    server = JenkinsBuildServer(
        BASE,
        "oob",
        "s3cret-token",
        token_env="OOB_JENKINS_TOKEN",
        timeout_seconds=5,
        policy=POLICY,
        repository="department-of-veterans-affairs/va.gov-cms",
        transport=script.transport,
        sleep=lambda _: None,
    )
    yield server
    server.close()


def build_json(number: int = 7, **over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
        "number": number,
        "url": f"{BASE}{JOB}{number}/",
        "building": False,
        "result": "SUCCESS",
        "timestamp": 1719151200000,
        "duration": 900000,
        "estimatedDuration": 880000,
        "queueId": 41,
        "actions": [
            {},
            {
                "_class": "hudson.model.ParametersAction",
                "parameters": [{"name": "release_wait", "value": 15}],
            },
            {
                "_class": "hudson.model.CauseAction",
                "causes": [{"shortDescription": "Started by user oob", "userId": "oob"}],
            },
            {
                "_class": "hudson.plugins.git.util.BuildData",
                "lastBuiltRevision": {"SHA1": "1" * 40},
                "remoteUrls": ["https://github.com/department-of-veterans-affairs/jenkins-lib.git"],
            },
            {
                "_class": "hudson.plugins.git.util.BuildData",
                "lastBuiltRevision": {"SHA1": "a" * 40},
                "remoteUrls": ["https://github.com/department-of-veterans-affairs/va.gov-cms.git"],
            },
        ],
    }
    data.update(over)
    return data


def test_trigger_sends_parameters_in_the_query_and_reads_the_queue_item(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(
        "GET /crumbIssuer/api/json", ok({"crumb": "c1", "crumbRequestField": "Jenkins-Crumb"})
    )
    script.on(
        f"POST {JOB}buildWithParameters",
        httpx.Response(201, headers={"Location": f"{BASE}/queue/item/42/"}),
    )
    queued = jenkins.trigger("deploys/cms-auto-deploy", {"release_wait": "15"})
    assert (queued.job, queued.queue_id, queued.build_number) == (
        "deploys/cms-auto-deploy",
        42,
        None,
    )
    sent = script.calls(f"POST {JOB}buildWithParameters")[0]
    assert sent.url.params["release_wait"] == "15"
    assert sent.headers["Jenkins-Crumb"] == "c1"
    assert sent.headers["Authorization"].startswith("Basic ")


def test_trigger_is_not_resent_after_a_server_error(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    # Jenkins may have queued the build before failing: only the procedure may look and retry.
    script.on("GET /crumbIssuer/api/json", httpx.Response(404))
    script.on(f"POST {JOB}buildWithParameters", httpx.Response(502))
    with pytest.raises(JenkinsError, match="502"):
        jenkins.trigger("deploys/cms-auto-deploy", {"release_wait": "15"})
    assert len(script.calls(f"POST {JOB}buildWithParameters")) == 1


def test_trigger_is_resent_when_the_connection_was_never_made(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on("GET /crumbIssuer/api/json", httpx.Response(404))
    script.on(
        f"POST {JOB}buildWithParameters",
        httpx.ConnectError("refused"),
        httpx.Response(201, headers={"Location": f"{BASE}/queue/item/5/"}),
    )
    assert jenkins.trigger("deploys/cms-auto-deploy", {"release_wait": "15"}).queue_id == 5


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, "Jenkins answered 401 for user oob", "check the token in OOB_JENKINS_TOKEN"),
        (404, "Jenkins has no job deploys/cms-auto-deploy", "job paths"),
        (409, "the job is disabled", "enable it"),
        (500, "500 to buildWithParameters", "release_wait_parameter"),
    ],
)
def test_trigger_errors_say_what_to_do(
    jenkins: JenkinsBuildServer, script: Script, status: int, message: str, hint: str
) -> None:
    script.on("GET /crumbIssuer/api/json", httpx.Response(404))
    # Jenkins' own words for a job without parameters (`ParameterizedJobMixIn`).
    body = "java.io.IOException: deploys/cms-auto-deploy is not parameterized" * (status == 500)
    script.on(f"POST {JOB}buildWithParameters", httpx.Response(status, text=body))
    with pytest.raises(JenkinsError) as caught:
        jenkins.trigger("deploys/cms-auto-deploy", {"release_wait": "15"})
    assert message in caught.value.message
    assert hint in (caught.value.hint or "")
    assert "s3cret" not in str(caught.value)
    assert len(script.calls(f"POST {JOB}buildWithParameters")) == 1


def test_any_other_500_to_the_trigger_may_have_queued_the_build(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    """A 500 without Jenkins' "not parameterized" is no verdict on the job: the build may be
    queued, the run looks for it (seen in the soak: a proxy's 500 ended the run `failed`,
    blaming the job's parameters)."""
    script.on("GET /crumbIssuer/api/json", httpx.Response(404))
    script.on(f"POST {JOB}buildWithParameters", httpx.Response(500, text="<h1>500</h1>"))
    with pytest.raises(JenkinsError) as caught:
        jenkins.trigger("deploys/cms-auto-deploy", {"release_wait": "15"})
    assert caught.value.transient
    assert "may have queued a build" in caught.value.message


def test_a_401_is_not_retried(jenkins: JenkinsBuildServer, script: Script) -> None:
    script.on(f"GET {JOB}7/api/json", httpx.Response(401))
    with pytest.raises(JenkinsError, match="401"):
        jenkins.build("deploys/cms-auto-deploy", 7)
    assert len(script.requests) == 1


def test_reads_are_retried_through_5xx_and_connection_errors(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(
        f"GET {JOB}7/api/json",
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        ok(build_json()),
    )
    build = jenkins.build("deploys/cms-auto-deploy", 7)
    assert build.number == 7
    assert len(script.requests) == 3


def test_reads_give_up_after_the_policy_s_attempts(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(f"GET {JOB}7/api/json", httpx.ConnectError("refused"))
    with pytest.raises(JenkinsError, match="failed: ConnectError") as caught:
        jenkins.build("deploys/cms-auto-deploy", 7)
    assert "tried 3 times" in (caught.value.hint or "")
    assert len(script.requests) == POLICY.attempts


def test_build_reads_parameters_causes_and_the_tested_repository_s_commit(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(f"GET {JOB}7/api/json", ok(build_json()))
    build = jenkins.build("deploys/cms-auto-deploy", 7)
    assert build.sha == "a" * 40  # not the shared library's
    assert build.parameters == {"release_wait": "15"}
    assert build.causes == ("oob",)
    assert build.succeeded
    assert build.duration_seconds == 900
    assert build.estimated_seconds == 880
    assert build.started_at.isoformat() == "2024-06-23T14:00:00+00:00"
    assert build.queue_id == 41


def test_a_running_build_has_no_result_and_no_duration(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(
        f"GET {JOB}8/api/json",
        ok(build_json(8, building=True, result=None, duration=0, actions=[])),
    )
    build = jenkins.build("deploys/cms-auto-deploy", 8)
    assert (build.building, build.result, build.duration_seconds, build.sha) == (
        True,
        None,
        0.0,
        None,
    )


def test_builds_are_newest_first_and_limited(jenkins: JenkinsBuildServer, script: Script) -> None:
    script.on(
        f"GET {JOB}api/json",
        ok({"_class": "WorkflowJob", "builds": [build_json(n) for n in (9, 8, 7)]}),
    )
    builds = jenkins.builds("deploys/cms-auto-deploy", limit=2)
    assert [b.number for b in builds] == [9, 8]
    assert "builds[" in script.requests[0].url.params["tree"]


def test_queue_item_gives_the_build_once_started(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(
        "GET /queue/item/42/api/json",
        ok({"_class": "hudson.model.Queue$WaitingItem", "why": "In the quiet period", "id": 42}),
        ok(
            {
                "_class": "hudson.model.Queue$LeftItem",
                "cancelled": False,
                "executable": {"number": 12, "url": f"{BASE}{JOB}12/"},
            }
        ),
    )
    waiting = jenkins.queued("deploys/cms-auto-deploy", 42)
    assert (waiting.build_number, waiting.why) == (None, "In the quiet period")
    assert jenkins.queued("deploys/cms-auto-deploy", 42).build_number == 12


def test_a_vanished_queue_item_is_found_among_the_builds(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on("GET /queue/item/41/api/json", httpx.Response(404))
    script.on(f"GET {JOB}api/json", ok({"builds": [build_json(7, queueId=41)]}))
    assert jenkins.queued("deploys/cms-auto-deploy", 41).build_number == 7


def test_job_lists_parameters_and_whether_buildable(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(
        f"GET {JOB}api/json",
        ok(
            {
                "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                "url": f"{BASE}{JOB}",
                "buildable": True,
                "property": [
                    {
                        "_class": "hudson.model.ParametersDefinitionProperty",
                        "parameterDefinitions": [{"name": "release_wait"}],
                    }
                ],
            }
        ),
    )
    info = jenkins.job("deploys/cms-auto-deploy")
    assert (info.buildable, info.parameters) == (True, ("release_wait",))


def test_stop_accepts_the_redirect(jenkins: JenkinsBuildServer, script: Script) -> None:
    script.on("GET /crumbIssuer/api/json", httpx.Response(404))
    script.on(f"POST {JOB}12/stop", httpx.Response(302, headers={"Location": f"{BASE}{JOB}12/"}))
    jenkins.stop("deploys/cms-auto-deploy", 12)
    assert len(script.calls(f"POST {JOB}12/stop")) == 1


def progressive(text: str, size: int, more: bool) -> httpx.Response:
    headers = {"X-Text-Size": str(size), "Content-Type": "text/plain;charset=UTF-8"}
    if more:
        headers["X-More-Data"] = "true"
    return httpx.Response(200, content=text.encode(), headers=headers)


def test_follow_log_streams_until_more_data_is_absent(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    route = f"GET {JOB}12/logText/progressiveText"
    script.on(
        route,
        progressive("Started by user oob\nWaiting 15 minutes\n", 40, more=True),
        progressive("", 40, more=True),  # nothing new yet
        # X-Text-Size counts console notes the plain text leaves out: trust it, not our count.
        progressive("Commit status: success : abc1234\n", 120, more=True),
        progressive("Finished: SUCCESS", 137, more=False),
    )
    lines = list(jenkins.follow_log("deploys/cms-auto-deploy", 12))
    assert lines == [
        "Started by user oob",
        "Waiting 15 minutes",
        "Commit status: success : abc1234",
        "Finished: SUCCESS",
    ]
    starts = [r.url.params["start"] for r in script.calls(route)]
    assert starts == ["0", "40", "40", "120"]


def test_follow_log_treats_any_more_data_value_as_more(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    route = f"GET {JOB}12/logText/progressiveText"
    false_but_more = progressive("a\n", 2, more=False)
    false_but_more.headers["X-More-Data"] = "false"
    script.on(route, false_but_more, progressive("b\n", 4, more=False))
    assert list(jenkins.follow_log("deploys/cms-auto-deploy", 12)) == ["a", "b"]


class Broken(httpx.SyncByteStream):
    """A body that breaks off after its first piece."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        raise httpx.ReadError("connection reset")


def test_follow_log_resumes_a_broken_chunk_without_repeating_lines(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    route = f"GET {JOB}12/logText/progressiveText"
    broken = httpx.Response(
        200, stream=Broken(b"one\ntwo\nthr"), headers={"X-Text-Size": "18", "X-More-Data": "true"}
    )
    script.on(route, broken, progressive("one\ntwo\nthree\nfour\n", 19, more=False))
    assert list(jenkins.follow_log("deploys/cms-auto-deploy", 12)) == [
        "one",
        "two",
        "three",
        "four",
    ]


def test_follow_log_stays_in_constant_memory_for_huge_lines(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    route = f"GET {JOB}12/logText/progressiveText"
    script.on(route, progressive("x" * (3 << 20) + "\nend\n", 10, more=False))
    lengths = [len(line) for line in jenkins.follow_log("deploys/cms-auto-deploy", 12)]
    assert max(lengths) <= 1 << 20
    assert sum(lengths) == (3 << 20) + 3


def test_log_returns_one_chunk(jenkins: JenkinsBuildServer, script: Script) -> None:
    script.on(f"GET {JOB}12/logText/progressiveText", progressive("a\nb\n", 99, more=True))
    chunk = jenkins.log("deploys/cms-auto-deploy", 12, start=5)
    assert (chunk.text, chunk.next_start, chunk.more) == ("a\nb\n", 99, True)


def test_a_login_page_instead_of_json_is_explained(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(f"GET {JOB}7/api/json", httpx.Response(200, text="<html>Sign in</html>"))
    with pytest.raises(JenkinsError, match="not JSON"):
        jenkins.build("deploys/cms-auto-deploy", 7)
