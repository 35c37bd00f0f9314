"""Jenkins' Notification plugin in the sandbox: a build's start and end, pushed to a URL.

The plugin (`com.tikal.hudson.plugins.notification`) POSTs a job's state as JSON to each
endpoint a job names, at each phase of a build: `STARTED`, then `COMPLETED` (its result known)
and `FINALIZED` (its post-build steps done). The sandbox sends them for every job of its
pipeline, once a drill leader or a rehearsal names the endpoint (`POST
/_sandbox/jenkins/notifications {url}`), as the plugin's JSON format does:
`{name, display_name, url: "job/a/job/b/", build: {full_url, number, queue_id, phase, status,
url, timestamp, duration, scm, parameters, log, notes, artifacts}}`.

Nothing in the world happens until something looks at it (`oob.sandbox.simulation`): while an
endpoint is named, a thread looks at the world when its next action is due, so that a build
ends, and is told, at its time. A notification that fails is dropped, as the plugin drops one
after its retries: a receiver must not depend on it (oob still looks for itself).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import httpx

from oob.sandbox.jobs import job_url_path

if TYPE_CHECKING:
    from oob.sandbox.jobs import Build
    from oob.sandbox.world import World

PHASES_AT_END = ("COMPLETED", "FINALIZED")
# The longest the thread sleeps between two looks at the world: a clock moved by hand, or
# resumed, is noticed within it.
LONGEST_SLEEP = 0.5


class Notifications:
    """The notification endpoint of one world's Jenkins, and the thread that delivers to it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.url = ""
        self._outbox: list[dict[str, Any]] = []
        self._kick = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self.sent = 0  # notifications delivered (answered 2xx)

    def configure(self, url: str) -> None:
        """Send to `url` from now on ("" stops sending: the thread ends)."""
        with self._guard:
            self.url = url
            if url and self._thread is None:
                self._stopped.clear()
                self._thread = threading.Thread(
                    target=self._deliver, name="oob-sandbox-notifications", daemon=True
                )
                self._thread.start()
        self._kick.set()

    def forget(self) -> None:
        """As a world built again: no endpoint named, nothing sent."""
        self.configure("")
        self.sent = 0

    def stop(self) -> None:
        """Stop sending and wait for the thread (not under the world's lock)."""
        self._stopped.set()
        self._kick.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def started(self, build: Build) -> None:
        self._queue(build, "STARTED")

    def ended(self, build: Build) -> None:
        for phase in PHASES_AT_END:
            self._queue(build, phase)

    def _queue(self, build: Build, phase: str) -> None:
        """Called under the world's lock, as the build changes."""
        if self.url and build.during_scenario:
            self._outbox.append(self._state(build, phase))
            self._kick.set()

    def _state(self, build: Build, phase: str) -> dict[str, Any]:
        from oob.sandbox.jenkins_shapes import ms  # it imports the world, which imports this

        world = self.world
        path = build.job.path
        state: dict[str, Any] = {
            "full_url": world.build_url(build),
            "number": build.number,
            "queue_id": build.queue_id,
            "phase": phase,
            "timestamp": ms(build.start),
            "duration": 0 if build.end is None else ms(build.end) - ms(build.start),
            "url": f"{job_url_path(path)}{build.number}/",
            "scm": {"commit": build.sha},
            "parameters": dict(build.parameters),
            "log": "",
            "notes": "",
            "artifacts": {},
        }
        if phase in PHASES_AT_END:
            state["status"] = build.result
        name = path.rsplit("/", 1)[-1]
        return {"name": name, "display_name": name, "url": job_url_path(path), "build": state}

    def _deliver(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while True:
                with self.world.session() as world:  # runs what is due: builds start and end
                    items, self._outbox = self._outbox, []
                    url = self.url
                    delay = world.real_seconds_to_next()
                for item in items:
                    self._post(client, url, item)
                with self._guard:
                    if not self.url or self._stopped.is_set():
                        self._thread = None
                        return
                self._kick.wait(min(delay, LONGEST_SLEEP))
                self._kick.clear()

    def _post(self, client: httpx.Client, url: str, item: dict[str, Any]) -> None:
        try:
            answer = client.post(url, json=item)
        except httpx.HTTPError:
            return
        if answer.is_success:
            self.sent += 1
