"""oob's adapters against the sandbox's faithful corners, over a real socket.

Each test here stands for a way the real service differs from a lenient imitation: the adapter
must cope with the real behaviour (the sandbox plays it), not with the imitation's.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from oob.adapters import Services, connect
from oob.config import load
from oob.errors import ChatError, GitHubError, JenkinsError
from oob.ports import StatusState
from oob.sandbox.server import SandboxServer
from tests.adapters.conftest import Start
from tests.sandbox.conftest import land

RELEASE = "deploys/cms-auto-deploy"


class LoseFirstAnswer(httpx.BaseTransport):
    """A network that delivers the first request matching `route` and loses its answer: the
    service acted, the client never heard (a proxy timing out, a cut connection)."""

    def __init__(self, route: str) -> None:
        self._route = route
        self._inner = httpx.HTTPTransport()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if self.lost == 0 and f"{request.method} {request.url.path}".endswith(self._route):
            response.read()
            response.close()
            self.lost += 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def sandbox(start: Start) -> tuple[SandboxServer, str]:
    server, path = start()
    return server, str(path)


def services(path: str, transport: httpx.BaseTransport | None = None) -> Services:
    return connect(load(Path(path)), transport=transport)


def test_a_lost_trigger_then_a_repeat_while_queued_makes_one_build(
    sandbox: tuple[SandboxServer, str],
) -> None:
    """The trigger took effect but its answer was lost; oob looks for its build (none yet: the
    item is still in the quiet period) and triggers again. Jenkins folds the identical request
    into the queued item, so both name one queue item and exactly one release build runs."""
    server, path = sandbox
    lossy = LoseFirstAnswer("/job/cms-auto-deploy/buildWithParameters")
    before = {b["number"] for b in _release(server)["builds"]}
    with services(path, lossy) as connected:
        jenkins = connected.build_server
        with pytest.raises(JenkinsError):
            jenkins.trigger(RELEASE, {"release_wait": "15"})
        assert lossy.lost == 1
        assert not any(b.number not in before for b in jenkins.builds(RELEASE))
        again = jenkins.trigger(RELEASE, {"release_wait": "15"})
        server.advance(10)
        started = jenkins.queued(RELEASE, again.queue_id)
        assert started.build_number is not None
    new = [b for b in _release(server)["builds"] if b["number"] not in before]
    assert [b["number"] for b in new] == [started.build_number]
    entries = [e for e in server.ledger() if e["service"] == "jenkins"]
    assert [("parameters" in e["summary"], e["response_lost"]) for e in entries] == [
        (True, False),
        (False, False),
    ]
    assert entries[1]["summary"]["queue_id"] == again.queue_id == entries[0]["summary"]["queue_id"]


def test_following_a_log_takes_offsets_from_x_text_size(
    sandbox: tuple[SandboxServer, str],
) -> None:
    """Console notes make the file longer than the text: each line comes exactly once,
    including the `Commit status` line the release check parses."""
    server, path = sandbox
    with services(path) as connected:
        jenkins = connected.build_server
        queued = jenkins.trigger(RELEASE, {"release_wait": "15"})
        server.advance(10)
        number = jenkins.queued(RELEASE, queued.queue_id).build_number
        assert number is not None
        lines: list[str] = []
        chunk = jenkins.log(RELEASE, number, 0)
        lines += chunk.text.splitlines()
        assert chunk.next_start > len(chunk.text.encode())
        server.advance(20 * 60)
        lines += list(jenkins.follow_log(RELEASE, number, chunk.next_start))
    whole = server.world.jobs[RELEASE].build(number)
    assert whole is not None
    assert lines == whole.log(server.world.now).decode().splitlines()
    fix = server.state()["fix_sha"]
    assert lines.count(f"Commit status: success : {fix}") == 1


def _release(server: SandboxServer) -> dict[str, object]:
    return next(j for j in server.state()["jobs"] if j["path"] == RELEASE)


def test_repeated_status_polls_are_conditional_and_cost_nothing(
    sandbox: tuple[SandboxServer, str],
) -> None:
    server, path = sandbox
    fix = server.state()["fix_sha"]
    with services(path) as connected:
        first = connected.code_host.combined_status(fix)
        counted = server.state()["github"]["requests_counted"]
        for _ in range(3):
            assert connected.code_host.combined_status(fix) == first
    github = server.state()["github"]
    assert github["requests_counted"] == counted
    assert github["requests_not_modified"] == 3


def test_commits_after_reads_every_page_of_a_long_comparison(
    sandbox: tuple[SandboxServer, str],
) -> None:
    server, path = sandbox
    fix = server.state()["fix_sha"]
    landed = land(server, 130)
    with services(path) as connected:
        commits = connected.code_host.commits_after(fix)
    assert [c.sha for c in commits] == list(reversed(landed))


def test_a_spent_rate_limit_fails_at_once_and_says_until_when(start: Start) -> None:
    server, path = start(github_rate_limit=1)
    fix = server.state()["fix_sha"]
    with services(str(path)) as connected:
        connected.code_host.combined_status(fix)
        with pytest.raises(GitHubError, match="rate limiting the token until") as caught:
            connected.code_host.compare(fix, "main")
    assert caught.value.transient is True
    assert server.state()["github"]["requests_counted"] == 1


def test_the_postmortem_pull_request_is_found_among_others(
    sandbox: tuple[SandboxServer, str],
) -> None:
    """GitHub ignores a head filter without its owner: oob must name the owner to find its own."""
    server, path = sandbox
    repo = server.state()["postmortem_repo"]["repo"]
    with services(path) as connected:
        github = connected.code_host
        for branch in ("someone/else", "oob/postmortem-1"):
            github.ensure_branch(repo, branch, "master")
            github.put_file(repo, branch, f"{branch}.md", "# Draft\n", "Draft")
        other = github.ensure_pull_request(repo, "someone/else", "master", "Other", "")
        ours = github.ensure_pull_request(repo, "oob/postmortem-1", "master", "Ours", "")
        again = github.ensure_pull_request(repo, "oob/postmortem-1", "master", "Ours", "")
    assert other.number != ours.number == again.number
    assert len(server.state()["postmortem_repo"]["pulls"]) == 2


def test_a_context_reported_in_other_case_counts_as_the_required_one(
    sandbox: tuple[SandboxServer, str],
) -> None:
    """GitHub matches contexts case-insensitively; so must oob's reading of them."""
    server, path = sandbox
    fix = server.state()["fix_sha"]
    with services(path) as connected:
        connected.code_host.create_status(
            fix, StatusState.FAILURE, "VA/tests/Cypress", "re-run failed", None
        )
        combined = connected.code_host.combined_status(fix)
    assert combined.state is StatusState.FAILURE
    required = combined.context("va/tests/cypress")
    assert required is not None
    assert required.state is StatusState.FAILURE


# --- Slack ----------------------------------------------------------------------------------


def test_post_once_finds_its_message_among_other_peoples(
    sandbox: tuple[SandboxServer, str],
) -> None:
    """People keep talking after oob posted; a retry still finds oob's message by its key
    (within the 200 messages it looks back over) and does not post again."""
    server, path = sandbox
    with services(path) as connected:
        first = connected.chat.post("cms-helpdesk", "Deploy starting", "run-1:notify:1:helpdesk")
        server.advance(20 * 3600)
        helpdesk = connected.chat.channel_id("#cms-helpdesk")
        newer = [m for m in server.world.slack.channels[helpdesk].messages if m.ts > str(first.ts)]
        assert len(newer) > 50
        again = connected.chat.post("cms-helpdesk", "Deploy starting", "run-1:notify:1:helpdesk")
    assert again.ts == first.ts
    posts = [e for e in server.ledger() if e["path"].endswith("chat.postMessage")]
    assert len(posts) == 1


@pytest.mark.parametrize(
    ("scenario", "channel", "says", "hint"),
    [
        ("slack-not-invited", "cms-product", "not in #cms-product", "/invite"),
        ("slack-not-invited", "cms-editors", "#cms-editors is archived", "unarchive"),
        ("slack-missing-scope", "cms-helpdesk", "lacks a scope", "channels:history"),
    ],
)
def test_permanent_slack_refusals_fail_at_once_with_a_hint(
    start: Start, scenario: str, channel: str, says: str, hint: str
) -> None:
    server, path = start(scenario)
    with services(str(path)) as connected, pytest.raises(ChatError, match=says) as caught:
        connected.chat.post(channel, "Deploy starting", f"run-1:notify:1:{channel}")
    assert caught.value.transient is False
    assert caught.value.hint is not None
    assert hint in caught.value.hint
    assert server.ledger() == []


def test_whoami_reads_the_tokens_scopes(sandbox: tuple[SandboxServer, str]) -> None:
    _, path = sandbox
    with services(path) as connected:
        assert "chat:write" in connected.chat.whoami()["scopes"]


def test_a_channel_on_a_later_page_of_the_list_is_found(
    sandbox: tuple[SandboxServer, str],
) -> None:
    server, path = sandbox
    last = list(server.world.slack.channels.values())[-1]
    with services(path) as connected:
        assert connected.chat.channel_id(f"#{last.name}") == last.id
