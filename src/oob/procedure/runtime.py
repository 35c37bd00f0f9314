"""What the steps of a run use, bound once per process: the services, the store, the clock.

DBOS is one instance per process, and so is the runtime its steps find here (`bind`). A run's
own settings never come from here: they come from its plan (`Runtime.plan`), the config frozen
in the store when the run started, so that a worker recovering a run after `oob.toml` was
edited follows the run's plan, not the new file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from oob.errors import ProcedureError
from oob.procedure.pacing import Pace

if TYPE_CHECKING:
    from oob.clock import Clock
    from oob.config import Config
    from oob.messages import Messages
    from oob.ports import Build, BuildServer, Chat, CodeHost, Connections, Deployments, Probe
    from oob.store import Store


@dataclass(frozen=True)
class Readiness:
    """What pre-flight found: ready or not, why not, the stage the fix is at, and when the
    tests it waits for should end."""

    ready: bool
    reasons: tuple[str, ...] = ()
    stage: str | None = None  # the pipeline stage the fix is at now; None when past the gate
    expected: datetime | None = None  # when the test gate's running build should finish
    build: Build | None = None  # the running build carrying the fix to the gate, if one is


@dataclass(frozen=True)
class Tuning:
    """How often the workflow looks at the world, and how fast simulated time runs.

    `time_scale` is for rehearsals against a sandbox whose clock runs faster than real time:
    deadlines are in the run's clock (the sandbox's, then); a real wait for a duration of the
    run's clock is divided by it. `poll_seconds` and the other seconds here are real.
    `poll_seconds` is the pause between two looks when no change is expected soon; `pace`
    sets the looks where one is due (`oob.procedure.pacing`).
    """

    poll_seconds: float = 10.0
    time_scale: float = 1.0
    approval_poll_seconds: float = 60.0  # how often a wait for people rereads their decisions
    merge_check_every: int = 3  # look for new commits on main every N polls
    trigger_settle_seconds: float = 20.0  # how long a repeated trigger looks for our build
    outage_minutes: float = 30.0  # how long a closing message is retried over an outage
    pace: Pace = field(default_factory=Pace)

    @classmethod
    def rehearsal(cls, time_scale: float) -> Tuning:
        """A rehearsal's tuning at `time_scale`: the same looks in the sandbox's clock at every
        time scale (10 simulated seconds apart when no change is due, as on the day)."""
        return cls(
            poll_seconds=max(0.02, 10 / time_scale),
            time_scale=time_scale,
            trigger_settle_seconds=max(0.5, 15 / time_scale),
        )

    def seconds(self, minutes: float) -> float:
        """Real seconds for `minutes` of (possibly simulated) time."""
        return minutes * 60 / self.time_scale


@dataclass
class Runtime:
    """Everything the steps use, bound once per process. A step reaches the services of its
    own run's plan (`build_server`, `code_host`, `chat`, `probe`): the run is the DBOS workflow
    the step belongs to (a run's id is its workflow's)."""

    services: Connections
    store: Store
    clock: Clock
    readiness: Callable[[Config, str], Readiness]
    postmortem: Callable[[Config, str], tuple[str | None, str | None]]
    tuning: Tuning = field(default_factory=Tuning)
    _plans: dict[str, Config] = field(default_factory=dict, init=False, repr=False)
    _messages: dict[str, Messages] = field(default_factory=dict, init=False, repr=False)

    def plan(self, run_id: str) -> Config:
        """The config run `run_id` follows, as frozen when it started."""
        if run_id not in self._plans:
            from oob.plan import thaw

            self._plans[run_id] = thaw(self.store.plan(run_id))
        return self._plans[run_id]

    @property
    def build_server(self) -> BuildServer:
        return self.services.build_server(self._current_plan())

    @property
    def code_host(self) -> CodeHost:
        return self.services.code_host(self._current_plan())

    @property
    def chat(self) -> Chat:
        return self.services.chat(self._current_plan())

    @property
    def deployments(self) -> Deployments | None:
        """The run's deployments record on its code host (None where the host keeps none)."""
        host = self.code_host
        return host.deployments() if hasattr(host, "deployments") else None

    @property
    def probe(self) -> Probe:
        return self.services.probe(self._current_plan())

    def _current_plan(self) -> Config:
        """The plan of the run whose step asks."""
        from dbos import DBOS

        run_id = DBOS.workflow_id
        if run_id is None:
            raise ProcedureError("a service used outside a run's step", hint="a bug: report it")
        return self.plan(run_id)

    def messages(self, run_id: str) -> Messages:
        """The messages of run `run_id`, rendered with its plan's audiences and templates."""
        if run_id not in self._messages:
            from oob.messages import Messages

            self._messages[run_id] = Messages(self.plan(run_id))
        return self._messages[run_id]


_runtime: Runtime | None = None


def bind(runtime: Runtime | None) -> None:
    """Make `runtime` the one the steps of this process use (None unbinds)."""
    global _runtime  # noqa: PLW0603 - one per process, like the DBOS instance itself
    _runtime = runtime


def rt() -> Runtime:
    if _runtime is None:
        raise ProcedureError("the procedure runs without services", hint="a bug: bind() first")
    return _runtime
