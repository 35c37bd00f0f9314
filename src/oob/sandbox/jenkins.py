"""Jenkins on the wire: the REST API that python-jenkins and api4jenkins speak.

Mounted at `/jenkins/`. Folder jobs (`/job/deploys/job/cms-auto-deploy/`), builds through the
queue, build JSON with the actions oob reads, console logs that grow while a build runs, `stop`,
`tree=` filtering, and Jenkins's status codes (201 + absolute queue Location, 404, 401, 400).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from oob.sandbox.jenkins_shapes import (
    build_json,
    computers_json,
    find_build,
    folder_json,
    job_json,
    queue_item_json,
)
from oob.sandbox.jobs import Build, Job, job_url_path, strip_notes, user_cause
from oob.sandbox.wire import apply_tree, basic_auth, origin, parse_tree
from oob.sandbox.world import World

View = Callable[[Request, World], Response]
BuildView = Callable[[Request, World, Build], Response]
# What Java's Long.parseLong accepts.
LONG = re.compile(r"[+-]?[0-9]{1,18}")


class JenkinsApi:
    """The Jenkins endpoints over one world."""

    def __init__(self, world: World) -> None:
        self.world = world

    def routes(self) -> list[Route]:
        """One catch-all route: Jenkins URLs nest folders arbitrarily deep."""
        methods = ["GET", "HEAD", "POST"]
        return [
            Route("/", self.dispatch, methods=methods),
            Route("/{path:path}", self.dispatch, methods=methods),
        ]

    # -- plumbing -----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"X-Jenkins": self.world.pipeline.jenkins_version}

    def _json(self, request: Request, data: Any, status: int = 200) -> Response:
        tree = request.query_params.get("tree")
        if tree:
            try:
                data = apply_tree(parse_tree(tree), data)
            except ValueError as exc:
                return self._error(400, f"bad tree: {exc}")
        return JSONResponse(
            data, status, headers=self._headers(), media_type="application/json;charset=utf-8"
        )

    def _error(self, status: int, message: str) -> Response:
        headers = {**self._headers(), "X-Error": message}
        return PlainTextResponse(message, status, headers=headers)

    def _base(self, request: Request) -> str:
        return f"{origin(request)}/jenkins/"

    async def dispatch(self, request: Request) -> Response:
        """Authenticate, then route by the shape of the path: top level, job, or build."""
        opts = self.world.options
        creds = basic_auth(request)
        if creds is None:
            return self._error(403, "Authentication required")
        if creds != (opts.user, opts.token):
            return self._error(401, f"Invalid password/token for user: {creds[0]}")
        parts = tuple(p for p in request.path_params.get("path", "").split("/") if p)
        names: list[str] = []
        while len(parts) >= 2 and parts[0] == "job":
            names.append(parts[1])
            parts = parts[2:]
        with self.world.session() as world:
            if not names:
                return await self._top(request, world, parts)
            return await self._item(request, world, "/".join(names), parts)

    async def _top(self, request: Request, world: World, parts: tuple[str, ...]) -> Response:
        views: dict[tuple[str, ...], View] = {
            (): self._root_page,
            ("api", "json"): self._root_json,
            ("crumbIssuer", "api", "json"): self._crumb,
            ("me", "api", "json"): self._me,
            ("whoAmI", "api", "json"): self._me,
            ("user", world.options.user, "api", "json"): self._me,
            ("queue", "api", "json"): self._queue,
            ("queue", "cancelItem"): self._cancel,
            ("computer", "api", "json"): self._computers,
        }
        if (
            parts[:2] == ("queue", "item")
            and len(parts) >= 3
            and parts[3:] in ((), ("api", "json"))
        ):
            item = world.queue_item(int(parts[2])) if parts[2].isdigit() else None
            if item is None:
                return self._error(404, "Not Found")
            return self._json(request, queue_item_json(world, item, self._base(request)))
        view = views.get(parts)
        return view(request, world) if view else self._error(404, "Not Found")

    async def _item(
        self, request: Request, world: World, path: str, parts: tuple[str, ...]
    ) -> Response:
        job = world.job(path)
        if job is None:
            if any(p.startswith(f"{path}/") for p in world.jobs) and parts in ((), ("api", "json")):
                return self._json(request, folder_json(world, path, self._base(request)))
            return self._error(404, "Not Found")
        if parts in (("buildWithParameters",), ("build",)):
            return await self._trigger(request, world, job, parts[0])
        if parts in ((), ("api", "json")):
            return self._job_view(request, world, job, parts)
        build = find_build(job, parts[0])
        views: dict[tuple[str, ...], BuildView] = {
            (): self._build_page,
            ("api", "json"): self._build_json,
            ("consoleText",): self._console,
            ("logText", "progressiveText"): self._progressive,
            ("stop",): self._stop,
        }
        view = views.get(parts[1:])
        if build is None or view is None:
            return self._error(404, "Not Found")
        return view(request, world, build)

    # -- views --------------------------------------------------------------------------------

    def _page(self, title: str) -> Response:
        page = f"<html><head><title>{title} [Jenkins]</title></head></html>"
        return Response(page, media_type="text/html;charset=utf-8", headers=self._headers())

    def _root_page(self, request: Request, world: World) -> Response:
        return self._page("Dashboard")

    def _root_json(self, request: Request, world: World) -> Response:
        return self._json(request, folder_json(world, "", self._base(request)))

    def _crumb(self, request: Request, world: World) -> Response:
        crumb = hashlib.sha256(f"{world.options.token}crumb".encode()).hexdigest()
        return self._json(
            request,
            {
                "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                "crumb": crumb,
                "crumbRequestField": "Jenkins-Crumb",
            },
        )

    def _me(self, request: Request, world: World) -> Response:
        user = world.options.user
        return self._json(
            request,
            {
                "_class": "hudson.model.User",
                "absoluteUrl": f"{self._base(request)}user/{user}",
                "fullName": user,
                "id": user,
                "description": None,
                "property": [],
            },
        )

    def _queue(self, request: Request, world: World) -> Response:
        base = self._base(request)
        items = [queue_item_json(world, i, base) for i in world.queue.values() if i.in_queue]
        queue = {"_class": "hudson.model.Queue", "discoverableItems": [], "items": items}
        return self._json(request, queue)

    def _job_view(
        self, request: Request, world: World, job: Job, parts: tuple[str, ...]
    ) -> Response:
        if not parts:
            return self._page(job.spec.path)
        deep = "tree" in request.query_params
        return self._json(request, job_json(world, job, self._base(request), deep=deep))

    def _build_page(self, request: Request, world: World, build: Build) -> Response:
        return self._page(f"{build.job.path} #{build.number}")

    def _build_json(self, request: Request, world: World, build: Build) -> Response:
        return self._json(request, build_json(world, build, self._base(request)))

    def _console(self, request: Request, world: World, build: Build) -> Response:
        return PlainTextResponse(build.log(world.now), headers=self._headers())

    def _stop(self, request: Request, world: World, build: Build) -> Response:
        if request.method != "POST":
            return self._error(405, "Method Not Allowed")
        if build.building:
            world.stop(build, world.options.user)
            summary = {"job": build.job.path, "build": build.number}
            world.ledger.record("jenkins", "POST", request.url.path, summary, world.now)
        url = f"{self._base(request)}{job_url_path(build.job.path)}{build.number}/"
        return RedirectResponse(url, 302, headers=self._headers())

    # -- actions ------------------------------------------------------------------------------

    async def _trigger(self, request: Request, world: World, job: Job, entry: str) -> Response:
        if request.method != "POST":
            return self._error(405, "Method Not Allowed")
        spec = job.spec
        params = dict(request.query_params)
        raw = await request.body()
        if raw and "form" in request.headers.get("content-type", ""):
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        for reserved in ("token", "delay", "cause"):
            params.pop(reserved, None)
        if entry == "buildWithParameters" and not spec.parameters:
            return self._error(500, f"{spec.path} is not parameterized")
        if entry == "build" and spec.parameters:
            return self._error(400, "Nothing is submitted")
        if world.disabled(spec.path):
            # ParameterizedJobMixIn.doBuild: a job that is not buildable is a conflict.
            return self._error(409, f"{spec.path} is not buildable")
        folds = sum(i.folds for i in world.queue.values())
        item = world.trigger(spec.path, params, [user_cause(world.options.user)])
        # A request folded into a queued item queues nothing: the ledger says so, and counts of
        # builds triggered (entries with `parameters`) stay counts of builds.
        folded = sum(i.folds for i in world.queue.values()) > folds
        summary: dict[str, Any] = {"job": spec.path, "queue_id": item.id}
        summary.update({"folded": dict(item.parameters)} if folded else {})
        summary.update({} if folded else {"parameters": item.parameters})
        world.ledger.record("jenkins", "POST", request.url.path, summary, world.now)
        location = f"{self._base(request)}queue/item/{item.id}/"
        return Response(status_code=201, headers={**self._headers(), "Location": location})

    def _cancel(self, request: Request, world: World) -> Response:
        if request.method != "POST":
            return self._error(405, "Method Not Allowed")
        raw = request.query_params.get("id", "")
        if not raw.isdigit() or not world.cancel(int(raw)):
            return self._error(404, "Not Found")
        world.ledger.record("jenkins", "POST", request.url.path, {"queue_id": int(raw)}, world.now)
        return Response(status_code=204, headers=self._headers())

    def _progressive(self, request: Request, world: World, build: Build) -> Response:
        """`AnnotatedLargeText.doProgressiveText`: offsets are bytes of the log *file*, console
        notes included, while the body is plain text; a start past the end rolls over to 0
        (the log was rotated); a start that is not a number is a `NumberFormatException`."""
        raw = build.raw_log(world.now)
        value = request.query_params.get("start", "0")
        if not LONG.fullmatch(value):
            return self._oops(f'java.lang.NumberFormatException: For input string: "{value}"')
        start = max(0, int(value))
        if start > len(raw):
            start = 0
        headers = {**self._headers(), "X-Text-Size": str(len(raw))}
        if build.building:
            # Only while running: clients take the header's presence, whatever its value, as "more".
            headers["X-More-Data"] = "true"
        body = strip_notes(raw[start:])
        return Response(body, headers=headers, media_type="text/plain;charset=utf-8")

    def _oops(self, exception: str) -> Response:
        """Jenkins's 500 page for an uncaught exception."""
        page = (
            "<html><head><title>Jenkins [Jenkins]</title></head><body><h1>Oops!</h1>"
            f"<p>A problem occurred while processing the request.</p><pre>{exception}</pre>"
            "</body></html>"
        )
        return Response(page, 500, headers=self._headers(), media_type="text/html;charset=utf-8")

    def _computers(self, request: Request, world: World) -> Response:
        return self._json(request, computers_json(world, self._base(request)))
