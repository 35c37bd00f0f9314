"""Small pages for the links a drill hands out: a commit, a compare, a pull request, a chat
message, a repository. The sandbox's GitHub and Slack give links under `/web/` of the sandbox
itself (never github.com or a real Slack workspace), so every link in a rehearsal's messages
and postmortem draft opens, and none points at a real host.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from oob.sandbox.repo import Repo
from oob.sandbox.world import World

GITHUB_PAGES = "/web/github"
SLACK_PAGES = "/web/slack"


class Pages:
    """The routes under `/web/`."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        return [
            Route("/github/{owner}/{repo}/commit/{sha}", self.commit),
            Route("/github/{owner}/{repo}/compare/{spec:path}", self.compare),
            Route("/github/{owner}/{repo}/pull/{number:int}", self.pull),
            Route("/github/{owner}/{repo}", self.repository),
            Route("/github/{owner}/{repo}/{rest:path}", self.repository),
            Route("/github/{login}", self.user),
            Route("/slack/archives/{channel}/p{ts}", self.message),
        ]

    def _repo(self, request: Request) -> Repo | None:
        full = f"{request.path_params['owner']}/{request.path_params['repo']}".lower()
        return next(
            (r for r in (self.world.repo, self.world.postmortems) if r.full_name.lower() == full),
            None,
        )

    async def commit(self, request: Request) -> Response:
        with self.world.session():
            repo = self._repo(request)
            sha = repo.resolve(request.path_params["sha"]) if repo else None
            if repo is None or sha is None:
                return _page("No such commit", "", 404)
            commit = repo.commits[sha]
            statuses = "".join(
                f"<li>{escape(s.context)}: {escape(s.state)} — {escape(s.description or '')}</li>"
                for s in repo.latest_statuses(sha)
            )
            body = (
                f"<p><code>{sha}</code> by {escape(commit.author)}</p>"
                f"<pre>{escape(commit.message)}</pre><h2>Statuses</h2><ul>{statuses}</ul>"
            )
            return _page(f"Commit {sha[:7]} of {repo.full_name}", body)

    async def compare(self, request: Request) -> Response:
        base, _, head = str(request.path_params["spec"]).partition("...")
        with self.world.session():
            repo = self._repo(request)
            base_sha = repo.resolve(base) if repo else None
            head_sha = repo.resolve(head) if repo else None
            if repo is None or base_sha is None or head_sha is None:
                return _page("Nothing to compare", "", 404)
            found = repo.compare(base_sha, head_sha)
            body = (
                f"<p>{escape(head)} is <strong>{escape(found.status)}</strong> of {escape(base)}"
                f": {found.ahead_by} ahead, {found.behind_by} behind.</p>"
            )
            return _page(f"Compare {base[:12]}...{head[:12]}", body)

    async def pull(self, request: Request) -> Response:
        number = int(request.path_params["number"])
        with self.world.session():
            repo = self._repo(request)
            pull = next((p for p in repo.pulls if p.number == number), None) if repo else None
            if repo is None or pull is None:
                return _page("No such pull request", "", 404)
            body = (
                f"<p>{escape(pull.head)} → {escape(pull.base)}, {escape(pull.state)}, "
                f"by {escape(pull.user)}</p><pre>{escape(pull.body)}</pre>"
            )
            return _page(f"#{number} {pull.title}", body)

    async def repository(self, request: Request) -> Response:
        with self.world.session():
            repo = self._repo(request)
            if repo is None:
                return _page("No such repository", "", 404)
            branches = "".join(
                f"<li>{escape(name)}: <code>{sha[:7]}</code></li>"
                for name, sha in sorted(repo.branches.items())
            )
            return _page(repo.full_name, f"<ul>{branches}</ul>")

    async def user(self, request: Request) -> Response:
        return _page(str(request.path_params["login"]), "<p>A person of the sandbox.</p>")

    async def message(self, request: Request) -> Response:
        ts = str(request.path_params["ts"])
        ts = f"{ts[:-6]}.{ts[-6:]}" if len(ts) > 6 else ts
        with self.world.session() as world:
            channel = world.slack.channel(str(request.path_params["channel"]), by_name=False)
            found = channel.find(ts) if channel else None
            if channel is None or found is None:
                return _page("No such message", "", 404)
            body = f"<p>in #{escape(channel.name)}</p><pre>{escape(found.text)}</pre>"
            return _page(f"Message {ts}", body)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} — oob sandbox</title></head><body>"
        f"<p>oob sandbox (a rehearsal: nothing here is real)</p><h1>{escape(title)}</h1>"
        f"{body}</body></html>"
    )
    return HTMLResponse(html, status)
