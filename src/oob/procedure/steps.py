"""The steps of a run: the only code that touches the world, each checkpointed by DBOS.

A step does I/O and nothing else; the decisions are the phases'. Steps never retry at the DBOS
level: the adapters retry transient failures once, by one policy with a deadline per call
(`oob.adapters.retry`), and what still fails reaches the workflow, which decides.

A step can run again after a crash *during* it, so every step that changes the world is
idempotent against the real service: chat posts carry a key derived from the run, the message,
the audience and the channel (the adapter finds an earlier post with that key); the release job
is triggered only after the intent is recorded, and a repeated trigger first looks for the
build the first attempt may have started; events are appended with keys.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from dbos import DBOS

from oob.errors import IntegrationError
from oob.events import MessagePosted, PostmortemWritten
from oob.messages import BUTTONS, buttons, decided
from oob.policy import RULES, Action, Taken, Topic
from oob.ports import Build, DeploymentState, PostedMessage
from oob.procedure.hold import Hold
from oob.procedure.runtime import Readiness, rt
from oob.states import RunState, Source
from oob.store import CancelPending

if TYPE_CHECKING:
    from oob.config import Config

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

ACTOR = "oob"
TRIGGER_ATTEMPTS = 3  # sends of the release trigger, each after looking for the build of the last


def _step(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return DBOS.step(name=name, retries_allowed=False)


@_step("oob.now")
def now() -> datetime:
    return rt().clock.now()


@_step("oob.load")
def load(run_id: str) -> dict[str, Any]:
    """The run's request and its plan."""
    store = rt().store
    run = store.run(run_id)
    return {
        "request": {
            "pipeline": run.pipeline,
            "requester": run.requester,
            "fix_sha": run.fix_sha,
            "symptoms": run.symptoms,
            "affects": run.affects,
            "cause": run.cause,
            "fix_summary": run.fix_summary,
            "release_wait_minutes": run.release_wait_minutes,
            "approval_timeout_minutes": run.facts.get("approval_timeout_minutes"),
        },
        "plan": store.plan(run_id),
    }


@_step("oob.record")
def record(run_id: str, key: str, event: Mapping[str, Any]) -> None:
    """Append `event` (kind, summary, details, actor, source) to the timeline once."""
    rt().store.append_event(run_id, key=key, **event)


@_step("oob.transition")
def transition(run_id: str, state: RunState) -> bool:
    """Move the run to `state`; False when a cancel accepted first keeps it where it is."""
    try:
        rt().store.transition(run_id, state)
    except CancelPending:
        return False
    return True


@_step("oob.decisions")
def decisions(run_id: str) -> dict[Topic, Taken]:
    """The decisions people (or the workflow) took on the run, by topic: who decided what,
    when, and the text they gave (one typed value each, `oob.policy.Taken`)."""
    return dict(rt().store.taken(run_id))


@_step("oob.decide")
def decide(run_id: str, action: str, text: str) -> bool:
    """The workflow's own decision (an approval or a verification that timed out), taken
    through the same policy and transaction as people's: False when a person decided first."""
    return rt().store.decide(run_id, Action(action), ACTOR, Source.WORKER, text).accepted


@_step("oob.post")
def post(  # noqa: PLR0917 - a step's arguments are its checkpointed input
    run_id: str, message: str, audience: str, channel: str, text: str, key: str
) -> None:
    """Post `text` to `channel` once (the key finds an earlier post) and record it."""
    r = rt()
    shown = buttons(message, run_id) if _interactive(r.plan(run_id)) else ()
    posted = r.chat.post(channel, text, key, shown)
    told = MessagePosted(audience, channel, message, posted.permalink, posted.ts)
    r.store.append_event(
        run_id,
        actor=ACTOR,
        source=Source.WORKER,
        kind=told.KIND,
        summary=f"told {audience} in {channel}: {message.replace('_', ' ')}",
        details=told.details(),
        key=f"{key}:{channel}",
    )


@_step("oob.settle")
def settle(run_id: str, message: str, otherwise: str) -> None:
    """Replace the buttons under `message` with the decision taken on its question (or, none
    taken, `otherwise`: why it is no longer open), so that nobody taps a stale button. Best
    effort: a message left with its buttons answers a late tap with why it is refused."""
    r = rt()
    if not _interactive(r.plan(run_id)) or message not in BUTTONS:
        return
    topic = RULES[Action(BUTTONS[message][0][0])].topic
    taken = r.store.taken(run_id).get(topic) if topic is not None else None
    footer = decided(taken.action.value, taken.actor, taken.at, taken.text) if taken else otherwise
    for event in r.store.events(run_id):
        posted = MessagePosted.of(event)
        if posted is None or posted.purpose != message or not posted.ts:
            continue
        try:
            r.chat.settle(PostedMessage(posted.channel, "", posted.ts), footer)
        except Exception as exc:  # a message left with its buttons must not stop the run
            log.warning("run %s: could not settle the buttons of %s: %s", run_id, message, exc)


def _interactive(plan: Config) -> bool:
    """Whether the run's messages carry buttons: its config names the Slack app's secret."""
    slack = plan.services.slack
    return slack is not None and slack.signing_secret_env is not None


@_step("oob.readiness")
def readiness(run_id: str, fix_sha: str) -> Readiness:
    r = rt()
    return r.readiness(r.plan(run_id), fix_sha)


@_step("oob.main_head")
def main_head(run_id: str) -> str:
    r = rt()
    return r.code_host.commit(r.plan(run_id).services.github.branch).sha


@_step("oob.new_commits")
def new_commits(baseline: str) -> list[dict[str, str]]:
    commits = rt().code_host.commits_after(baseline)
    return [
        {"sha": c.sha, "author": c.author, "message": c.message, "url": c.url}
        for c in reversed(commits)  # oldest first, the order they landed in
    ]


@_step("oob.hold")
def hold(run_id: str) -> list[dict[str, Any]]:
    """Set or extend the run's enforced merge hold (`oob.procedure.hold`): the pull requests
    held by this call."""
    r = rt()
    return _hold(run_id).hold() if r.plan(run_id).pipeline.merge_hold != "ask" else []


@_step("oob.lift_hold")
def lift_hold(run_id: str) -> list[str]:
    """Lift the run's enforced merge hold; what it changed."""
    return _hold(run_id).lift()


def _hold(run_id: str) -> Hold:
    r = rt()
    return Hold(r.store, r.code_host, r.plan(run_id), run_id)


@_step("oob.trigger")
def trigger(run_id: str, job: str, parameters: dict[str, str], intent_at: datetime) -> int:
    """Trigger the release job once; returns the queue id (or -number of a build found).

    The intent was recorded before this step. If the trigger was sent but its answer never came
    (an error after sending, or a crash: `trigger_sent` in the run's facts), its build may
    exist: look for a build of the job started after the intent, by us, with our parameters,
    for a while (the queue's quiet period) before triggering again.
    """
    r = rt()
    facts = r.store.run(run_id).facts
    if "queue_id" in facts:
        return int(facts["queue_id"])
    if facts.get("trigger_sent"):
        found = _settle(job, parameters, intent_at)
        if found is not None:
            return -found.number
    r.store.record_facts(run_id, trigger_sent=True)
    for attempt in range(1, TRIGGER_ATTEMPTS + 1):
        try:
            queued = r.build_server.trigger(job, parameters)
        except IntegrationError as error:
            # The trigger may have taken effect although its answer was lost: look first.
            found = _settle(job, parameters, intent_at)
            if found is not None:
                return -found.number
            if attempt == TRIGGER_ATTEMPTS or not error.transient:
                raise
            continue
        r.store.record_facts(run_id, queue_id=queued.queue_id)
        return queued.queue_id
    raise AssertionError("unreachable")


def _settle(job: str, parameters: dict[str, str], intent_at: datetime) -> Build | None:
    """Our build of `job`, if it appears within the queue's quiet period."""
    import time

    # Real seconds: how long Jenkins may take to show a build it queued.
    deadline = time.monotonic() + rt().tuning.trigger_settle_seconds
    while True:
        found = rt().build_server.find(job, parameters, intent_at)
        if found is not None or time.monotonic() >= deadline:
            return found
        _pause()


def _pause() -> None:
    # Inside a step only (never in the workflow body): wait before looking again.
    import time

    time.sleep(min(rt().tuning.poll_seconds, 1.0))


@_step("oob.queued")
def queued(job: str, queue_id: int) -> tuple[int | None, bool]:
    item = rt().build_server.queued(job, queue_id)
    return item.build_number, item.cancelled


@_step("oob.build")
def build(job: str, number: int) -> Build:
    return rt().build_server.build(job, number)


@_step("oob.scan_log")
def scan_log(job: str, number: int, start: int, pattern: str) -> tuple[str | None, int, bool]:
    """The first line of the log from byte `start` that `pattern` matches, where to look next,
    whether more may come. Only that is checkpointed, never the log's text."""
    found = rt().build_server.scan_log(job, number, pattern, start)
    return found.line, found.next_start, found.more


@_step("oob.stop")
def stop(job: str, number: int) -> None:
    rt().build_server.stop(job, number)


@_step("oob.downstream")
def downstream(job: str, after: datetime, upstream_job: str, upstream_number: int) -> Build | None:
    """The build of `job` the upstream build started: named in its causes, else the first
    build started after `after`."""
    builds = [b for b in rt().build_server.builds(job, limit=20) if b.started_at >= after]
    marker = re.compile(rf"{re.escape(upstream_job)}\D+{upstream_number}\b")
    for candidate in builds:
        if any(marker.search(cause) for cause in candidate.causes):
            return candidate
    return min(builds, key=lambda b: b.started_at) if builds else None


@_step("oob.deployment")
def deployment(run_id: str, state: str, link: str, description: str) -> int:
    """The run's deployment of the release branch (made once, at the first state asked for)
    with `state`, linking `link`; its id."""
    r = rt()
    plan = r.plan(run_id)
    environment = plan.pipeline.deployment_environment
    if environment is None or r.deployments is None:
        raise AssertionError("a deployment is recorded only where the plan names its environment")
    branch = plan.services.github.branch
    made = r.deployments.record(
        branch, environment, run_id, f"Out-of-band deploy, oob run {run_id}"
    )
    return r.deployments.set_state(made, DeploymentState(state), link, description).id


@_step("oob.compare")
def compare(fix_sha: str, released_sha: str) -> tuple[bool, str]:
    comparison = rt().code_host.compare(fix_sha, released_sha)
    return comparison.head_contains_base, comparison.html_url


@_step("oob.shield")
def shield_up() -> bool:
    return rt().probe.shield_up()


@_step("oob.probe")
def probe(name: str) -> tuple[bool, str]:
    result = rt().probe.run(name)
    return result.ok, result.detail


@_step("oob.postmortem")
def postmortem(run_id: str) -> None:
    r = rt()
    path, url = r.postmortem(r.plan(run_id), run_id)
    written = PostmortemWritten(path, url)
    r.store.append_event(
        run_id,
        actor=ACTOR,
        source=Source.WORKER,
        kind=written.KIND,
        summary=f"postmortem draft written to {path}" + (f", pull request {url}" if url else ""),
        details=written.details(),
        key=f"{run_id}#postmortem",
    )


@_step("oob.render")
def render(
    run_id: str, message: str, audiences: list[str], values: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """`message` for `audiences`, one post per channel: (channel, the audiences it tells joined
    by `+`, text). Audiences sharing a channel get one message naming them all."""
    found = rt().messages(run_id).deliveries(message, audiences, values)
    return [(d.channel, "+".join(d.audiences), d.text) for d in found]
