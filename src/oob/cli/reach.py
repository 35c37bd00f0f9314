"""Where the run commands act: on the local run store, or through the dashboard's API.

With `OOB_SERVER` and `OOB_TOKEN` set (a shared installation), `deploy`, the decisions,
`override-status`, `status`, `runs` and `watch` go through the dashboard's API as the token's
person (`Remote`, on `oob.client`): the server knows who you are, so `--as` is refused. Else
they act on the local store as `--as`, `OOB_USER` or the login name (`Local`). Both answer with
the same values (a run's `Snapshot`, `run_json`), so a command prints the same either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from oob.client import ENV_TOKEN, from_environment
from oob.errors import RunNotFound, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.console import Console

    from oob.cli.context import AppContext
    from oob.client import Client
    from oob.clock import Clock
    from oob.readmodel import Snapshot
    from oob.store import Event, Run, Store


@dataclass(frozen=True)
class DeployAsk:
    """What `oob deploy` asks for: the pipeline (None: the config's one), the fix, the texts by
    their options (`--symptoms`, ...), the release wait and the approval's timeout (None: the
    config's)."""

    pipeline: str | None
    fix: str
    texts: Mapping[str, str]
    release_wait: float | None
    approval_timeout: float | None


class Runs(Protocol):
    """What the run commands ask of the runs, wherever they are."""

    def start(self, ask: DeployAsk) -> tuple[str, list[str]]:
        """Start a deploy: its run id, and who may approve it."""
        ...

    def actor(self) -> str:
        """Who acts: refused when it cannot be told (a `--as` not allowed, a wrong token)."""
        ...

    def decide(self, run_id: str, action: str, field: str, text: str) -> None:
        """Take `action` on a run with its note or reason (`field`)."""
        ...

    def override(
        self, sha: str, context: str, reason: str, pipeline: str | None = None
    ) -> dict[str, Any]:
        """Override a required status (`oob.override.Override` as a dict), decided on the
        active run of `pipeline` (the config's one by default)."""
        ...

    def snapshot(self, run_id: str | None, latest: int, pipeline: str | None = None) -> Snapshot:
        """Run `run_id` (default: the active or latest one, of `pipeline` when given) with its
        `latest` events."""
        ...

    def runs(self, pipeline: str | None = None, active: bool = False) -> list[dict[str, Any]]:
        """The recent runs, newest first, as `run_json` (of `pipeline`, the active ones)."""
        ...

    def run(self, run_id: str) -> Run: ...

    def follow(self, run_id: str, console: Console) -> None:
        """Show the run live until it ends."""
        ...

    def close(self) -> None: ...


def runs_for(obj: AppContext, asserted: str | None = None) -> Runs:
    """The dashboard's runs when `OOB_SERVER` and `OOB_TOKEN` say so, else the local store's."""
    server = from_environment()
    if server is None:
        return Local(obj, asserted)
    if asserted is not None:
        raise UsageError(
            f"--as is for sandboxes; {ENV_TOKEN} says who you are",
            hint="drop --as, or unset OOB_SERVER and OOB_TOKEN to act on a sandbox's runs",
        )
    from oob.client import Client

    return Remote(Client(*server))


def local_store(obj: AppContext) -> Store:
    """The run store, on the runs' one clock: the sandbox's simulated one for a sandbox config."""
    from oob.store import open_store

    return open_store(clock=runs_clock(obj))


def runs_clock(obj: AppContext) -> Clock:
    """The runs' one clock for the config: the sandbox's simulated one for a sandbox config.
    Any other's is the real clock, told from the file's tables alone (its models unbuilt)."""
    from oob.clock import SystemClock, clock_for
    from oob.config_file import declares_sandbox

    if not declares_sandbox(obj.config_path):
        return SystemClock()
    return clock_for(obj.config.sandbox_base())


class Local:
    """The runs of the local store, acted on as `--as`, `OOB_USER` or the login name."""

    def __init__(self, obj: AppContext, asserted: str | None) -> None:
        self.obj = obj
        self.asserted = asserted
        self._opened: Store | None = None

    @property
    def store(self) -> Store:
        if self._opened is None:
            from oob.clock import Deferred
            from oob.store import open_store

            # The clock is made when first read: listing runs reads no config.
            self._opened = open_store(clock=Deferred(lambda: runs_clock(self.obj)))
        return self._opened

    def actor(self) -> str:
        from oob.identity import cli_actor

        return cli_actor(self.obj.config, self.asserted)

    def start(self, ask: DeployAsk) -> tuple[str, list[str]]:
        from oob.commands import Control, checked_request
        from oob.identity import cli_actor
        from oob.states import Source
        from oob.store import database_url, state_dir
        from oob.worker import ensure_worker

        config = self.obj.config.pick(ask.pipeline)
        actor = cli_actor(config, self.asserted)
        request = checked_request(
            lambda: self.store, config, actor, ask.fix, ask.texts, ask.release_wait, Source.CLI
        )
        # Everything is checked: a worker is needed now (it also creates DBOS's tables).
        assert config.source is not None  # a loaded config knows its file
        ensure_worker(self.store, config.source, state_dir() / "worker.log")
        control = Control(self.store, database_url())
        run = control.start(config, request, approval_timeout_minutes=ask.approval_timeout)
        return run.id, list(config.roles.approvers)

    def decide(self, run_id: str, action: str, field: str, text: str) -> None:
        from oob.commands import Control
        from oob.policy import Action
        from oob.store import database_url

        Control(self.store, database_url()).decide(
            run_id, Action(action), self.actor(), text, asserted=self.asserted is not None
        )

    def override(
        self, sha: str, context: str, reason: str, pipeline: str | None = None
    ) -> dict[str, Any]:
        from oob.adapters.pool import Pool
        from oob.override import override_in

        config = self.obj.config
        actor = self.actor()
        with Pool(config) as services:
            done = override_in(
                config,
                services,
                self.store,
                pipeline=pipeline,
                actor=actor,
                sha=sha,
                context=context,
                reason=reason,
                clock=self.store.clock,
                asserted=self.asserted is not None,
            )
        return asdict(done)

    def snapshot(self, run_id: str | None, latest: int, pipeline: str | None = None) -> Snapshot:
        from oob.readmodel import run_json, snapshot

        store = self.store
        if run_id is None:
            run_id = default_run(
                [run_json(r) for r in store.runs(pipeline=pipeline, active=True, limit=2)],
                [run_json(r) for r in store.runs(pipeline=pipeline, limit=1)],
                pipeline,
            )
        return snapshot(store, run_id, store.clock.now(), latest=latest)

    def runs(self, pipeline: str | None = None, active: bool = False) -> list[dict[str, Any]]:
        from oob.readmodel import run_json

        return [run_json(r) for r in self.store.runs(pipeline=pipeline, active=active)]

    def run(self, run_id: str) -> Run:
        return self.store.run(run_id)

    def follow(self, run_id: str, console: Console) -> None:
        from oob.live import follow

        follow(self.store, run_id, console)

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()


class Remote:
    """The dashboard's runs, acted on as the person `OOB_TOKEN` is (source `web`)."""

    def __init__(self, client: Client, refresh_seconds: float = 0.5) -> None:
        self.client = client
        self.refresh_seconds = refresh_seconds

    def start(self, ask: DeployAsk) -> tuple[str, list[str]]:
        texts = {o.removeprefix("--").replace("-", "_"): text for o, text in ask.texts.items()}
        answer = self.client.post(
            "/api/runs",
            {
                "pipeline": ask.pipeline,
                "fix": ask.fix,
                **texts,
                "release_wait_minutes": ask.release_wait,
                "approval_timeout_minutes": ask.approval_timeout,
            },
        )
        return answer["run"]["run_id"], answer["approvers"]

    def actor(self) -> str:
        return str(self.client.me()["name"])

    def decide(self, run_id: str, action: str, field: str, text: str) -> None:
        self.client.post(f"/api/runs/{run_id}/actions/{action}", {field: text})

    def override(
        self, sha: str, context: str, reason: str, pipeline: str | None = None
    ) -> dict[str, Any]:
        asked = {"sha": sha, "context": context, "reason": reason, "pipeline": pipeline}
        done: dict[str, Any] = self.client.post("/api/overrides", asked)
        return done

    def snapshot(self, run_id: str | None, latest: int, pipeline: str | None = None) -> Snapshot:
        if run_id is None:
            run_id = default_run(
                self.runs(pipeline, active=True), self.runs(pipeline)[:1], pipeline
            )
        return snapshot_of(self.client.get(f"/api/runs/{run_id}", latest=latest)["status"])

    def runs(self, pipeline: str | None = None, active: bool = False) -> list[dict[str, Any]]:
        from oob.readmodel import run_json

        asked = self.client.get("/api/runs", **_filters(pipeline, active))["runs"]
        return [run_json(run_of(r)) for r in asked]

    def run(self, run_id: str) -> Run:
        return self.snapshot(run_id, 1).run

    def follow(self, run_id: str, console: Console) -> None:
        """As `oob.live.follow` does locally: a live frame on a terminal, else each new event
        as a line; the frame is asked again only when its ETag changed."""
        import time
        from contextlib import nullcontext

        from rich.live import Live

        from oob.live import line, render
        from oob.procedure import finished

        seen: list[Event] = []
        etag: str | None = None
        view: Snapshot | None = None
        live = Live(console=console, auto_refresh=False) if console.is_terminal else None
        with live or nullcontext():
            while True:
                after = seen[-1].id if seen else 0
                answer = self.client.get(f"/api/runs/{run_id}/events", after=after)
                new = [event_of(e) for e in answer["events"]]
                seen.extend(new)
                etag, detail = self.client.poll(f"/api/runs/{run_id}", etag)
                if detail is not None:
                    view = snapshot_of(detail["status"])
                    if live is not None:
                        live.update(render(view), refresh=True)
                if live is None:
                    for event in new:
                        console.print(line(event), highlight=False, markup=False, soft_wrap=True)
                assert view is not None  # the first answer has no ETag to match
                if not view.run.active and finished(seen):
                    return
                time.sleep(self.refresh_seconds)

    def close(self) -> None:
        self.client.close()


def _filters(pipeline: str | None, active: bool) -> dict[str, Any]:
    """The query of `GET /api/runs` for these filters."""
    return ({"pipeline": pipeline} if pipeline else {}) | ({"active": "true"} if active else {})


def default_run(
    active: list[dict[str, Any]], newest: list[dict[str, Any]], pipeline: str | None
) -> str:
    """The run `oob status` shows when none is named: the one active run, else the newest."""
    if len(active) > 1:
        raise UsageError(
            f"runs {active[0]['run_id']}, {active[1]['run_id']}, … are active: name one",
            hint="see them with `oob runs --active`, or choose with --pipeline NAME",
        )
    if not active and not newest:
        where = f" of {pipeline}" if pipeline else ""
        raise RunNotFound(f"no runs{where} yet", hint="start one with `oob deploy`")
    return str((active or newest)[0]["run_id"])


def run_of(data: Mapping[str, Any]) -> Run:
    """The run a run's JSON stands for (the API's, or the head of `oob status --json`)."""
    from oob.states import RunState
    from oob.store import Run

    created = datetime.fromisoformat(data["created_at"])
    return Run(
        id=data["run_id"],
        pipeline=data["pipeline"],
        requester=data["requester"],
        fix_sha=data["fix_sha"],
        symptoms=data.get("symptoms", ""),
        affects=data.get("affects", ""),
        cause=data.get("cause", ""),
        fix_summary=data.get("fix_summary", ""),
        release_wait_minutes=data.get("release_wait_minutes", 0.0),
        state=RunState(data["state"]),
        outcome=RunState(data["outcome"]) if data["outcome"] else None,
        created_at=created,
        updated_at=datetime.fromisoformat(data.get("updated_at") or data["created_at"]),
        ended_at=_when(data["ended_at"]),
    )


def event_of(data: Mapping[str, Any]) -> Event:
    """An event from its JSON (the API's, or `oob status --json`'s, which has no id)."""
    from oob.states import Source
    from oob.store import Event

    return Event(
        id=data.get("id", 0),
        run_id=None,
        at=datetime.fromisoformat(data["at"]),
        actor=data["actor"],
        source=Source(data["source"]),
        kind=data["kind"],
        summary=data["summary"],
        details=data.get("details", {}),
    )


def snapshot_of(status: Mapping[str, Any]) -> Snapshot:
    """The `Snapshot` whose `to_json()` is `status` (`oob status --json`), to show it alike."""
    from oob.readmodel import Snapshot, StageView, StepView, Undelivered, Waiting

    waiting = status["waiting_for"]
    return Snapshot(
        run=run_of(status),
        steps=tuple(
            StepView(s["name"], _when(s["started_at"]), _when(s["ended_at"]), s["status"])
            for s in status["steps"]
        ),
        stages=tuple(
            StageView(s["name"], s["estimate_minutes"], s["actual_minutes"], s["status"], s["url"])
            for s in status["stages"]
        ),
        current_step=status["current_step"],
        eta_minutes=status["eta_minutes"],
        events=tuple(event_of(e) for e in status["events"]),
        plan=status["plan"],
        waiting=None
        if waiting is None
        else Waiting(waiting["who"], waiting["what"], waiting["command"], _when(waiting["until"])),
        undelivered=tuple(
            # A hold not lifted is the one whose command lifts it.
            Undelivered(u["summary"], u["command"], hold=u["command"].startswith("oob hold "))
            for u in status["undelivered"]
        ),
    )


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
