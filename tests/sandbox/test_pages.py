"""Every link a drill hands out opens a page of the sandbox: a commit, a compare, a pull
request, a chat message (issue: what a rehearsal shows is true — links look real)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from slack_sdk import WebClient

from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(Options(scenario="happy", time_scale=60)) as server:
        yield server


def test_githubs_links_are_the_sandboxs_pages_and_open(sandbox: SandboxServer) -> None:
    token = sandbox.options.token
    api = httpx.Client(
        base_url=f"{sandbox.url}/github", headers={"Authorization": f"Bearer {token}"}
    )
    state = sandbox.state()
    repo, fix, main = state["repo"], state["fix_sha"], state["main_sha"]
    try:
        commit = api.get(f"/repos/{repo}/commits/{fix}").json()
        compare = api.get(f"/repos/{repo}/compare/{fix}...{main}").json()
        links = {
            commit["html_url"]: fix[:7],
            compare["html_url"]: "ahead",
            api.get(f"/repos/{repo}").json()["html_url"]: repo,
        }
    finally:
        api.close()
    for link, shows in links.items():
        assert link.startswith(f"{sandbox.url}/web/github/"), link
        page = httpx.get(link)
        assert page.status_code == 200, link
        assert shows in page.text


def test_slacks_permalinks_are_the_sandboxs_pages_and_open(sandbox: SandboxServer) -> None:
    slack = WebClient(token=sandbox.options.token, base_url=f"{sandbox.url}/slack/api/")
    posted = slack.chat_postMessage(channel="#cms-helpdesk", text="deploy <complete> & verified")
    link = slack.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])["permalink"]
    assert link.startswith(f"{sandbox.url}/web/slack/archives/")
    page = httpx.get(link)
    assert page.status_code == 200
    assert "deploy &lt;complete&gt; &amp; verified" in page.text
