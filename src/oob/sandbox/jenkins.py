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

from oob.sandbox.jobs import Build, Job, QueueItem, job_url_path, strip_notes, user_cause
from oob.sandbox.wire import apply_tree, basic_auth, origin, parse_tree
from oob.sandbox.world import World

RUN_CLASS = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
JOB_CLASS = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
PERMALINKS: dict[str, Callable[[Build], bool]] = {
    "lastBuild": lambda b: True,
    "lastCompletedBuild": lambda b: not b.building,
    "lastSuccessfulBuild": lambda b: b.result == "SUCCESS",
    "lastStableBuild": lambda b: b.result == "SUCCESS",
    "lastFailedBuild": lambda b: b.result == "FAILURE",
    "lastUnstableBuild": lambda b: b.result == "UNSTABLE",
    "lastUnsuccessfulBuild": lambda b: b.result not in (None, "SUCCESS"),
}
View = Callable[[Request, World], Response]
BuildView = Callable[[Request, World, Build], Response]
# What Java's Long.parseLong accepts.
LONG = re.compile(r"[+-]?[0-9]{1,18}")
QUEUE_CLASSES = {
    "waiting": "hudson.model.Queue$WaitingItem",
    "blocked": "hudson.model.Queue$BlockedItem",
    "buildable": "hudson.model.Queue$BuildableItem",
    "left": "hudson.model.Queue$LeftItem",
}
COLORS = {"SUCCESS": "blue", "UNSTABLE": "yellow", "FAILURE": "red", "ABORTED": "aborted"}


def ms(epoch: float) -> int:
    """Epoch seconds as Jenkins's epoch milliseconds."""
    return round(epoch * 1000)


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
            return self._json(request, self._queue_item(world, item, self._base(request)))
        view = views.get(parts)
        return view(request, world) if view else self._error(404, "Not Found")

    async def _item(
        self, request: Request, world: World, path: str, parts: tuple[str, ...]
    ) -> Response:
        job = world.job(path)
        if job is None:
            if any(p.startswith(f"{path}/") for p in world.jobs) and parts in ((), ("api", "json")):
                return self._json(request, self._folder(world, path, self._base(request)))
            return self._error(404, "Not Found")
        if parts in (("buildWithParameters",), ("build",)):
            return await self._trigger(request, world, job, parts[0])
        if parts in ((), ("api", "json")):
            return self._job_view(request, world, job, parts)
        build = self._find_build(job, parts[0])
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
        return self._json(request, self._folder(world, "", self._base(request)))

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
        items = [self._queue_item(world, i, base) for i in world.queue.values() if i.in_queue]
        queue = {"_class": "hudson.model.Queue", "discoverableItems": [], "items": items}
        return self._json(request, queue)

    def _job_view(
        self, request: Request, world: World, job: Job, parts: tuple[str, ...]
    ) -> Response:
        if not parts:
            return self._page(job.spec.path)
        deep = "tree" in request.query_params
        return self._json(request, self._job(world, job, self._base(request), deep=deep))

    def _build_page(self, request: Request, world: World, build: Build) -> Response:
        return self._page(f"{build.job.path} #{build.number}")

    def _build_json(self, request: Request, world: World, build: Build) -> Response:
        return self._json(request, self._build(world, build, self._base(request)))

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

    # -- JSON shapes --------------------------------------------------------------------------

    @staticmethod
    def _find_build(job: Job, ref: str) -> Build | None:
        if ref.isdigit():
            return job.build(int(ref))
        test = PERMALINKS.get(ref)
        if test is None:
            return None
        return next((b for b in reversed(job.builds) if test(b)), None)

    def _build_ref(self, build: Build | None, base: str) -> dict[str, Any] | None:
        if build is None:
            return None
        url = f"{base}{job_url_path(build.job.path)}{build.number}/"
        return {
            "_class": RUN_CLASS,
            "number": build.number,
            "displayName": f"#{build.number}",
            "url": url,
        }

    def _build(self, world: World, build: Build, base: str) -> dict[str, Any]:
        spec = build.job
        job = world.jobs[spec.path]
        index = job.builds.index(build)
        remote = f"https://github.com/{world.repo.full_name}.git"
        branch = f"refs/remotes/origin/{world.pipeline.branch}"
        revision = {"SHA1": build.sha, "branch": [{"SHA1": build.sha, "name": branch}]}
        actions: list[dict[str, Any]] = []
        if spec.parameters:
            actions.append(
                {
                    "_class": "hudson.model.ParametersAction",
                    "parameters": [
                        {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
                        for k, v in build.parameters.items()
                    ],
                }
            )
        actions += [
            {"_class": "hudson.model.CauseAction", "causes": build.causes},
            {},
            {
                "_class": "hudson.plugins.git.util.BuildData",
                "buildsByBranchName": {
                    branch: {
                        "_class": "hudson.plugins.git.util.Build",
                        "buildNumber": build.number,
                        "buildResult": None,
                        "marked": revision,
                        "revision": revision,
                    }
                },
                "lastBuiltRevision": revision,
                "remoteUrls": [remote],
                "scmName": "",
            },
            {},
            {"_class": "org.jenkinsci.plugins.workflow.job.views.FlowGraphAction"},
            {},
        ]
        end = build.end if build.end is not None else build.start
        return {
            "_class": RUN_CLASS,
            "actions": actions,
            "artifacts": [],
            "building": build.building,
            "description": None,
            "displayName": f"#{build.number}",
            "duration": 0 if build.building else ms(end) - ms(build.start),
            "estimatedDuration": int(spec.estimate_minutes * 60_000),
            "executor": None,
            "fullDisplayName": f"{spec.path.replace('/', ' » ')} #{build.number}",
            "id": str(build.number),
            "keepLog": False,
            "number": build.number,
            "queueId": build.queue_id,
            "result": build.result,
            "timestamp": ms(build.start),
            "url": f"{base}{job_url_path(spec.path)}{build.number}/",
            "changeSets": [],
            "culprits": [],
            "inProgress": build.building,
            "nextBuild": self._build_ref(
                job.builds[index + 1] if index + 1 < len(job.builds) else None, base
            ),
            "previousBuild": self._build_ref(job.builds[index - 1] if index > 0 else None, base),
        }

    def _job_summary(self, world: World, job: Job, base: str) -> dict[str, Any]:
        last = job.builds[-1] if job.builds else None
        color = "notbuilt" if last is None else COLORS.get(last.result or "", "blue")
        if last is not None and last.building:
            previous = next((b for b in reversed(job.builds) if not b.building), None)
            color = f"{COLORS.get(previous.result or '', 'blue') if previous else 'notbuilt'}_anime"
        if world.disabled(job.spec.path):
            color = "disabled"
        return {
            "_class": JOB_CLASS,
            "name": job.spec.name,
            "url": f"{base}{job_url_path(job.spec.path)}",
            "color": color,
            "fullName": job.spec.path,
        }

    def _job(self, world: World, job: Job, base: str, *, deep: bool) -> dict[str, Any]:
        spec = job.spec

        def ref(build: Build | None) -> dict[str, Any] | None:
            if build is None:
                return None
            return self._build(world, build, base) if deep else self._build_ref(build, base)

        newest = list(reversed(job.builds))
        queued = next(
            (i for i in world.queue.values() if i.job.path == spec.path and i.in_queue), None
        )
        data = self._job_summary(world, job, base)
        data.update(
            {
                "actions": [
                    {},
                    {"_class": "hudson.model.ParametersDefinitionProperty"}
                    if spec.parameters
                    else {},
                ],
                "description": f"The {spec.path} stage of the va-cms pipeline.",
                "displayName": spec.name,
                "displayNameOrNull": None,
                "fullDisplayName": spec.path.replace("/", " » "),
                "buildable": not world.disabled(spec.path),
                "builds": [ref(b) for b in newest[:100]],
                "allBuilds": [ref(b) for b in newest] if deep else None,
                "firstBuild": ref(job.builds[0] if job.builds else None),
                "healthReport": [],
                "inQueue": queued is not None,
                "keepDependencies": False,
                "nextBuildNumber": job.next_number,
                "property": [self._parameters_property(spec.parameters)] if spec.parameters else [],
                "queueItem": self._queue_item(world, queued, base) if queued else None,
                "concurrentBuild": True,
                "resumeBlocked": False,
            }
        )
        if not deep:
            del data["allBuilds"]
        for name, test in PERMALINKS.items():
            data[name] = ref(next((b for b in newest if test(b)), None))
        return data

    @staticmethod
    def _parameters_property(parameters: tuple[Any, ...]) -> dict[str, Any]:
        return {
            "_class": "hudson.model.ParametersDefinitionProperty",
            "parameterDefinitions": [
                {
                    "_class": "hudson.model.StringParameterDefinition",
                    "defaultParameterValue": {
                        "_class": "hudson.model.StringParameterValue",
                        "name": p.name,
                        "value": p.default,
                    },
                    "description": p.description,
                    "name": p.name,
                    "type": "StringParameterDefinition",
                }
                for p in parameters
            ],
        }

    def _folder(self, world: World, path: str, base: str) -> dict[str, Any]:
        """The root (path "") or a folder, with its children; folders nest their own jobs."""
        prefix = f"{path}/" if path else ""
        children: dict[str, dict[str, Any]] = {}
        for job_path, job in world.jobs.items():
            if not job_path.startswith(prefix):
                continue
            child = job_path[len(prefix) :].split("/")[0]
            child_path = prefix + child
            if child_path == job_path:
                children[child] = self._job_summary(world, job, base)
            elif child not in children:
                children[child] = self._folder(world, child_path, base)
        jobs = list(children.values())
        if not path:
            return {
                "_class": "hudson.model.Hudson",
                "jobs": jobs,
                "mode": "NORMAL",
                "nodeDescription": "the Jenkins controller's built-in node",
                "nodeName": "",
                "numExecutors": 0,
                "description": "oob sandbox",
                "url": base,
                "useCrumbs": True,
                "useSecurity": True,
                "views": [{"_class": "hudson.model.AllView", "name": "all", "url": base}],
            }
        url = f"{base}{job_url_path(path)}"
        view = {"_class": "hudson.model.AllView", "name": "All", "url": url}
        credentials = {"_class": "com.cloudbees.plugins.credentials.ViewCredentialsAction"}
        return {
            "_class": FOLDER_CLASS,
            "actions": [{}, {}, credentials],
            "name": path.rsplit("/", 1)[-1],
            "fullName": path,
            "displayName": path.rsplit("/", 1)[-1],
            "displayNameOrNull": None,
            "primaryView": view,
            "views": [view],
            "fullDisplayName": path.replace("/", " » "),
            "description": None,
            "url": url,
            "jobs": jobs,
        }

    def _queue_item(self, world: World, item: QueueItem, base: str) -> dict[str, Any]:
        spec = item.job
        state = item.state if item.in_queue else "left"
        data: dict[str, Any] = {
            "_class": QUEUE_CLASSES[state],
            "actions": [
                {
                    "_class": "hudson.model.ParametersAction",
                    "parameters": [
                        {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
                        for k, v in item.parameters.items()
                    ],
                },
                {"_class": "hudson.model.CauseAction", "causes": item.causes},
            ],
            "blocked": state == "blocked",
            "buildable": state == "buildable",
            "id": item.id,
            "inQueueSince": ms(item.in_queue_since),
            "params": "".join(f"\n{k}={v}" for k, v in item.parameters.items()),
            "stuck": False,
            "task": {
                "_class": JOB_CLASS,
                "name": spec.name,
                "url": f"{base}{job_url_path(spec.path)}",
                "color": self._job_summary(world, world.jobs[spec.path], base)["color"],
            },
            "url": f"queue/item/{item.id}/",
        }
        if state == "waiting":
            remaining = max(0.0, item.leaves_at - world.now)
            data["why"] = f"In the quiet period. Expires in {remaining:.1f} sec"
            data["timestamp"] = ms(item.leaves_at)
        elif state == "blocked":
            running = world.running(spec.path)
            number = running.number if running else "?"
            data["why"] = (
                f"Build #{number} is already in progress (ETA: {spec.estimate_minutes:g} min)"
            )
            data["buildableStartMilliseconds"] = ms(item.leaves_at)
        elif state == "buildable":
            data["why"] = "Waiting for next available executor"
            data["buildableStartMilliseconds"] = ms(item.buildable_since or world.now)
            data["pending"] = False
        else:
            data["why"] = None
            data["cancelled"] = item.cancelled
            data["executable"] = self._build_ref(item.build, base)
        return data

    def _computers(self, request: Request, world: World) -> Response:
        base = self._base(request)
        running = [b for job in world.jobs.values() for b in job.builds if b.building]
        computers = {
            "_class": "hudson.model.ComputerSet",
            "busyExecutors": len(running),
            "displayName": "Nodes",
            "totalExecutors": len(running),
            "computer": [
                {
                    "_class": "hudson.model.Hudson$MasterComputer",
                    "displayName": "Built-In Node",
                    "executors": [],
                    "idle": not running,
                    "offline": False,
                    "oneOffExecutors": [
                        {
                            "_class": "hudson.model.OneOffExecutor",
                            "currentExecutable": self._build_ref(b, base),
                        }
                        for b in running
                    ],
                }
            ],
        }
        return self._json(request, computers)
