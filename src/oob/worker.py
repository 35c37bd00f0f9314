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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from oob import __version__
from oob.procedure import Runtime, bind
from oob.store import Store, Worker


@dataclass(frozen=True)
class WorkerOptions:
    heartbeat_seconds: float = 2.0
    lease_seconds: float = 30.0
    polling_seconds: float = 0.2  # DBOS's message and queue polling
    exit_when_idle_seconds: float | None = None  # None: serve until stopped
    log_level: str = "WARNING"


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
    return store.clock.now() - worker.heartbeat_at > timedelta(seconds=lease_seconds)


def live_workers(store: Store, lease_seconds: float = WorkerOptions.lease_seconds) -> list[Worker]:
    """The workers executing runs now."""
    return [w for w in store.workers() if not is_dead(w, store, lease_seconds)]


def serve(
    runtime: Runtime,
    url: str,
    options: WorkerOptions,
    stop: threading.Event,
    say: Callable[[str], None] = lambda _line: None,
) -> None:
    """Execute runs until `stop` is set (or, with `exit_when_idle_seconds`, until idle)."""
    from dbos import DBOS

    from oob.control import launch_dbos, shutdown_dbos

    store = runtime.store
    me = executor_id()
    host = socket.gethostname()
    store.beat(me, host=host, pid=os.getpid(), version=__version__)
    bind(runtime)
    launch_dbos(url, me, polling_seconds=options.polling_seconds, log_level=options.log_level)
    say(f"worker {me} executing runs (oob {__version__})")
    idle_since = store.clock.now()
    idle_exit = False
    try:
        while not stop.is_set():
            store.beat(me, host=host, pid=os.getpid(), version=__version__)
            for worker in store.workers():
                if worker.executor_id != me and is_dead(worker, store, options.lease_seconds):
                    # DBOS's own recovery, aimed at the dead executor only: it re-enqueues the
                    # runs, and the atomic dequeue lets exactly one live worker take each.
                    handles = DBOS._recover_pending_workflows([worker.executor_id])
                    store.forget_worker(worker.executor_id)
                    if handles:
                        say(f"took over {len(handles)} run(s) of dead worker {worker.executor_id}")
            if options.exit_when_idle_seconds is not None:
                if any(run.active for run in store.runs(limit=20)):
                    idle_since = store.clock.now()
                elif store.clock.now() - idle_since > timedelta(
                    seconds=options.exit_when_idle_seconds
                ):
                    say("no active runs: worker exits")
                    idle_exit = True
                    break
            stop.wait(options.heartbeat_seconds)
    finally:
        shutdown_dbos()
        bind(None)
        # A worker stopped while runs are active stays listed, so that another one sees it
        # dead and takes its runs over; one that leaves idle has nothing to hand over.
        if idle_exit:
            store.forget_worker(me)
