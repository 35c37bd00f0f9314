"""Capacity: at most `max_releases` releases at once on one Jenkins controller, across every
pipeline and every worker sharing the database.

A run whose plan sets `[services.jenkins] max_releases` and whose release trigger is a Jenkins
job (`release_controller`; a release on GitHub Actions takes no slot of Jenkins, which only
tests its fix) takes a release slot when it is ready,
before it tells anyone a deploy is coming. The slot is a small DBOS workflow, `release_slot`,
enqueued on the controller's DBOS queue, whose global concurrency is the limit: DBOS starts at
most that many at once, in the order they were enqueued, whichever worker dequeues them. Once
started, the slot wakes its run, then holds the queue's place until the run frees it (its
release reached production, or the run ended), so the next run's slot starts. While it waits,
the run says how many runs are ahead of it on that controller, with the wait in its ETA.

Everything is durable: a crash while queued, while holding a slot or while freeing it replays
to the same slot (its workflow id is the run's), never a second one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dbos import DBOS, SetWorkflowID

from oob.config_stages import StageKind
from oob.procedure.effects import COMMAND_TOPIC

if TYPE_CHECKING:
    from oob.config import Config

SLOT_WORKFLOW = "oob.release_slot"
FREE_TOPIC = "slot.free"
HOLD_SECONDS = 3600.0  # a slot rereads its messages at least this often while it is held
RUNNING = ("PENDING", "SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED")


def release_controller(plan: Config) -> tuple[str, int] | None:
    """The controller that runs the plan's release and how many releases it runs at once,
    where the plan limits them; None otherwise (no limit, or a release not run on Jenkins)."""
    jenkins = plan.services.jenkins
    if plan.pipeline.trigger.kind is not StageKind.JENKINS or jenkins.max_releases is None:
        return None
    return jenkins.url, jenkins.max_releases


def queue_name(controller_url: str) -> str:
    """The DBOS queue of the releases of the controller at `controller_url`."""
    return "oob-releases:" + controller_url.strip().rstrip("/").lower()


def server_name(controller_url: str) -> str:
    """The controller as people name it: its host (and path, when it has one)."""
    parts = urlsplit(controller_url)
    return (parts.netloc + parts.path.rstrip("/")) or controller_url


def slot_id(run_id: str) -> str:
    return f"{run_id}:release-slot"


@DBOS.workflow(name=SLOT_WORKFLOW)
def release_slot(run_id: str) -> str:
    """A run's release slot: started by the queue when one is free; wakes the run, then holds
    the slot until the run frees it."""
    DBOS.send(run_id, "slot", topic=COMMAND_TOPIC)
    while DBOS.recv(FREE_TOPIC, timeout_seconds=HOLD_SECONDS) is None:
        pass
    return "freed"


@DBOS.step(name="oob.slot_queue", retries_allowed=False)
def _register(queue: str, limit: int, polling_seconds: float) -> None:
    DBOS.register_queue(
        queue,
        global_concurrency=limit,
        polling_interval_sec=polling_seconds,
        on_conflict="always_update",
    )


def take(run_id: str, controller_url: str, limit: int, polling_seconds: float) -> str:
    """Ask for a release slot on the controller (once: replays find the same); its id."""
    queue = queue_name(controller_url)
    _register(queue, limit, polling_seconds)
    handle = DBOS.retrieve_queue(queue)
    assert handle is not None
    with SetWorkflowID(slot_id(run_id)):
        handle.enqueue(release_slot, run_id)
    return slot_id(run_id)


@DBOS.step(name="oob.slot", retries_allowed=False)
def position(slot: str, controller_url: str) -> int | None:
    """None once the slot is held; else how many runs are queued before it."""
    status = DBOS.get_workflow_status(slot)
    if status is None or status.status in RUNNING:
        return None
    queued = DBOS.list_queued_workflows(
        queue_name=queue_name(controller_url),
        status="ENQUEUED",
        sort_desc=False,
        load_input=False,
        load_output=False,
    )
    ids = [w.workflow_id for w in queued]
    return ids.index(slot) if slot in ids else len(ids)


def free(slot: str) -> None:
    """Give the slot back: a queued one leaves the queue, a held one ends."""
    _leave_queue(slot)
    DBOS.send(slot, "free", topic=FREE_TOPIC)


@DBOS.step(name="oob.leave_queue", retries_allowed=False)
def _leave_queue(slot: str) -> None:
    status = DBOS.get_workflow_status(slot)
    if status is not None and status.status == "ENQUEUED":
        DBOS.cancel_workflow(slot)
