"""The build server port on Jenkins' REST API, over httpx.

Why httpx and not api4jenkins (which is also built on httpx): api4jenkins 2.x cannot take a
transport (its constructor passes its own, so `MockTransport` and in-process tests are out), its
progressive log sleeps a hard-coded second per request, always starts at byte 0 and reads each
chunk whole, its objects make one request per attribute read, and its error hooks raise without
the response, losing `Retry-After`. The calls oob needs are a dozen documented endpoints (the
JSON API with `tree`, `buildWithParameters`, the queue item, `progressiveText`, `stop`), so this
module speaks them directly, with oob's retries and errors.
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from oob.adapters import tls
from oob.adapters.retry import RetryingClient, RetryPolicy, default_classifier
from oob.adapters.streams import blocks, counted, lines
from oob.clock import Clock, SystemClock
from oob.errors import JenkinsError
from oob.ports import Build, JobInfo, LogChunk, LogScan, QueuedBuild

# How much earlier than oob's clock says a build found for a lost trigger may have started.
_SKEW = timedelta(seconds=5)
_QUEUE_LOCATION = re.compile(r"/queue/item/(\d+)/?$")
_BUILD_FIELDS = (
    "number,url,building,result,timestamp,duration,estimatedDuration,queueId,"
    "actions[parameters[name,value],causes[shortDescription,userId],"
    "lastBuiltRevision[SHA1],remoteUrls]"
)


class JenkinsBuildServer:
    """`oob.ports.BuildServer` on one Jenkins controller."""

    def __init__(
        self,
        url: str,
        user: str,
        token: str,
        *,
        token_env: str,
        timeout_seconds: float,
        policy: RetryPolicy | None = None,
        repository: str | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        poll_seconds: float = 2.0,
    ) -> None:
        """`repository` ("owner/name") picks the right Git revision when a build checks out
        several repositories; `sleep` and `poll_seconds` pace `follow_log` while a build runs."""
        self.url = url.rstrip("/") + "/"
        self.user = user
        self._token_env = token_env
        self._policy = policy or RetryPolicy()
        self._repository = repository.lower() if repository else None
        self._sleep = sleep
        self._poll_seconds = poll_seconds
        self._crumb: dict[str, str] | None = None
        self._http = RetryingClient(
            httpx.Client(
                auth=(user, token),
                timeout=timeout_seconds,
                transport=transport,
                verify=tls.context(),
                headers={"Accept": "application/json"},
            ),
            policy=self._policy,
            classify=default_classifier(clock or SystemClock()),
            error=JenkinsError,
            setting="services.jenkins.url",
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def for_repository(self, repository: str | None) -> JenkinsBuildServer:
        """This controller, for the builds of `repository`: the same client (its connection
        pool and retry state); close only this one."""
        bound = copy.copy(self)
        bound._repository = repository.lower() if repository else None
        return bound

    def __repr__(self) -> str:
        return f"JenkinsBuildServer({self.url!r}, user={self.user!r})"

    # --- the port -------------------------------------------------------------------------

    def job(self, path: str) -> JobInfo:
        """The job at `path` ("folder/name"): its URL, whether it can be built, its parameters."""
        data = self._json("GET", self.job_url(path) + "api/json", what=f"job {path}")
        names: list[str] = []
        for holder in [*(data.get("property") or []), *(data.get("actions") or [])]:
            if isinstance(holder, dict):
                names += [
                    d["name"] for d in holder.get("parameterDefinitions") or [] if "name" in d
                ]
        return JobInfo(
            path=path,
            url=str(data.get("url") or self.job_url(path)),
            buildable=bool(data.get("buildable", False)),
            parameters=tuple(dict.fromkeys(names)),
        )

    def trigger(self, path: str, parameters: dict[str, str]) -> QueuedBuild:
        """Queue a build with `parameters`; sent again only if Jenkins surely did not queue it."""
        endpoint = "buildWithParameters" if parameters else "build"
        response = self._http.request(
            "POST",
            self.job_url(path) + endpoint,
            idempotent=False,
            params=parameters,
            headers=self._crumb_header(),
        )
        if response.status_code == 409:
            raise JenkinsError(
                f"Jenkins refused to build {path}: the job is disabled",
                hint=f"enable it at {self.job_url(path)}",
            )
        # Jenkins says so in the body (`ParameterizedJobMixIn`: "<job> is not parameterized");
        # any other 500 (a proxy, a passing fault) may have queued the build after all.
        if response.status_code == 500 and parameters and "not parameterized" in response.text:
            raise JenkinsError(
                f"Jenkins answered 500 to buildWithParameters on {path}",
                hint="the job may take no parameters, or not these: check "
                "pipeline.release_wait_parameter against the job's parameters (`oob doctor`)",
            )
        if response.status_code >= 500:
            # Not sent again (see `send`): the answer may be lost while the build was queued.
            raise JenkinsError(
                f"Jenkins answered {response.status_code} to the trigger of {path}; it may "
                "have queued a build all the same",
                hint="look for a new build of the job before triggering again (a resumed oob "
                "run does so by itself)",
                transient=True,
            )
        self._raise_for_status(response, what=f"job {path}")
        match = _QUEUE_LOCATION.search(response.headers.get("location", ""))
        if match is None:
            raise JenkinsError(
                f"Jenkins queued {path} but named no queue item (Location: "
                f"{response.headers.get('location')!r})",
                hint="look for the build in Jenkins before triggering again",
            )
        return QueuedBuild(job=path, queue_id=int(match.group(1)))

    def queued(self, path: str, queue_id: int) -> QueuedBuild:
        """The queue item; once it has left the queue, the build it became."""
        response = self._http.request("GET", f"{self.url}queue/item/{queue_id}/api/json")
        if response.status_code == 404:
            # Jenkins forgets items a few minutes after they leave the queue: find the build.
            for build in self.builds(path, limit=50):
                if build.queue_id == queue_id:
                    return QueuedBuild(job=path, queue_id=queue_id, build_number=build.number)
            raise JenkinsError(
                f"Jenkins has no queue item {queue_id} and no build of {path} from it",
                hint="it was cancelled or is older than the job's recent builds; look in Jenkins",
            )
        self._raise_for_status(response, what=f"queue item {queue_id}")
        data = self._json_of(response, f"queue item {queue_id}")
        executable = data.get("executable") or {}
        return QueuedBuild(
            job=path,
            queue_id=queue_id,
            build_number=executable.get("number"),
            cancelled=bool(data.get("cancelled", False)),
            why=data.get("why"),
        )

    def build(self, path: str, number: int) -> Build:
        """One build of `path`."""
        data = self._json(
            "GET",
            f"{self.job_url(path)}{number}/api/json",
            what=f"build #{number} of {path}",
        )
        return self._build_of(path, data)

    def builds(self, path: str, limit: int = 20) -> list[Build]:
        """Recent builds of `path`, newest first (Jenkins lists at most 100)."""
        data = self._json(
            "GET",
            self.job_url(path) + "api/json",
            what=f"job {path}",
            params={"tree": f"builds[{_BUILD_FIELDS}]"},
        )
        builds = [b for b in data.get("builds") or [] if isinstance(b, dict)]
        return [self._build_of(path, b) for b in builds[:limit]]

    def find(self, path: str, parameters: dict[str, str], since: datetime) -> Build | None:
        """A recent build of `path` with `parameters` that our user started at or after `since`
        (a few seconds of clock skew allowed)."""
        for build in self.builds(path, limit=20):
            if build.started_at < since - _SKEW:
                continue
            ours = all(build.parameters.get(k) == v for k, v in parameters.items())
            if ours and (not build.causes or self.user in build.causes):
                return build
        return None

    def log(self, path: str, number: int, start: int = 0) -> LogChunk:
        """The log from byte `start`: the text, where to start next, whether more may come."""
        what = f"log of build #{number} of {path}"
        response = self._http.request("GET", self._log_url(path, number), params={"start": start})
        self._raise_for_status(response, what=what)
        text = response.text
        return LogChunk(
            text=text,
            next_start=_text_size(response, start + len(response.content)),
            more="x-more-data" in response.headers,
        )

    def follow_log(self, path: str, number: int, start: int = 0) -> Iterator[str]:
        """The log line by line as Jenkins writes it, until the build ends.

        Each chunk is streamed, never held whole. If a chunk breaks off, it is asked for again
        from the same start and the lines already given are skipped (a log only grows, so the
        same start yields the same lines first); the byte offsets themselves come from Jenkins'
        `X-Text-Size`, which counts bytes the plain text leaves out.
        """
        what = f"log of build #{number} of {path}"
        offset = start
        while True:
            given = 0
            for attempt in range(1, self._policy.attempts + 1):
                response = self._http.request(
                    "GET",
                    self._log_url(path, number),
                    stream=True,
                    params={"start": offset},
                )
                try:
                    self._raise_for_status(response, what=what)
                    more = "x-more-data" in response.headers
                    received = [0]
                    for index, line in enumerate(lines(counted(response.iter_bytes(), received))):
                        if index >= given:
                            given += 1
                            yield line.decode("utf-8", errors="replace").rstrip("\r")
                    next_start = _text_size(response, offset + received[0])
                    break
                except httpx.TransportError as exc:
                    if attempt == self._policy.attempts:
                        raise self._http.unreachable(exc) from None
                finally:
                    response.close()
            if not more:
                return
            if next_start == offset:
                self._sleep(self._poll_seconds)
            offset = next_start

    def scan_log(self, path: str, number: int, pattern: str, start: int = 0) -> LogScan:
        """The first line from byte `start` that `pattern` matches, the log read once as it
        streams: memory stays bounded by the socket's reads and one line, however long the log.

        Jenkins sends the whole rest of the log in one answer, its end (`X-Text-Size`) in the
        headers, so a match stops reading at once; without a match the next look starts there.
        A chunk that breaks off is asked for again from the same start.
        """
        what = f"log of build #{number} of {path}"
        regex = re.compile(pattern, re.MULTILINE)
        for attempt in range(1, self._policy.attempts + 1):
            response = self._http.request(
                "GET", self._log_url(path, number), stream=True, params={"start": start}
            )
            try:
                self._raise_for_status(response, what=what)
                more = "x-more-data" in response.headers
                size = response.headers.get("x-text-size", "").strip()
                received = [0]
                for line in _matching_lines(counted(response.iter_bytes(), received), regex):
                    if line is not None:
                        end = int(size) if size.isdigit() else start
                        return LogScan(line=line, next_start=end, more=more)
                return LogScan(None, _text_size(response, start + received[0]), more)
            except httpx.TransportError as exc:
                if attempt == self._policy.attempts:
                    raise self._http.unreachable(exc) from None
            finally:
                response.close()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def stop(self, path: str, number: int) -> None:
        """Abort a running build (Jenkins ends it ABORTED)."""
        what = f"build #{number} of {path}"
        response = self._http.request(
            "POST",
            f"{self.job_url(path)}{number}/stop",
            headers=self._crumb_header(),
        )
        self._raise_for_status(response, what=what)

    # --- beyond the port: for `oob doctor` ------------------------------------------------

    def whoami(self) -> str:
        """The user Jenkins authenticates the token as (raises on bad credentials)."""
        data = self._json("GET", f"{self.url}me/api/json", what="the current user")
        return str(data.get("id") or data.get("fullName") or self.user)

    # --- helpers --------------------------------------------------------------------------

    def job_url(self, path: str) -> str:
        """`folder/name` → `<jenkins>/job/folder/job/name/`."""
        return self.url + "".join(f"job/{quote(part, safe='')}/" for part in path.split("/"))

    def _log_url(self, path: str, number: int) -> str:
        return f"{self.job_url(path)}{number}/logText/progressiveText"

    def _build_of(self, path: str, data: dict[str, Any]) -> Build:
        parameters: dict[str, str] = {}
        causes: list[str] = []
        revisions: list[tuple[str, list[str]]] = []
        for action in data.get("actions") or []:
            if not isinstance(action, dict):
                continue
            for parameter in action.get("parameters") or []:
                if "name" in parameter:
                    value = parameter.get("value")
                    parameters[parameter["name"]] = "" if value is None else str(value)
            for cause in action.get("causes") or []:
                causes.append(str(cause.get("userId") or cause.get("shortDescription") or ""))
            sha = (action.get("lastBuiltRevision") or {}).get("SHA1")
            if sha:
                revisions.append(
                    (str(sha), [str(u).lower() for u in action.get("remoteUrls") or []])
                )
        building = bool(data.get("building", False))
        estimated = data.get("estimatedDuration")
        return Build(
            job=path,
            number=int(data["number"]),
            url=str(data.get("url") or f"{self.job_url(path)}{data['number']}/"),
            building=building,
            result=data.get("result"),
            started_at=datetime.fromtimestamp(int(data.get("timestamp") or 0) / 1000, UTC),
            duration_seconds=0.0 if building else float(data.get("duration") or 0) / 1000,
            estimated_seconds=float(estimated) / 1000 if estimated and estimated > 0 else None,
            sha=self._pick_revision(revisions),
            parameters=parameters,
            causes=tuple(causes),
            queue_id=data.get("queueId"),
        )

    def _pick_revision(self, revisions: list[tuple[str, list[str]]]) -> str | None:
        # A pipeline that also checks out a shared library records one BuildData per
        # repository; the one whose remote names the configured repository is the code tested.
        if self._repository:
            for sha, urls in revisions:
                if any(self._repository in url.removesuffix(".git") for url in urls):
                    return sha
        return revisions[0][0] if revisions else None

    def _crumb_header(self) -> dict[str, str]:
        # Token-authenticated requests need no crumb since Jenkins 2.96, but a controller with
        # an older or stricter setup asks for one; fetch it once and send it on every POST.
        if self._crumb is None:
            response = self._http.request("GET", f"{self.url}crumbIssuer/api/json")
            if response.status_code == 200:
                data = self._json_of(response, "crumb")
                self._crumb = {str(data["crumbRequestField"]): str(data["crumb"])}
            elif response.status_code == 404:
                self._crumb = {}
            else:
                self._raise_for_status(response, what="crumb")
        return self._crumb or {}

    def _json_of(self, response: httpx.Response, what: str) -> dict[str, Any]:
        return self._http.json_object(
            response,
            what,
            hint="a proxy or login page may stand in front of Jenkins: check services.jenkins.url",
        )

    def _json(self, method: str, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self._http.request(method, url, **kwargs)
        self._raise_for_status(response, what=what)
        return self._json_of(response, what)

    def _raise_for_status(self, response: httpx.Response, *, what: str) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 401:
            raise JenkinsError(
                f"Jenkins answered 401 for user {self.user}",
                hint=f"check the token in {self._token_env} (a Jenkins API token of that user)",
            )
        if status == 403:
            raise JenkinsError(
                f"Jenkins answered 403 for user {self.user} on {what}",
                hint=f"give {self.user} the Job/Read and Job/Build permissions there",
            )
        if status == 404:
            raise JenkinsError(
                f"Jenkins has no {what} at {response.request.url.copy_with(query=None)}",
                hint="check the job paths in [pipeline] and [[pipeline.stages]] (`oob doctor`)",
            )
        if status == 429 or status >= 500:
            raise JenkinsError(
                f"Jenkins answered {status} on {what}, also after retries",
                hint="Jenkins is overloaded or failing; try again in a few minutes",
                transient=True,
            )
        raise JenkinsError(f"Jenkins answered {status} on {what}", hint=_reason(response))


def _reason(response: httpx.Response) -> str:
    return (response.headers.get("x-error") or response.reason_phrase or "").strip() or (
        "see the Jenkins log"
    )


def _text_size(response: httpx.Response, fallback: int) -> int:
    value = response.headers.get("x-text-size", "")
    return int(value) if value.strip().isdigit() else fallback


def _as_bytes(regex: re.Pattern[str]) -> re.Pattern[bytes] | None:
    """`regex` for ASCII bytes: on ASCII text, classes (`\\w`, `\\d`, `\\s`, `.`) and case
    folding match what they match in `str`. None when the pattern does not compile as bytes
    (it names a character beyond ASCII, e.g. with `\\u`)."""
    if not regex.pattern.isascii():
        return None
    try:
        return re.compile(regex.pattern.encode("ascii"), regex.flags & ~re.UNICODE)
    except re.error:
        return None


def _matching_lines(chunks: Iterator[bytes], regex: re.Pattern[str]) -> Iterator[str | None]:
    """For each block of the stream, the first line `regex` matches in it, or None.

    The block is searched whole (a literal prefix makes that a fast scan); a hit is confirmed on
    its own line, so the answer is the one a line-by-line search gives. An ASCII block (most of
    a console log) is searched as bytes, where the pattern means the same, and decoded only if
    it holds a hit."""
    ascii_regex = _as_bytes(regex)
    for block in blocks(chunks):
        if ascii_regex is not None and block.isascii() and ascii_regex.search(block) is None:
            yield None
            continue
        text = block.decode("utf-8", errors="replace")
        hit = regex.search(text)
        if hit is None:
            yield None
            continue
        if "\n" in hit.group(0):  # the pattern spans lines here: search line by line
            yield next((line for line in text.splitlines() if regex.search(line)), None)
            continue
        begin = text.rfind("\n", 0, hit.start()) + 1
        end = text.find("\n", hit.start())
        line = text[begin : end if end >= 0 else len(text)].rstrip("\r")
        if regex.search(line):
            yield line
        else:  # a look-around saw past the line: search line by line
            yield next((line for line in text.splitlines() if regex.search(line)), None)
