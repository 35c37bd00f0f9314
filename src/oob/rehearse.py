"""`oob rehearse`: the whole procedure end to end against the sandbox, in one process.

A rehearsal starts the sandbox on a free port, a fresh SQLite store in a temporary directory
and a worker thread, starts a run, and lets simulated people act on their own: the product
owner approves, the operator overrides a spuriously failing required test (as the runbook
allows), helpdesk confirms the fix once editors can log in. Their actions are recorded with the
source `simulated`. The result counts side effects from the sandbox's ledger (what the services
accepted), not from oob's own account of them.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oob.clock import EpochClock
from oob.side_effects import side_effects
from oob.simulated import OPERATOR, Crash, Killer, People
from oob.states import Source
from oob.store import RunRequest, RunState, Store

if TYPE_CHECKING:
    from oob.adapters.pool import Pool
    from oob.commands import Control
    from oob.config import Config
    from oob.sandbox.faults import FaultPlan
    from oob.sandbox.server import SandboxServer


@dataclass(frozen=True)
class Incident:
    """What the simulated operator says when asking for the deploy."""

    symptoms: str = "editors cannot log in to the CMS"
    cause: str = "a bad module update"
    fix_summary: str = "revert the module update"
    affects: str = "all CMS editors"


@dataclass(frozen=True)
class Rehearsal:
    """What a rehearsal did, as `oob rehearse --json` prints it (`to_json`)."""

    run_id: str
    scenario: str
    outcome: str | None
    steps: list[dict[str, Any]]
    sim_seconds: float
    wall_seconds: float
    critical_path_sim_seconds: float
    reaction_latency_ms: dict[str, Any]  # p50, p95, max (None without samples), samples
    side_effects: dict[str, Any]
    postmortem_path: str | None
    reason: str | None  # why the run ended, as its timeline says
    # Who Slack notified beyond the channels' readers (groups, members, @here), per message
    # posted, from the sandbox's ledger. Not part of `to_json`.
    notified: dict[str, int] = field(default_factory=dict)
    # What went wrong for the simulated people (they tried again). Not part of `to_json`.
    troubles: list[str] = field(default_factory=list)
    # With a `Crash`: the kind of the event after which the worker was killed (None: never).
    killed_after: str | None = None
    # The decisions taken on the run: (event kind, actor, source). Not part of `to_json`.
    decisions: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return self.outcome == RunState.RESOLVED.value

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "scenario": self.scenario,
            "outcome": self.outcome,
            "steps": self.steps,
            "sim_seconds": round(self.sim_seconds, 1),
            "wall_seconds": round(self.wall_seconds, 2),
            "critical_path_sim_seconds": round(self.critical_path_sim_seconds, 1),
            "reaction_latency_ms": self.reaction_latency_ms,
            "side_effects": self.side_effects,
            "postmortem_path": self.postmortem_path,
            "reason": self.reason,
        }


def rehearse(
    scenario: str,
    *,
    time_scale: float,
    drafts: Path,
    faults: FaultPlan | None = None,
    show: Callable[[Store, Config, str, float], None] | None = None,
    verbose: bool = False,
    incident: Incident | None = None,
    merge_hold: str = "ask",
    crash: Crash | None = None,
    preset: str = "va-cms",
) -> Rehearsal:
    """Play `scenario` end to end; `show(store, config, run_id, time_scale)` is the live view.

    `faults` makes the sandbox fail some requests (errors, drops, slow or lost answers).
    Postmortem drafts are written under `drafts`, in a folder of their own per rehearsal (they
    outlive the temporary store). The sandbox's own token is used for every service, whatever
    the environment's token variables hold. Without `verbose`, the workflow engine's log (a
    step retried after a fault, with its traceback) stays off the console. `merge_hold` is the
    pipeline's `merge_hold`: "status" also makes main's protection require `oob/merge-hold`,
    "lock" gives the token admin rights, as an operator sets them up. With `crash`, the run is
    executed by `oob worker` processes instead of a thread, and one is killed with SIGKILL.
    `preset` "gha" releases with the sandbox's GitHub Actions workflow instead of Jenkins.
    """
    from oob.sandbox.configfile import PRESETS
    from oob.sandbox.server import SandboxServer
    from oob.sandbox.world import Options

    # A folder per rehearsal: every rehearsal drafts the same postmortem, and none may
    # overwrite another's.
    drafts.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{scenario}-", dir=drafts))
    with (
        tempfile.TemporaryDirectory(prefix="oob-rehearse-") as home,
        SandboxServer(
            Options(
                scenario=scenario,
                time_scale=time_scale,
                paused=True,
                hold_required=merge_hold == "status",
                github_admin=merge_hold == "lock",
                actions_layout=PRESETS[preset],
            ),
            faults=faults,
        ) as sandbox,
    ):
        return _play(
            sandbox,
            home=Path(home),
            scenario=scenario,
            time_scale=time_scale,
            drafts=folder,
            show=show,
            log_level="WARNING" if verbose else "CRITICAL",
            incident=incident or Incident(),
            merge_hold=merge_hold,
            crash=crash,
            preset=preset,
        )


def _play(
    sandbox: SandboxServer,
    *,
    home: Path,
    scenario: str,
    time_scale: float,
    drafts: Path,
    show: Callable[[Store, Config, str, float], None] | None,
    log_level: str,
    incident: Incident,
    merge_hold: str = "ask",
    crash: Crash | None = None,
    preset: str = "va-cms",
) -> Rehearsal:
    from oob.adapters.pool import Pool
    from oob.adapters.retry import RetryPolicy

    config = _sandbox_config(sandbox, home, merge_hold, preset)
    url = f"sqlite:///{home / 'oob.sqlite'}"
    # One clock: the run records, computes and shows everything in the sandbox's simulated time.
    store = Store(url, clock=EpochClock(sandbox.world.clock.now))
    stop = threading.Event()
    # The services' waits (backoff, Retry-After) are in their clock: the sandbox's. What uses
    # the services' clients and the store (the worker, the people) stops before they close:
    # the stack unwinds last to first.
    with (
        Pool(config, policy=RetryPolicy(time_scale=time_scale)) as services,
        ExitStack() as stack,
    ):
        stack.callback(store.close)  # last, once the worker and the people have stopped
        killer = _start_worker(
            stack,
            store,
            services,
            url,
            stop,
            home=home,
            drafts=drafts,
            time_scale=time_scale,
            log_level=log_level,
            crash=crash,
        )
        return _run(sandbox, config, store, services, stack, stop, incident, scenario, show, killer)


def _run(  # noqa: PLR0917 - the rehearsal's parts
    sandbox: SandboxServer,
    config: Config,
    store: Store,
    services: Pool,
    stack: ExitStack,
    stop: threading.Event,
    incident: Incident,
    scenario: str,
    show: Callable[[Store, Config, str, float], None] | None,
    killer: Killer | None,
) -> Rehearsal:
    """Start the run, let the people act on it, wait until it has finished, and count."""
    from oob.commands import Control

    time_scale = sandbox.options.time_scale
    control = Control(store, store.url)
    # The Slack app's interactivity: people decide with the buttons of oob's messages.
    stack.enter_context(_callbacks(sandbox, config, store, control, time_scale))
    # A scenario may ask for a shorter release wait than the config's (`quick`).
    wait = sandbox.world.scenario.release_wait or config.pipeline.release_wait
    state = sandbox.state()
    wall_start = time.monotonic()
    run = control.start(config, _request(config, str(state["fix_sha"]), incident, wait))
    # The sandbox's clock stood at the scenario's start while oob started and a worker took the
    # run: the scenario's times count from the run's first step, at any time scale.
    _wait_taken(store, run.id)
    sandbox.world.clock.resume()
    if killer is not None:
        killer.watch(run.id, stop)
    people = People(
        store=store,
        config=config,
        code_host=services.code_host(config),
        sandbox=sandbox,
        run_id=run.id,
    )
    stack.callback(people.join)
    stack.callback(stop.set)
    people.start(stop, _people_look(time_scale))
    if show is not None:
        show(store, config, run.id, time_scale)
    _wait_finished(store, run.id)
    wall = time.monotonic() - wall_start
    end = sandbox.state()
    return _result(
        store,
        config,
        run.id,
        scenario,
        sim_seconds=float(end["sim_epoch"]) - float(state["sim_epoch"]),
        wall_seconds=wall,
        state=end,
        ledger=sandbox.ledger(),
        people=people,
        time_scale=time_scale,
        killed_after=killer.killed_at if killer is not None else None,
    )


def _start_worker(
    stack: ExitStack,
    store: Store,
    services: Pool,
    url: str,
    stop: threading.Event,
    *,
    home: Path,
    drafts: Path,
    time_scale: float,
    log_level: str,
    crash: Crash | None,
) -> Killer | None:
    """Start what executes the run, stopped with `stack`: a worker thread, or with `crash`,
    `oob worker` processes, one of which is killed (the `Killer`, returned)."""
    from oob.procedure import Tuning
    from oob.worker import WorkerOptions, make_runtime, serve

    if crash is not None:
        return stack.enter_context(Killer(crash, store, home, url, time_scale, drafts))
    started = threading.Event()
    runtime = make_runtime(store, services, drafts=drafts, tuning=Tuning.rehearsal(time_scale))
    polling = min(_people_look(time_scale), 0.05)  # how soon a waiting run reads a message
    options = WorkerOptions.rehearsal(polling, log_level)
    worker = threading.Thread(
        target=serve,
        args=(runtime, url, options, stop, lambda _line: started.set()),
        name="oob-rehearsal-worker",
        daemon=True,
    )
    worker.start()
    stack.callback(worker.join, 30)
    stack.callback(stop.set)
    started.wait(60)
    return None


@contextmanager
def _callbacks(
    sandbox: SandboxServer, config: Config, store: Store, control: Control, time_scale: float
) -> Iterator[None]:
    """Serve what the services call back: Slack's interactions with the run (the sandbox's
    signing secret signs them, in its simulated time) and Jenkins' notifications of builds
    (with a token of this rehearsal's); set the sandbox's Slack app and Jenkins to send them."""
    import secrets

    import httpx
    from fastapi import FastAPI

    from oob.adapters.retry import RetryPolicy
    from oob.web import hooks, slack
    from oob.web.server import serving

    interactions = slack.interactions_for(
        config,
        store,
        control,
        now=sandbox.world.clock.now,
        policy=RetryPolicy(time_scale=time_scale),
    )
    if interactions is None:
        raise RuntimeError("the sandbox config names no Slack signing secret")
    token = secrets.token_urlsafe(24)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(slack.routes(interactions))
    app.include_router(hooks.routes(hooks.JenkinsHooks(store, control.url, token)))
    with serving(app) as url:
        settings = {
            "/_sandbox/slack/app": {
                "interactivity_url": f"{url}/slack/interactions",
                "commands_url": f"{url}/slack/commands",
            },
            "/_sandbox/jenkins/notifications": {"url": f"{url}/hooks/jenkins?token={token}"},
        }
        for path, body in settings.items():
            httpx.post(f"{sandbox.url}{path}", json=body, timeout=30).raise_for_status()
        yield


def _sandbox_config(
    sandbox: SandboxServer, home: Path, merge_hold: str = "ask", preset: str = "va-cms"
) -> Config:
    """The config of the sandbox, sealed: an operator's shell exports the real services'
    tokens; they must never reach the sandbox (which would refuse them: the rehearsal would
    end cancelled)."""
    from oob.config import parse
    from oob.sandbox.configfile import render_config

    path = home / "oob.toml"
    token = sandbox.options.token
    text = render_config(
        sandbox.url,
        token,
        sealed=True,
        merge_hold=merge_hold,
        preset=preset,
        scenario=sandbox.options.scenario,  # the plan estimates the jobs as the sandbox runs them
    )
    path.write_text(text, "utf-8")
    return parse(path.read_text(encoding="utf-8"), path)


def _people_look(time_scale: float) -> float:
    """The real seconds between two looks of the simulated people: about five simulated
    seconds, as a person refreshing would."""
    return max(0.02, 5 / time_scale)


def _request(config: Config, fix_sha: str, incident: Incident, release_wait: float) -> RunRequest:
    return RunRequest(
        pipeline=config.pipeline.name,
        requester=OPERATOR,
        fix_sha=fix_sha,
        symptoms=incident.symptoms,
        cause=incident.cause,
        fix_summary=incident.fix_summary,
        affects=incident.affects,
        release_wait_minutes=release_wait,
    )


def _wait_taken(store: Store, run_id: str) -> None:
    """Until a worker has written the run's first step (or the run ended)."""
    while store.run(run_id).active and not any(
        e.source == Source.WORKER for e in store.events(run_id)
    ):
        time.sleep(0.01)


def _wait_finished(store: Store, run_id: str) -> None:
    from oob.procedure import finished

    while not (not store.run(run_id).active and finished(store.events(run_id))):
        time.sleep(0.05)


def _result(
    store: Store,
    config: Config,
    run_id: str,
    scenario: str,
    *,
    sim_seconds: float,
    wall_seconds: float,
    state: dict[str, Any],
    ledger: list[dict[str, Any]],
    people: People,
    time_scale: float,
    killed_after: str | None = None,
) -> Rehearsal:
    from oob.events import Ended, PostmortemWritten
    from oob.policy import DECISION_KINDS
    from oob.reaction import critical_path, latency

    events = store.events(run_id)
    postmortem = next((p for p in map(PostmortemWritten.of, reversed(events)) if p), None)
    run = store.run(run_id)
    return Rehearsal(
        run_id=run_id,
        scenario=scenario,
        outcome=run.outcome.value if run.outcome else None,
        steps=_steps(store, run_id),
        sim_seconds=sim_seconds,
        wall_seconds=wall_seconds,
        critical_path_sim_seconds=critical_path(state, events),
        reaction_latency_ms=latency(state, events, config.pipeline.gate.job or "", time_scale),
        side_effects={
            **side_effects(ledger),
            # Requests that cost GitHub rate limit (a 304 to a conditional request costs none).
            "github_requests_counted": int(state["github"]["requests_counted"]),
            "requests_per_minute": _requests_per_minute(state, sim_seconds),
            "jenkins_notifications": state["notifications"]["sent"],
        },
        postmortem_path=postmortem.path if postmortem else None,
        reason=next((e.reason for e in map(Ended.of, events) if e is not None), None),
        notified=dict(Counter(n for e in ledger for n in e["summary"].get("notified") or ())),
        troubles=list(people.troubles),
        killed_after=killed_after,
        decisions=[(e.kind, e.actor, e.source) for e in events if e.kind in DECISION_KINDS],
    )


def _steps(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The run's phases as the read model shows them."""
    from oob.readmodel import snapshot

    return [
        {
            "name": s.name,
            "started_at": s.started_at.isoformat() if s.started_at else None,
            "ended_at": s.ended_at.isoformat() if s.ended_at else None,
            "status": s.status,
        }
        for s in snapshot(store, run_id, store.clock.now()).steps
    ]


def _requests_per_minute(state: dict[str, Any], sim_seconds: float) -> dict[str, dict[str, float]]:
    """The requests each service received per minute of the run (in its simulated clock),
    those answered 304 apart."""
    minutes = max(sim_seconds / 60, 1 / 60)
    return {
        service: {
            "requests": round(n["received"] / minutes, 2),
            "not_modified": round(n["not_modified"] / minutes, 2),
        }
        for service, n in state["requests"].items()
    }
