"""What a rehearsal simulates besides the services: the people who act when it is their turn
(`People`), and a worker crash (`Crash`, carried out by `Killer`: `oob worker` processes, one
killed with SIGKILL at a step)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from oob.procedure.runtime import Tuning
from oob.store import RunState, Source, Store

if TYPE_CHECKING:
    from oob.config import Config
    from oob.ports import CodeHost
    from oob.sandbox.server import SandboxServer

OPERATOR, PRODUCT_OWNER, HELPDESK = "operator", "po", "helpdesk"


@dataclass(frozen=True)
class Crash:
    """A worker crash, rehearsed: the `oob worker` executing the run is killed with SIGKILL
    once the run has recorded `after_events` events (a step has just ended), and another
    worker is started, which takes the run over once the dead one's lease has run out."""

    after_events: int
    lease_seconds: float = 1.0


class Killer:
    """The `oob worker` processes of a rehearsal with a `Crash`: one at first, killed with
    SIGKILL at the crash's step, then another. All are stopped when the rehearsal ends."""

    def __init__(  # noqa: PLR0917 - what a worker process needs
        self, crash: Crash, store: Store, home: Path, url: str, time_scale: float, drafts: Path
    ) -> None:
        self.crash = crash
        self.drafts = drafts
        self.store = store
        self.home = home
        self.url = url
        self.time_scale = time_scale
        self.processes: list[subprocess.Popen[bytes]] = []
        self.killed_at: str | None = None  # the event after which the worker was killed

    def __enter__(self) -> Killer:
        self._start()
        return self

    def __exit__(self, *_exc: object) -> None:
        stop_processes(self.processes)

    def watch(self, run_id: str, stop: threading.Event) -> None:
        """Kill the worker when the run reaches the crash's step, in a thread of its own."""
        threading.Thread(
            target=self._kill_at, args=(run_id, stop), name="oob-rehearsal-crash", daemon=True
        ).start()

    def _kill_at(self, run_id: str, stop: threading.Event) -> None:
        while not stop.is_set():
            events = self.store.events(run_id)
            if len(events) >= self.crash.after_events:
                self.processes[-1].send_signal(signal.SIGKILL)
                self.processes[-1].wait(10)
                self.killed_at = events[self.crash.after_events - 1].kind
                self._start()
                return
            if not self.store.run(run_id).active:
                return
            stop.wait(0.005)

    def _start(self) -> None:
        # Its state (the postmortem drafts under `postmortems/`) outlives the rehearsal's store.
        env = {**os.environ, "OOB_HOME": str(self.drafts), "OOB_DATABASE_URL": self.url}
        number = len(self.processes)
        with (self.home / f"worker-{number}.log").open("wb") as log:
            command = [sys.executable, "-m", "oob", "--config", str(self.home / "oob.toml")]
            poll = Tuning.rehearsal(self.time_scale).poll_seconds
            command += ["worker", "--time-scale", str(self.time_scale), "--poll-seconds", str(poll)]
            command += ["--lease-seconds", str(self.crash.lease_seconds)]
            process = subprocess.Popen(  # noqa: S603 - this interpreter, oob's own command
                command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            # Its second beat comes after DBOS is launched (its tables exist).
            if any(
                w.pid == process.pid and w.heartbeat_at > w.started_at for w in self.store.workers()
            ):
                return
            time.sleep(0.02)
        log_text = (self.home / f"worker-{number}.log").read_text("utf-8", "replace")
        raise RuntimeError(f"the rehearsal's worker did not start: {log_text[-2000:]}")


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Stop `oob worker` processes: SIGTERM to all, then SIGKILL to those still there after
    30 seconds."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class People:
    """The product owner, the operator and helpdesk, simulated: they act when it is their turn."""

    def __init__(
        self,
        *,
        store: Store,
        config: Config,
        code_host: CodeHost,
        sandbox: SandboxServer,
        run_id: str,
    ) -> None:
        self.store = store
        self.config = config
        self.code_host = code_host
        self.sandbox = sandbox
        self.run_id = run_id
        self.done: set[str] = set()
        self.troubles: list[str] = []  # what went wrong for them, tried again at the next look
        self.thread: threading.Thread | None = None

    def start(self, stop: threading.Event, poll: float) -> None:
        self.thread = threading.Thread(
            target=self.act, args=(stop, poll), name="oob-simulated-people", daemon=True
        )
        self.thread.start()

    def join(self) -> None:
        """Wait for them to stop (after the rehearsal's stop is set)."""
        if self.thread is not None:
            self.thread.join(30)

    def act(self, stop: threading.Event, poll: float) -> None:
        """Look at the run every `poll` seconds and act when it is their turn. What a person
        meets -- a service that fails, a command refused -- does not stop them: they try again
        at the next look, as a person would."""
        from oob.errors import OobError

        while not stop.is_set():
            try:
                if not self._look():
                    return
            except (OobError, OSError) as exc:
                self.troubles.append(f"{type(exc).__name__}: {exc}")
            stop.wait(poll)

    def _look(self) -> bool:
        """Act if it is their turn; False once the run has ended."""
        run = self.store.run(self.run_id)
        if not run.active:
            return False
        kinds = {e.kind for e in self.store.events(self.run_id)}
        if run.state is RunState.AWAITING_APPROVAL and "approval.requested" in kinds:
            self._once("approve", lambda: self.click(PRODUCT_OWNER, "approve"))
        elif run.state is RunState.PREFLIGHT and "preflight.waiting" in kinds:
            self._override_failures(run.fix_sha)
        elif (
            run.state is RunState.VERIFYING
            and "shield.down" in kinds
            and self.sandbox.state()["cms"]["login_status"] == 200
        ):
            self._once("confirm", lambda: self.click(HELPDESK, "confirm-fix"))
        return True

    def click(self, person: str, action: str) -> None:
        """`person` taps the button of `action` under the run's message in Slack: the sandbox
        sends Slack's signed interaction to oob, which decides it as it would on the day."""
        import httpx

        from oob.errors import IntegrationError

        try:
            answer = httpx.post(
                f"{self.sandbox.url}/_sandbox/slack/click",
                json={"user": person, "run": self.run_id, "action": f"oob:{action}"},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise IntegrationError(f"{person}'s click on {action} failed: {exc}") from None
        if answer.status_code != 200 or answer.json().get("status") != 200:
            raise IntegrationError(f"{person}'s click on {action} failed: {answer.text[:200]}")

    def _once(self, what: str, action: Callable[[], object]) -> None:
        if what not in self.done:
            action()
            self.done.add(what)

    def _override_failures(self, sha: str) -> None:
        """The runbook's last resort for a spuriously failing test: force its status."""
        from oob.override import override_status
        from oob.ports import StatusState

        combined = self.code_host.combined_status(sha)
        for status in combined.statuses:
            key = f"override:{status.context}"
            failing = status.state in (StatusState.FAILURE, StatusState.ERROR)
            if (
                failing
                and key not in self.done
                and status.context in (self.config.services.github.required_contexts)
            ):
                override_status(
                    self.config,
                    self.code_host,
                    self.store,
                    actor=OPERATOR,
                    sha=sha,
                    context=status.context,
                    reason="fails spuriously on staging (simulated operator)",
                    clock=self.store.clock,
                    source=Source.SIMULATED,
                )
                self.done.add(key)
