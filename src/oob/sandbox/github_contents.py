"""GitHub's repository contents: reading a file or a directory, and committing a file, as oob
does when it writes the postmortem draft."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from oob.sandbox.github_shapes import Shapes
from oob.sandbox.github_wire import GitHubError, answer
from oob.sandbox.repo import Repo, blob_sha
from oob.sandbox.wire import body_params
from oob.sandbox.world import World


class ContentEndpoints(Shapes):
    """`/contents/{path}` of a repository."""

    async def get_contents(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/contents/{path}?ref=: a file (base64) or a directory listing."""
        path = unquote(request.path_params["path"]).strip("/")
        ref = request.query_params.get("ref", repo.default_branch)
        sha = repo.resolve(ref)
        if sha is None:
            raise GitHubError(404, f"No commit found for the ref {ref}")
        tree = repo.commits[sha].tree
        if path in tree:
            content = tree[path]
            data = self._file(request, repo, path, content, ref)
            return answer({**data, "content": base64.encodebytes(content).decode()})
        prefix = f"{path}/" if path else ""
        entries: dict[str, dict[str, Any]] = {}
        for name, content in sorted(tree.items()):
            if not name.startswith(prefix):
                continue
            child = name[len(prefix) :].split("/")[0]
            if child == name[len(prefix) :]:
                entries[child] = self._file(request, repo, name, content, ref)
            else:
                entries.setdefault(
                    child, {"type": "dir", "name": child, "path": prefix + child, "sha": ""}
                )
        if not entries:
            raise GitHubError(404, "Not Found")
        return answer(list(entries.values()))

    async def put_contents(self, request: Request, world: World, repo: Repo) -> Response:
        """PUT /repos/{o}/{r}/contents/{path}: 201 created, 200 updated (needs the blob sha)."""
        path = unquote(request.path_params["path"]).strip("/")
        body = await body_params(request)
        branch = str(body.get("branch") or repo.default_branch)
        content = _content(body)
        if branch not in repo.branches:
            raise GitHubError(404, f"Branch {branch} not found")
        existing = repo.commits[repo.branches[branch]].tree.get(path)
        if existing is not None and "sha" not in body:
            raise GitHubError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if existing is not None and body["sha"] != blob_sha(existing):
            raise GitHubError(409, f"{path} does not match {body['sha']}")
        author = body.get("committer") or {
            "name": world.options.user,
            "email": f"{world.options.user}@example.gov",
        }
        commit = repo.commit(
            branch=branch,
            message=str(body["message"]),
            author=str(author.get("name")),
            email=str(author.get("email")),
            date=world.now,
            changes={path: content},
        )
        summary = {"repo": repo.full_name, "path": path, "branch": branch, "commit": commit.sha}
        world.ledger.record("github", "PUT", request.url.path, summary, world.now)
        api = f"{self._api(request)}/repos/{repo.full_name}"
        git_commit = self._commit(request, repo, commit)["commit"]
        git_commit.update(
            sha=commit.sha,
            node_id=f"C_{commit.sha[:20]}",
            html_url=f"{self._html(request)}/{repo.full_name}/commit/{commit.sha}",
            parents=[{"sha": p, "url": f"{api}/git/commits/{p}"} for p in commit.parents],
        )
        data = {"content": self._file(request, repo, path, content, branch), "commit": git_commit}
        return answer(data, 200 if existing is not None else 201)


def _content(body: dict[str, Any]) -> bytes:
    """The file a `PUT` body carries; 422 without a message or content, or with bad Base64."""
    if not body.get("message") or "content" not in body:
        missing = "message" if not body.get("message") else "content"
        raise GitHubError(422, f'Invalid request.\n\n"{missing}" wasn\'t supplied.')
    try:
        return base64.b64decode(str(body["content"]), validate=True)
    except binascii.Error as exc:
        raise GitHubError(422, "content is not valid Base64") from exc
