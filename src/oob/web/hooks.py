"""Jenkins' notifications wake the runs that follow the build they are about.

Jenkins' Notification plugin POSTs a job's state at each phase of a build (started, completed,
finalized) to the endpoints a job names: `POST /hooks/jenkins?token=T`, T being the value of the
variable `[web] jenkins_hook_token_env` names. oob believes nothing in it but the job's name:
at a build's start or completion, each active run whose plan has that job on that Jenkins is
woken, and looks at Jenkins itself at once, instead of at its next paced look. A lost, late or
forged notification costs at most a look; the paced looks go on either way, so nothing depends
on the plugin.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from oob.config_stages import StageKind

if TYPE_CHECKING:
    from oob.config import Config, Web
    from oob.store import Store

log = logging.getLogger(__name__)

BODY_LIMIT = 256 * 1024
JOB_URL = re.compile(r"^(job/[^/]+/)+$")
# The phases that wake a run: a build started, a build ended (its result is in Jenkins' API from
# COMPLETED on; FINALIZED, after the post-build steps, would only cost a second look).
PHASES = frozenset({"STARTED", "COMPLETED"})
TOKEN_MIN_CHARS = 16


class JenkinsHooks:
    """Who a notification wakes: active runs of the store at `store`, through DBOS at `url`."""

    def __init__(self, store: Store, url: str, token: str) -> None:
        self.store = store
        self.url = url
        self._token = token
        self._followed: dict[str, tuple[str, frozenset[str]]] = {}  # run: Jenkins, its jobs
        self._lock = threading.Lock()

    def accepts(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._token.encode())

    def wake(self, notification: dict[str, Any]) -> list[str]:
        """Wake the runs following the notification's job; the ids of those woken."""
        from oob import durable

        job, build = _job(notification), notification["build"]
        full_url = str(build.get("full_url") or "")
        active = [run.id for run in self.store.runs(limit=10_000, active=True)]
        with self._lock:  # the plans of runs that ended are forgotten
            self._followed = {r: f for r, f in self._followed.items() if r in active}
        following = [run_id for run_id in active if self._follows(run_id, job, full_url)]
        if not following:
            return []
        return durable.look(self.url, following, f"jenkins:{full_url}:{build['phase']}")

    def _follows(self, run_id: str, job: str, full_url: str) -> bool:
        with self._lock:
            followed = self._followed.get(run_id)
        if followed is None:
            followed = _followed(self._plan(run_id))
            with self._lock:
                self._followed[run_id] = followed
        jenkins, jobs = followed
        return job in jobs and full_url.startswith(jenkins)

    def _plan(self, run_id: str) -> Config:
        from oob.plan import thaw

        return thaw(self.store.plan(run_id))


def hooks_for(web: Web, store: Store, url: str) -> JenkinsHooks | None:
    """The hook `[web] jenkins_hook_token_env` asks for, None when it names no variable."""
    token = hook_token(web)
    return None if token is None else JenkinsHooks(store, url, token)


def hook_token(web: Web) -> str | None:
    """The token of `[web] jenkins_hook_token_env`, None when it names no variable; a named
    variable unset or short is a mistake, said at once (without its value)."""
    from oob.config import named_secret

    variable = web.jenkins_hook_token_env
    if variable is None:
        return None
    hint = (
        f"export {variable} with a random token, the one in the Notification plugin's URL, "
        "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
    )
    return named_secret(variable, "[web] jenkins_hook_token_env", TOKEN_MIN_CHARS, hint)


def _followed(plan: Config) -> tuple[str, frozenset[str]]:
    """The Jenkins a plan's builds run on (its URL, ending in /), and its Jenkins jobs."""
    jenkins = plan.services.jenkins
    jobs = frozenset(
        stage.job.lower()
        for stage in plan.pipeline.stages
        if stage.job and stage.kind is StageKind.JENKINS
    )
    return jenkins.url.rstrip("/") + "/", jobs


def _job(notification: dict[str, Any]) -> str:
    """`job/a/job/b/` → `a/b`."""
    return "/".join(notification["url"].strip("/").split("/")[1::2]).lower()


def parse(body: bytes) -> dict[str, Any] | None:
    """The notification in `body`, or None for anything that is not one."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("build"), dict):
        return None
    url, phase = data.get("url"), data["build"].get("phase")
    if not isinstance(url, str) or not JOB_URL.match(url) or not isinstance(phase, str):
        return None
    return data


def routes(hooks: JenkinsHooks) -> APIRouter:
    """`POST /hooks/jenkins?token=T`."""
    router = APIRouter(include_in_schema=False)

    @router.post("/hooks/jenkins")
    async def jenkins(request: Request) -> Response:
        if not hooks.accepts(request.query_params.get("token", "")):
            log.warning("refused a Jenkins notification from %s: wrong token", request.client)
            return PlainTextResponse("wrong or missing token", 401)
        body = await request.body()
        if len(body) > BODY_LIMIT:
            return PlainTextResponse("request too large", 413)
        notification = parse(body)
        if notification is None:
            return PlainTextResponse("not a Jenkins notification (JSON, with url and build)", 400)
        if notification["build"]["phase"] not in PHASES:
            return JSONResponse({"woken": []}, 202)
        woken = await run_in_threadpool(hooks.wake, notification)
        return JSONResponse({"woken": woken}, 202)

    return router
