"""GitHub's REST API on the wire, as PyGithub and plain httpx clients use it.

Mounted at `/github/`, which is the API base URL (as with GitHub Enterprise). Shapes follow
GitHub's official REST description for the fields clients read; errors are
`{message, documentation_url, status}` with GitHub's status codes, and every response carries the
rate-limit headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oob.sandbox.github_rate import GitHubRate
from oob.sandbox.github_shapes import PROTECTION_FLAGS, Shapes, when
from oob.sandbox.repo import HEX, PullRequest, Repo, blob_sha
from oob.sandbox.wire import bearer, body_params
from oob.sandbox.world import World

DOCS = "https://docs.github.com/rest"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
PROTECTED_DOCS = "https://docs.github.com/articles/about-protected-branches"
STATES = ("error", "failure", "pending", "success")
VARY = "Accept, Authorization, Cookie, X-GitHub-OTP, Accept-Encoding"
MAX_DESCRIPTION = 140

Handler = Callable[[Request, World, Repo], Awaitable[Response]]


class GitHubError(Exception):
    """An error answer: HTTP status, message, and `errors[]` for validation failures."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        *,
        documentation_url: str = DOCS,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.documentation_url = documentation_url


class GitHubApi(Shapes):
    """The GitHub endpoints over one world's repositories."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        """The endpoints oob and its users' scripts call."""
        table: list[tuple[str, str, Handler]] = [
            ("GET", "", self.get_repo),
            ("GET", "/commits", self.list_commits),
            ("GET", "/commits/{ref:path}/status", self.combined_status),
            ("GET", "/commits/{ref:path}/statuses", self.list_statuses),
            ("GET", "/commits/{ref:path}", self.get_commit),
            ("POST", "/statuses/{sha}", self.create_status),
            ("GET", "/statuses/{ref}", self.list_statuses),
            ("GET", "/compare/{basehead:path}", self.compare),
            ("GET", "/branches/{branch:path}/protection", self.get_protection),
            ("PUT", "/branches/{branch:path}/protection", self.put_protection),
            ("GET", "/branches/{branch:path}", self.get_branch),
            ("GET", "/git/ref/{ref:path}", self.get_ref),
            ("GET", "/git/refs/{ref:path}", self.get_ref),
            ("POST", "/git/refs", self.create_ref),
            ("GET", "/contents/{path:path}", self.get_contents),
            ("PUT", "/contents/{path:path}", self.put_contents),
            ("GET", "/pulls", self.list_pulls),
            ("POST", "/pulls", self.create_pull),
            ("GET", "/pulls/{number:int}", self.get_pull),
            ("PUT", "/pulls/{number:int}/merge", self.merge_pull),
        ]
        # GitHub's `Link` headers name repositories by id (`/repositories/3544490/compare/...`).
        routes = [
            Route(prefix + path, self._repo_endpoint(h), methods=[m])
            for prefix in ("/repos/{owner}/{repo}", "/repositories/{repo_id:int}")
            for m, path, h in table
        ]
        routes += [
            Route("/user", self._endpoint(self.get_user), methods=["GET"]),
            # "Accessing this endpoint does not count against your REST API rate limit."
            Route("/rate_limit", self._endpoint(self.rate_limit, costs=False), methods=["GET"]),
        ]
        return routes

    # -- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _rate_headers(rate: GitHubRate) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(rate.limit),
            "X-RateLimit-Remaining": str(rate.remaining),
            "X-RateLimit-Used": str(rate.used),
            "X-RateLimit-Reset": str(rate.reset),
            "X-RateLimit-Resource": "core",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
        }

    def _answer(
        self, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return JSONResponse(
            data, status, headers=headers, media_type="application/json; charset=utf-8"
        )

    def _fail(self, error: GitHubError) -> Response:
        data: dict[str, Any] = {
            "message": error.message,
            "documentation_url": error.documentation_url,
            "status": str(error.status),
        }
        if error.errors is not None:
            data["errors"] = error.errors
        return self._answer(data, error.status)

    def _check_auth(self, request: Request) -> None:
        token = bearer(request, "token", "bearer")
        if token is None:
            raise GitHubError(401, "Requires authentication")
        if token != self.world.options.token:
            raise GitHubError(401, "Bad credentials")

    def _endpoint(
        self, handler: Callable[[Request, World], Awaitable[Response]], *, costs: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                self._check_auth(request)
            except GitHubError as error:
                return self._fail(error)
            with self.world.session() as world:
                rate = world.github_rate
                rate.window(time.time())
                if costs and rate.remaining == 0:
                    response = self._fail(self._exhausted(world))
                else:
                    try:
                        response = await handler(request, world)
                    except GitHubError as error:
                        response = self._fail(error)
                    response = self._conditional(request, response)
                    if response.status_code == 304:
                        rate.not_modified += 1
                    elif costs:
                        rate.used += 1
                        rate.counted += 1
                response.headers.update(self._rate_headers(rate))
                return response

        return endpoint

    def _exhausted(self, world: World) -> GitHubError:
        # GitHub answers the primary limit with 403 or 429 (both are seen); the seed picks one.
        status = 429 if world.options.seed % 2 else 403
        return GitHubError(
            status,
            f"API rate limit exceeded for user ID {self._user_id(world.options.user)}. If you "
            "reach out to GitHub Support for help, please include the request ID "
            f"{hashlib.sha1(str(time.time()).encode(), usedforsecurity=False).hexdigest()[:16]}.",
            documentation_url=RATE_DOCS,
        )

    @staticmethod
    def _conditional(request: Request, response: Response) -> Response:
        """ETags on successful GETs; a matching `If-None-Match` gets 304 without a body."""
        if request.method != "GET" or response.status_code != 200:
            return response
        etag = f'W/"{hashlib.sha256(response.body).hexdigest()}"'
        cache = {"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60", "Vary": VARY}
        asked = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
        if asked & {etag, etag.removeprefix("W/"), "*"}:
            return Response(status_code=304, headers=cache)
        response.headers.update(cache)
        return response

    def _repo_endpoint(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def with_repo(request: Request, world: World) -> Response:
            params = request.path_params
            repos = (world.repo, world.postmortems)
            if "repo_id" in params:
                repo = next((r for r in repos if r.id == params["repo_id"]), None)
            else:
                full = f"{params['owner']}/{params['repo']}".lower()
                repo = next((r for r in repos if r.full_name.lower() == full), None)
            if repo is None:
                raise GitHubError(404, "Not Found")
            return await handler(request, world, repo)

        return self._endpoint(with_repo)

    async def get_user(self, request: Request, world: World) -> Response:
        """GET /user: whoever the token belongs to."""
        private = {
            "name": "oob sandbox",
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": when(world.t0 - 3 * 365 * 86400),
            "updated_at": when(world.t0),
            "private_gists": 0,
            "total_private_repos": 2,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
        }
        return self._answer({**self._user(request, world.options.user), **private})

    async def rate_limit(self, request: Request, world: World) -> Response:
        """GET /rate_limit (free: it costs no request)."""
        rate = world.github_rate
        core = {
            "limit": rate.limit,
            "remaining": rate.remaining,
            "used": rate.used,
            "reset": rate.reset,
            "resource": "core",
        }
        # Only the core limit is modelled; the others are shown unused, as GitHub lists them.
        others = {
            name: {"limit": limit, "remaining": limit, "used": 0, "reset": rate.reset}
            for name, limit in (("search", 30), ("graphql", 5000), ("code_search", 10))
        }
        return self._answer({"resources": {"core": core, **others}, "rate": core})

    async def get_repo(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}."""
        return self._answer(self._repo(request, repo))

    def _sha(self, repo: Repo, ref: str) -> str:
        sha = repo.resolve(unquote(ref))
        if sha is None:
            raise GitHubError(422, f"No commit found for SHA: {unquote(ref)}")
        return sha

    async def get_commit(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits/{ref}: a SHA (short ones too), a branch or a tag."""
        sha = self._sha(repo, request.path_params["ref"])
        return self._answer(self._commit(request, repo, repo.commits[sha], full=True))

    async def list_commits(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits?sha=&per_page=&page=: newest first, paginated by Link."""
        ref = request.query_params.get("sha", repo.default_branch)
        sha = repo.resolve(ref)
        if sha is None:
            raise GitHubError(404, "Not Found")
        page, per_page = _paging(request)
        shas = repo.ancestors(sha)
        chunk = shas[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(shas) // per_page))
        return self._answer(
            [self._commit(request, repo, repo.commits[s]) for s in chunk],
            headers=_links(request.url, page, last),
        )

    async def combined_status(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits/{ref}/status: the combined status, as GitHub computes it."""
        sha = repo.resolve(unquote(request.path_params["ref"]))
        if sha is None:
            raise GitHubError(404, "Not Found")
        latest = repo.latest_statuses(sha)
        api = f"{self._api(request)}/repos/{repo.full_name}"
        return self._answer(
            {
                "state": repo.combined_state(sha),
                "statuses": [self._status(request, repo, s, creator=False) for s in latest],
                "sha": sha,
                "total_count": len(latest),
                "repository": self._repo(request, repo),
                "commit_url": f"{api}/commits/{sha}",
                "url": f"{api}/commits/{sha}/status",
            }
        )

    async def list_statuses(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/commits/{ref}/statuses: every status, newest first."""
        sha = repo.resolve(unquote(request.path_params["ref"]))
        if sha is None:
            raise GitHubError(404, "Not Found")
        statuses = list(reversed(repo.statuses.get(sha, [])))
        return self._answer([self._status(request, repo, s) for s in statuses])

    async def create_status(self, request: Request, world: World, repo: Repo) -> Response:
        """POST /repos/{o}/{r}/statuses/{sha} → 201 with the status."""
        raw = request.path_params["sha"]
        sha = repo.resolve(raw) if HEX.match(raw) else None
        if sha is None:
            raise GitHubError(422, f"No commit found for SHA: {raw}")
        body = await body_params(request)
        state = body.get("state")
        if state not in STATES:
            raise GitHubError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Status",
                        "field": "state",
                        "code": "custom",
                        "message": f"state is not included in the list ({state!r})",
                    }
                ],
            )
        context = str(body.get("context") or "default")
        description = body.get("description")
        if isinstance(description, str) and len(description) > MAX_DESCRIPTION:
            raise GitHubError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "Status",
                        "code": "custom",
                        "field": "description",
                        "message": "description is too long (maximum is 140 characters)",
                    }
                ],
            )
        status = repo.add_status(
            sha,
            state=state,
            context=context,
            description=str(body.get("description") or ""),
            target_url=body.get("target_url"),
            creator=world.options.user,
            at=world.now,
        )
        world.ledger.record(
            "github",
            "POST",
            request.url.path,
            {"repo": repo.full_name, "sha": sha, "state": state, "context": context},
            world.now,
        )
        return self._answer(self._status(request, repo, status), 201)

    async def compare(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/compare/{base}...{head}: commits oldest first; without `page` or
        `per_page` at most 250 of them, else one page of them with a `Link` header (pages after
        the first carry no `files`), as GitHub pages a comparison."""
        base_ref, sep, head_ref = unquote(request.path_params["basehead"]).partition("...")
        base, head = repo.resolve(base_ref), repo.resolve(head_ref)
        if not sep or base is None or head is None:
            raise GitHubError(404, "Not Found")
        comparison = repo.compare(base, head)
        if comparison.merge_base is None:
            raise GitHubError(404, f"No common ancestor between {base_ref} and {head_ref}.")
        commits, page, links = comparison.commits[:250], 1, {}
        if {"page", "per_page"} & set(request.query_params):
            page, per_page = _paging(request)
            commits = comparison.commits[(page - 1) * per_page : page * per_page]
            last = max(1, -(-len(comparison.commits) // per_page))
            path = f"/github/repositories/{repo.id}/compare/{base_ref}...{head_ref}"
            links = _links(request.url.replace(path=path), page, last)
        api = f"{self._api(request)}/repos/{repo.full_name}"
        html = f"{self._html(request)}/{repo.full_name}/compare/{base_ref}...{head_ref}"
        data: dict[str, Any] = {
            "url": f"{api}/compare/{base_ref}...{head_ref}",
            "html_url": html,
            "permalink_url": f"{self._html(request)}/{repo.full_name}/compare/{base}...{head}",
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "base_commit": self._commit(request, repo, repo.commits[base]),
            "merge_base_commit": self._commit(request, repo, repo.commits[comparison.merge_base]),
            "status": comparison.status,
            "ahead_by": comparison.ahead_by,
            "behind_by": comparison.behind_by,
            "total_commits": comparison.ahead_by,
            "commits": [self._commit(request, repo, repo.commits[s]) for s in commits],
        }
        if page == 1:
            data["files"] = []
        return self._answer(data, headers=links)

    async def get_branch(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/branches/{branch}."""
        name = unquote(request.path_params["branch"])
        if name not in repo.branches:
            raise GitHubError(404, "Branch not found")
        commit = repo.commits[repo.branches[name]]
        url = f"{self._api(request)}/repos/{repo.full_name}/branches/{name}"
        rules = repo.protection.get(name)
        checks = (rules or {}).get("required_status_checks") or {}
        contexts = list(checks.get("contexts") or [])
        level = (
            "off"
            if not contexts
            else "everyone"
            if rules and rules["enforce_admins"]
            else ("non_admins")
        )
        protection = {
            "enabled": rules is not None,
            "required_status_checks": {
                "enforcement_level": level,
                "contexts": contexts,
                "checks": [{"context": c, "app_id": None} for c in contexts],
            },
        }
        return self._answer(
            {
                "name": name,
                "commit": self._commit(request, repo, commit),
                "_links": {
                    "self": url,
                    "html": f"{self._html(request)}/{repo.full_name}/tree/{name}",
                },
                "protected": rules is not None,
                "protection": protection,
                "protection_url": f"{url}/protection",
            }
        )

    def _admin(self, world: World) -> None:
        # GitHub hides a branch's protection from those who may not administer the repository.
        if not world.options.github_admin:
            raise GitHubError(404, "Not Found")

    async def get_protection(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/branches/{branch}/protection (administrators only)."""
        name = unquote(request.path_params["branch"])
        self._admin(world)
        if name not in repo.branches:
            raise GitHubError(404, "Branch not found")
        if name not in repo.protection:
            raise GitHubError(404, "Branch not protected")
        return self._answer(self._protection(request, repo, name))

    async def put_protection(self, request: Request, world: World, repo: Repo) -> Response:
        """PUT /repos/{o}/{r}/branches/{branch}/protection: replaces every setting; the four
        nullable ones must be given, the flags default to false."""
        name = unquote(request.path_params["branch"])
        self._admin(world)
        if name not in repo.branches:
            raise GitHubError(404, "Branch not found")
        body = await body_params(request)
        for required in (
            "required_status_checks",
            "enforce_admins",
            "required_pull_request_reviews",
            "restrictions",
        ):
            if required not in body:
                raise GitHubError(422, f'Invalid request.\n\n"{required}" wasn\'t supplied.')
        checks = body["required_status_checks"]
        repo.protection[name] = {
            "required_status_checks": None
            if checks is None
            else {
                "strict": bool(checks.get("strict")),
                "contexts": [str(c) for c in checks.get("contexts") or []]
                + [str(c["context"]) for c in checks.get("checks") or []],
            },
            "enforce_admins": bool(body["enforce_admins"]),
            "required_pull_request_reviews": body["required_pull_request_reviews"],
            "restrictions": body["restrictions"],
            **{flag: bool(body.get(flag) or False) for flag in PROTECTION_FLAGS},
        }
        world.ledger.record(
            "github",
            "PUT",
            request.url.path,
            {"branch": name, "lock_branch": repo.protection[name]["lock_branch"]},
            world.now,
        )
        return self._answer(self._protection(request, repo, name))

    async def merge_pull(self, request: Request, world: World, repo: Repo) -> Response:
        """PUT /repos/{o}/{r}/pulls/{number}/merge: merged, or refused by the protection."""
        number = request.path_params["number"]
        pull = next((p for p in repo.pulls if p.number == number), None)
        if pull is None or repo is not world.repo:
            raise GitHubError(404, "Not Found")
        status, message, sha = world.merge_pull(
            pull, world.options.user, admin=world.options.github_admin
        )
        world.ledger.record(
            "github",
            "PUT",
            request.url.path,
            {"pull": number, "by": world.options.user, "status": status, "message": message},
            world.now,
        )
        if status != 200:
            raise GitHubError(status, message, documentation_url=PROTECTED_DOCS)
        return self._answer({"sha": sha, "merged": True, "message": message})

    async def get_ref(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/git/ref/{heads/x|tags/y}."""
        ref = unquote(request.path_params["ref"]).removeprefix("refs/")
        kind, _, name = ref.partition("/")
        names = {"heads": repo.branches, "tags": repo.tags}.get(kind, {})
        if name not in names:
            raise GitHubError(404, "Not Found")
        return self._answer(self._ref(request, repo, f"refs/{ref}", names[name]))

    async def create_ref(self, request: Request, world: World, repo: Repo) -> Response:
        """POST /repos/{o}/{r}/git/refs {ref: "refs/heads/x", sha} → 201; 422 if it exists."""
        body = await body_params(request)
        ref, sha = str(body.get("ref", "")), str(body.get("sha", ""))
        kind, _, name = ref.removeprefix("refs/").partition("/")
        if not ref.startswith("refs/") or kind not in ("heads", "tags") or not name:
            raise GitHubError(422, "Reference name is invalid")
        names = repo.branches if kind == "heads" else repo.tags
        if name in names:
            raise GitHubError(422, "Reference already exists")
        if sha not in repo.commits:
            raise GitHubError(422, "Object does not exist")
        names[name] = sha
        world.ledger.record(
            "github",
            "POST",
            request.url.path,
            {"repo": repo.full_name, "ref": ref, "sha": sha},
            world.now,
        )
        return self._answer(self._ref(request, repo, ref, sha), 201)

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
            encoded = base64.encodebytes(content).decode()
            return self._answer({**data, "content": encoded})
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
        return self._answer(list(entries.values()))

    async def put_contents(self, request: Request, world: World, repo: Repo) -> Response:
        """PUT /repos/{o}/{r}/contents/{path}: 201 created, 200 updated (needs the blob sha)."""
        path = unquote(request.path_params["path"]).strip("/")
        body = await body_params(request)
        branch = str(body.get("branch") or repo.default_branch)
        message = body.get("message")
        if not message or "content" not in body:
            missing = "message" if not message else "content"
            raise GitHubError(422, f'Invalid request.\n\n"{missing}" wasn\'t supplied.')
        try:
            content = base64.b64decode(str(body["content"]), validate=True)
        except binascii.Error as exc:
            raise GitHubError(422, "content is not valid Base64") from exc
        if branch not in repo.branches:
            raise GitHubError(404, f"Branch {branch} not found")
        tree = repo.commits[repo.branches[branch]].tree
        existing = tree.get(path)
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
            message=str(message),
            author=str(author.get("name")),
            email=str(author.get("email")),
            date=world.now,
            changes={path: content},
        )
        world.ledger.record(
            "github",
            "PUT",
            request.url.path,
            {"repo": repo.full_name, "path": path, "branch": branch, "commit": commit.sha},
            world.now,
        )
        api = f"{self._api(request)}/repos/{repo.full_name}"
        git_commit = self._commit(request, repo, commit)["commit"]
        git_commit.update(
            sha=commit.sha,
            node_id=f"C_{commit.sha[:20]}",
            html_url=f"{self._html(request)}/{repo.full_name}/commit/{commit.sha}",
            parents=[{"sha": p, "url": f"{api}/git/commits/{p}"} for p in commit.parents],
        )
        data = {"content": self._file(request, repo, path, content, branch), "commit": git_commit}
        return self._answer(data, 200 if existing is not None else 201)

    async def list_pulls(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/pulls?state=&head=owner:branch&base=."""
        state = request.query_params.get("state", "open")
        head = request.query_params.get("head")
        base = request.query_params.get("base")
        # GitHub filters by head only in the form `owner:branch`; a bare branch name is
        # ignored (every pull request matches), so a client that forgets the owner finds others.
        owner, sep, branch = (head or "").partition(":")
        pulls = [
            p
            for p in reversed(repo.pulls)
            if state in ("all", p.state)
            and (not sep or (owner.lower() == repo.owner.lower() and branch == p.head))
            and (base is None or p.base == base)
        ]
        return self._answer([self._pull(request, repo, p) for p in pulls])

    async def get_pull(self, request: Request, world: World, repo: Repo) -> Response:
        """GET /repos/{o}/{r}/pulls/{number}."""
        number = request.path_params["number"]
        pull = next((p for p in repo.pulls if p.number == number), None)
        if pull is None:
            raise GitHubError(404, "Not Found")
        return self._answer(self._pull(request, repo, pull))

    async def create_pull(self, request: Request, world: World, repo: Repo) -> Response:
        """POST /repos/{o}/{r}/pulls {title, head, base, body} → 201; 422 if one is open."""
        body = await body_params(request)
        head = str(body.get("head", "")).removeprefix(f"{repo.owner}:")
        base = str(body.get("base", ""))
        for field, value in (("head", head), ("base", base)):
            if value not in repo.branches:
                raise GitHubError(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "field": field, "code": "invalid"}],
                )
        if not body.get("title"):
            raise GitHubError(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "field": "title", "code": "missing_field"}],
            )
        if repo.open_pull(head, base) is not None:
            raise GitHubError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {repo.owner}:{head}.",
                    }
                ],
            )
        if repo.compare(repo.branches[base], repo.branches[head]).ahead_by == 0:
            raise GitHubError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": (f"No commits between {base} and {head}"),
                    }
                ],
            )
        pull = PullRequest(
            number=len(repo.pulls) + 1,
            title=str(body["title"]),
            body=str(body.get("body") or ""),
            head=head,
            base=base,
            user=world.options.user,
            created_at=world.now,
        )
        repo.pulls.append(pull)
        world.ledger.record(
            "github",
            "POST",
            request.url.path,
            {"repo": repo.full_name, "number": pull.number, "head": head, "title": pull.title},
            world.now,
        )
        return self._answer(self._pull(request, repo, pull), 201)


def _paging(request: Request) -> tuple[int, int]:
    """`page` and `per_page` (30 unless asked, at most 100)."""
    try:
        per_page = min(100, max(1, int(request.query_params.get("per_page", "30"))))
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError as exc:
        raise GitHubError(400, "Invalid pagination parameters") from exc
    return page, per_page


def _links(url: URL, page: int, last: int) -> dict[str, str]:
    """GitHub's `Link` header: next and last after this page, prev and first before it."""
    rels = []
    if page < last:
        rels += [("next", page + 1), ("last", last)]
    if page > 1:
        rels += [("prev", page - 1), ("first", 1)]
    if not rels:
        return {}
    return {"Link": ", ".join(f'<{url.include_query_params(page=n)}>; rel="{r}"' for r, n in rels)}
