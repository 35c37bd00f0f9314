"""DBOS, configured the oob way, and the one place that touches its internals.

- `launch`/`shutdown`: DBOS in a process that executes runs (a worker, or a rehearsal): one
  database URL shared with the run store, the application version pinned to oob's, one
  executor id per process, quiet logs, no Conductor; traces exported only where asked
  (`oob.telemetry`).
- `client`: DBOS as a client, for any process that starts runs or wakes them.
- `recover_executor`: DBOS's own recovery, aimed at one dead executor. DBOS offers it only as
  an internal (`DBOS._recover_pending_workflows`); `tests/test_durable.py` fails loudly when a
  new DBOS version changes it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from oob import __version__

if TYPE_CHECKING:
    from dbos import DBOSClient

    from oob.telemetry import Traces

log = logging.getLogger(__name__)

APP_NAME = "oob"
QUEUE = "oob-runs"
POOL_SIZE = 8  # DBOS's connections to the database, in each process that executes runs


def launch(
    url: str,
    executor_id: str,
    *,
    polling_seconds: float = 0.2,
    queue_polling_seconds: float | None = None,
    log_level: str = "WARNING",
    traces: Traces | None = None,
    max_runs: int | None = None,
) -> None:
    """Configure and launch DBOS in this process (which then executes runs), taking at most
    `max_runs` runs of the queue at once (None: no limit; DBOS keeps one limit for all the
    processes sharing the database, the last one launched sets it).

    The runtime must be bound before this call: DBOS recovers and dequeues runs as soon as it
    is launched.
    """
    from dbos import DBOS, DBOSConfig

    from oob.procedure import register

    register()
    config: DBOSConfig = {
        "name": APP_NAME,
        "system_database_url": url,
        # Pinned: DBOS otherwise hashes the code, and a new hash stops recovery of pending runs.
        "application_version": __version__,
        "executor_id": executor_id,
        "log_level": log_level,
        "console_log_level": log_level,
        # SQLite has no LISTEN/NOTIFY: DBOS polls for messages, by default every second.
        "notification_listener_polling_interval_sec": polling_seconds,
        "scheduler_polling_interval_sec": 60.0,
        # PostgreSQL: DBOS's notifier wakes this often to push coalesced notifications (10 ms by
        # default: a hundred wake-ups a second, most of an idle worker's CPU). A tenth of a
        # second keeps a woken run well within the second oob answers in.
        "notification_coalesce_sec": 0.1,
        # DBOS's connections to the database (20 by default): a worker's steps hold one only
        # for a transaction, and a fleet of workers must fit the server's max_connections.
        "sys_db_pool_size": POOL_SIZE,
    }
    if traces is not None:
        # DBOS's tracer: a span per workflow and step, batched to the endpoint (its resource's
        # service.name is the application's name, `oob`).
        config["enable_otlp"] = True
        config["otlp_traces_endpoints"] = [traces.endpoint]
        config["otlp_attributes"] = traces.attributes
        logging.getLogger("dbos").addFilter(exports_no_logs)
    DBOS(config=config)
    quiet_background_jobs()
    DBOS.launch()
    DBOS.register_queue(
        QUEUE,
        polling_interval_sec=queue_polling_seconds or polling_seconds,
        worker_concurrency=max_runs,
    )


def exports_no_logs(record: logging.LogRecord) -> bool:
    """Drop DBOS's warning that it exports no logs: oob exports traces only, on purpose."""
    return not record.getMessage().startswith("OTLP is enabled but logger provider not set")


# DBOS's background jobs (starting delayed workflows, cancelling timed-out ones) run every
# second in every process, most of an idle worker's CPU. oob delays no workflow and sets no
# timeout, so once every half minute is plenty (DBOS offers no setting: its module constant).
BACKGROUND_JOBS_SECONDS = 30.0


def quiet_background_jobs() -> None:
    """Run DBOS's background jobs every `BACKGROUND_JOBS_SECONDS` (read when they start)."""
    from dbos import _workflow_commands

    _workflow_commands._BACKGROUND_JOBS_INTERVAL_SEC = BACKGROUND_JOBS_SECONDS


def shutdown() -> None:
    """Stop DBOS in this process; runs it was executing continue in another worker."""
    from dbos import DBOS

    DBOS.destroy(destroy_registry=False)


def client(url: str) -> DBOSClient:
    """A DBOS client on the database at `url`, for processes that do not execute runs."""
    from dbos import DBOSClient

    return DBOSClient(system_database_url=url, application_name=APP_NAME)


def recover_executor(executor_id: str) -> list[Any]:
    """Hand the pending runs of dead executor `executor_id` back to the queue (DBOS's own
    recovery: the atomic dequeue then lets exactly one live worker take each)."""
    from dbos import DBOS

    return list(DBOS._recover_pending_workflows([executor_id]))


def workflow_status(url: str, workflow_id: str) -> str:
    """The DBOS status of a workflow (PENDING, ENQUEUED, SUCCESS, ...), or MISSING."""
    from dbos import error

    dbos = client(url)
    try:
        return str(dbos.retrieve_workflow(workflow_id).get_status().status)
    except error.DBOSNonExistentWorkflowError:
        return "MISSING"
    finally:
        dbos.destroy()


def cancel_workflow(url: str, workflow_id: str) -> None:
    dbos = client(url)
    try:
        dbos.cancel_workflow(workflow_id)
    finally:
        dbos.destroy()


def wake(url: str, run_id: str, key: str) -> None:
    """Wake run `run_id`'s workflow: it rereads the decisions taken (sent once per `key`)."""
    from oob.procedure.effects import COMMAND_TOPIC

    dbos = client(url)
    try:
        dbos.send(run_id, {"wake": key}, COMMAND_TOPIC, idempotency_key=key)
    finally:
        dbos.destroy()


def look(url: str, run_ids: list[str], key: str) -> list[str]:
    """Wake runs `run_ids` for a look at the world, not at the decisions: news came of a
    build they follow (sent once per run and `key`). The runs woken: one that cannot be (its
    workflow just ended) only misses a look it did not need."""
    from oob.procedure.effects import COMMAND_TOPIC, LOOK

    woken = []
    dbos = client(url)
    try:
        for run_id in run_ids:
            try:
                dbos.send(run_id, {LOOK: key}, COMMAND_TOPIC, idempotency_key=f"{run_id}:{key}")
            except Exception:  # a look missed is the paced look's to make
                log.debug("could not wake run %s for a look", run_id, exc_info=True)
                continue
            woken.append(run_id)
    finally:
        dbos.destroy()
    return woken


def enqueue(url: str, run_id: str) -> None:
    """Queue run `run_id` for a worker."""
    from dbos import EnqueueOptions

    from oob.procedure import WORKFLOW_NAME

    options: EnqueueOptions = {
        "queue_name": QUEUE,
        "workflow_name": WORKFLOW_NAME,
        "workflow_id": run_id,
        "app_version": __version__,
    }
    dbos = client(url)
    try:
        dbos.enqueue(options, run_id)
    finally:
        dbos.destroy()
