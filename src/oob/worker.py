"""The process that executes runs: `oob worker`, or the one a rehearsal starts in-process.

Exactly one process executes a given run at any time:

- Each worker has its own DBOS executor id (`executor_id()`), so DBOS at launch recovers only
  the runs this very process was executing, never those of another live worker.
- Each worker beats in the store's `oob_workers` table. A worker whose process is gone (same
  host: its pid no longer exists) or whose beat is older than the lease (any host) is dead;
  a live worker then hands its pending runs back to the queue (DBOS recovery) and forgets it.
  Two workers noticing the same death at once are harmless: recovery re-enqueues the run and
  DBOS's atomic dequeue admits one of them.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from oob import __version__, durable
from oob.clock import Clock, SystemClock
from oob.errors import ProcedureError
from oob.procedure import WORKFLOW_NAME, Readiness, Runtime, Tuning, bind
from oob.store import Store, Worker

if TYPE_CHECKING:
    from oob.config import Config
    from oob.ports import Connections
    from oob.telemetry import Traces


@dataclass(frozen=True)
class WorkerOptions:
    # What an idle worker does, and how often (docs/performance.md, "An idle worker"): it beats
    # in the store (a dead worker's runs are taken over after `lease_seconds` without a beat),
    # DBOS looks for queued runs, and on SQLite (no LISTEN/NOTIFY) DBOS looks for messages to
    # workflows that wait for one. Each is as rare as what it serves allows: a beat a third of
    # the lease, a new run started within two seconds, a person's decision seen within half one.
    heartbeat_seconds: float = 10.0  # at most a third of the lease, whatever is asked
    lease_seconds: float = 30.0
    polling_seconds: float = 0.5  # DBOS's message polling (SQLite), while a run waits
    # DBOS's queue polling, how soon a new run starts; None: four times the message polling.
    queue_polling_seconds: float | None = None
    exit_when_idle_seconds: float | None = None  # None: serve until stopped
    log_level: str = "WARNING"
    traces: Traces | None = None  # where DBOS exports the runs' traces (`oob.telemetry`)
    max_runs: int | None = None  # runs executed at once (`[workers] max_runs`); None: no limit

    @classmethod
    def rehearsal(cls, polling_seconds: float, log_level: str) -> WorkerOptions:
        """A rehearsal's worker: it beats often, and exports traces where the environment says
        (a rehearsal reads no config; an endpoint that is no URL raises ConfigError)."""
        from oob.telemetry import traces

        return cls(
            heartbeat_seconds=0.5,
            polling_seconds=polling_seconds,
            log_level=log_level,
            traces=traces(None),
        )


def make_runtime(
    store: Store,
    services: Connections,
    *,
    drafts: Path,
    tuning: Tuning | None = None,
    clock: Clock | None = None,
) -> Runtime:
    """The runtime of a worker: the services of each run's plan (`oob.adapters.pool.Pool`),
    pre-flight (`oob check`'s logic) as the readiness test, and the postmortem draft written
    under `drafts` (its built-in template compiled now); each run's settings come from its
    plan."""
    from oob.postmortem import write_draft
    from oob.postmortem.render import compile_built_in
    from oob.preflight import preflight

    clock = clock or store.clock
    compile_built_in()

    def readiness(config: Config, sha: str) -> Readiness:
        report = preflight(
            config,
            sha,
            build_server=services.build_server(config),
            code_host=services.code_host(config),
            clock=clock,
        )
        return Readiness(
            report.ready, report.reasons, report.stage, report.expected_finish, report.following
        )

    def postmortem(config: Config, run_id: str) -> tuple[str | None, str | None]:
        code_host = services.code_host(config)
        result = write_draft(store, config, run_id, code_host, directory=drafts)
        return str(result.path), result.pr_url

    return Runtime(
        services=services,
        store=store,
        clock=clock,
        readiness=readiness,
        postmortem=postmortem,
        tuning=tuning or Tuning(),
    )


def executor_id() -> str:
    """A DBOS executor id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def is_dead(worker: Worker, store: Store, lease_seconds: float) -> bool:
    """Whether `worker` is gone: its process has exited here, or its lease ran out."""
    if worker.host == socket.gethostname() and not pid_alive(worker.pid):
        return True
    # Liveness is real time, whatever the runs' clock (a sandbox's may run 600 times faster).
    return SystemClock().now() - worker.heartbeat_at > timedelta(seconds=lease_seconds)


def live_workers(store: Store, lease_seconds: float = WorkerOptions.lease_seconds) -> list[Worker]:
    """The workers executing runs now."""
    return [w for w in store.workers() if not is_dead(w, store, lease_seconds)]


def ensure_worker(
    store: Store,
    config_path: Path,
    log_path: Path,
    *,
    idle_seconds: float = 300,
    timeout_seconds: float = 60,
) -> Worker:
    """A live worker to execute runs: an existing one, else one started in the background.

    The background worker leaves by itself once no run has been active for `idle_seconds`, so
    a laptop is not left with a stray process. It is ready once it has beaten twice (its
    second beat comes after DBOS is launched).
    """

    def ready() -> Worker | None:
        return next((w for w in live_workers(store) if w.heartbeat_at > w.started_at), None)

    found = ready()
    if found is not None:
        return found
    pid = _spawn_worker(config_path, log_path, idle_seconds)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        found = ready()
        if found is not None:
            return found
        if not pid_alive(pid) or os.waitpid(pid, os.WNOHANG)[0] == pid:
            break
        time.sleep(0.1)
    raise ProcedureError(
        "the background worker did not start",
        hint=f"see {log_path}, or run `oob worker` in another terminal",
    )


def _spawn_worker(config_path: Path, log_path: Path, idle_seconds: float) -> int:
    """Start `oob worker --exit-when-idle` in the background, its output to `log_path`; its pid.

    A new session, so that it survives the terminal that started it; spawned rather than
    wrapped in Popen, since this process leaves it running on purpose."""
    import sys

    log_path.parent.mkdir(parents=True, exist_ok=True)
    oob = [sys.executable, "-m", "oob", "--config", str(config_path)]
    command = [*oob, "worker", "--exit-when-idle", f"{idle_seconds:g}"]
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return os.posix_spawn(
            sys.executable,
            command,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, log, 1),
                (os.POSIX_SPAWN_DUP2, log, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(log)


def pending_other_versions() -> list[str]:
    """Runs left pending by another oob version: DBOS resumes a run only in its own version."""
    from dbos import DBOS

    pending = DBOS.list_workflows(
        status=["PENDING", "ENQUEUED"], name=WORKFLOW_NAME, load_input=False, load_output=False
    )
    return [w.workflow_id for w in pending if w.app_version not in (None, __version__)]


def launch(url: str, executor: str, options: WorkerOptions) -> None:
    """Launch DBOS in this process as executor `executor`, polling, logging and exporting
    traces as `options` say."""
    durable.launch(
        url,
        executor,
        polling_seconds=options.polling_seconds,
        queue_polling_seconds=options.queue_polling_seconds or 4 * options.polling_seconds,
        log_level=options.log_level,
        traces=options.traces,
        max_runs=options.max_runs,
    )


def serve(
    runtime: Runtime,
    url: str,
    options: WorkerOptions,
    stop: threading.Event,
    say: Callable[[str], None] = lambda _line: None,
) -> None:
    """Execute runs until `stop` is set (or, with `exit_when_idle_seconds`, until idle)."""
    from dbos import DBOS

    store = runtime.store
    me = executor_id()
    host = socket.gethostname()
    store.beat(me, host=host, pid=os.getpid(), version=__version__)
    bind(runtime)
    launch(url, me, options)
    say(f"worker {me} executing runs (oob {__version__})")
    for other in pending_other_versions():
        say(f"run {other} is pending under another oob version; only that version resumes it")
    idle_since = time.monotonic()  # real time, like the idle limit
    idle_exit = False
    try:
        while not stop.is_set():
            store.beat(me, host=host, pid=os.getpid(), version=__version__)
            for worker in store.workers():
                if worker.executor_id != me and is_dead(worker, store, options.lease_seconds):
                    # DBOS's own recovery, aimed at the dead executor only: it re-enqueues the
                    # runs, and the atomic dequeue lets exactly one live worker take each.
                    handles = durable.recover_executor(worker.executor_id)
                    store.forget_worker(worker.executor_id)
                    if handles:
                        say(f"took over {len(handles)} run(s) of dead worker {worker.executor_id}")
            if options.exit_when_idle_seconds is not None:
                busy = DBOS.list_workflows(
                    status=["PENDING", "ENQUEUED"],
                    name=WORKFLOW_NAME,
                    load_input=False,
                    load_output=False,
                    limit=1,
                )
                if busy:
                    idle_since = time.monotonic()  # real time, like the idle limit
                elif time.monotonic() - idle_since > options.exit_when_idle_seconds:
                    say("no active runs: worker exits")
                    idle_exit = True
                    break
            stop.wait(min(options.heartbeat_seconds, options.lease_seconds / 3))
    finally:
        durable.shutdown()
        bind(None)
        # A worker stopped while runs are active stays listed, so that another one sees it
        # dead and takes its runs over; one that leaves idle has nothing to hand over.
        if idle_exit:
            store.forget_worker(me)
