"""Fleet benchmark (issue 15): one run on each pipeline of a fleet sandbox, executed
by `oob worker` processes sharing one PostgreSQL database.

It starts `oob sandbox --pipelines N` (`--runs` pipelines, scenarios drawn from `--mix` with
`--seed`) in a process of its own, which writes the fleet's config (`[pipelines.pNNN]` tables),
creates a fresh database on `--database-url`'s server (dropped at the end), starts `--workers`
`oob worker` processes on it, starts one run per pipeline (`oob.commands.Control.start`, as `oob
deploy --pipeline pNNN --detach` does), and lets the simulated people decide through `Control`:
the product owner approves, the operator overrides a spuriously failing required test, helpdesk
confirms the fix once editors' login page answers (`oob.simulated.People`). One thread plays them
all: each round reads the active runs once and looks closer only at those awaiting someone.
When every run has ended it prints, as JSON: the outcomes by scenario against the right one,
the wall time, duplicate side effects in each world's ledger (`oob.side_effects`: a
build of a job triggered twice, a chat message posted twice under one idempotency key, more
than one postmortem pull request), peak RSS and CPU seconds of each worker (/proc), the most
PostgreSQL connections to the database seen (pg_stat_activity), GitHub requests counted against
the rate limit per run, and the p50/p95 reaction latency across all runs (`oob.reaction`).

With `--kill-after SECONDS`, the worker that has used the most CPU by then is killed with SIGKILL
and its runs are taken over by the others once its lease (`--lease-seconds`) has run out; its
figures at its death are reported apart.

Run: .venv/bin/python bench/fleet.py [--runs 5] [--workers 4] [--time-scale 300]
     [--mix happy=0.8,wrong-commit=0.1,flaky-cypress=0.1] [--database-url URL]
     [--kill-after SECONDS] [--lease-seconds 30] [--idle-seconds 60] [--lone]

`--idle-seconds` (60) measures each living worker's CPU once no run is left (0: skip); `--lone`
first runs one happy pipeline the same way, for the wall-time ratio of the fleet to it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from idle import cpu_seconds
from soak import EXPECTED

from oob.clock import clock_for
from oob.commands import Control
from oob.config import Config, load
from oob.simulated import OPERATOR, People, stop_processes
from oob.store import RunRequest, RunState, Source, Store, sqlalchemy_url

DATABASE = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on `server_url`'s server, dropped afterwards (with its connections)."""
    import sqlalchemy as sa

    name = f"oob_fleet_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(sqlalchemy_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Workers:
    """`oob worker` processes on the database, stopped with SIGTERM at the end."""

    def __init__(self, count: int, config: Path, url: str, home: Path, args: argparse.Namespace):
        self.count, self.config, self.url, self.home = count, config, url, home
        self.time_scale, self.lease = args.time_scale, args.lease_seconds
        self.processes: list[subprocess.Popen[bytes]] = []
        self.killed: dict[str, Any] | None = None  # the figures of the worker killed

    def start(self, store: Store) -> Workers:
        from oob.procedure.runtime import Tuning

        env = {**os.environ, "OOB_HOME": str(self.home), "OOB_DATABASE_URL": self.url}
        poll = Tuning.rehearsal(self.time_scale).poll_seconds
        for number in range(self.count):
            command = [sys.executable, "-m", "oob", "--config", str(self.config), "worker"]
            command += ["--time-scale", str(self.time_scale), "--poll-seconds", str(poll)]
            command += ["--lease-seconds", str(self.lease)]
            with (self.home / f"worker-{number}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
                )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            beating = {w.pid for w in store.workers() if w.heartbeat_at > w.started_at}
            if all(p.pid in beating for p in self.processes):
                return self
            if any(p.poll() is not None for p in self.processes):
                break
            time.sleep(0.1)
        raise SystemExit(f"the workers did not start; see {self.home}/worker-*.log")

    def idle_cpu(self, seconds: float) -> list[float]:
        """Each living worker's CPU use over `seconds` of real time, in % of one core."""
        alive = [p.pid for p in self.processes if p.poll() is None]
        before = {pid: cpu_seconds(pid) for pid in alive}
        time.sleep(seconds)
        return [round((cpu_seconds(pid) - before[pid]) / seconds * 100, 2) for pid in alive]

    def kill_busiest(self) -> None:
        """SIGKILL the worker that has used the most CPU so far (the one executing most)."""
        busiest = max(self.figures(), key=lambda f: f["cpu_seconds"])
        process = next(p for p in self.processes if p.pid == busiest["pid"])
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        self.killed = busiest

    def figures(self) -> list[dict[str, Any]]:
        """Peak RSS and CPU seconds of each living worker so far."""
        return [figures(p.pid) for p in self.processes if p.poll() is None]

    def stop(self) -> None:
        stop_processes(self.processes)


def figures(pid: int) -> dict[str, Any]:
    """Peak RSS and CPU seconds of process `pid` so far."""
    status = Path(f"/proc/{pid}/status").read_text()
    peak = next(line.split()[1] for line in status.splitlines() if line[:6] == "VmHWM:")
    return {
        "pid": pid,
        "peak_rss_mb": round(int(peak) / 1024, 1),
        "cpu_seconds": round(cpu_seconds(pid), 1),
    }


class Connections:
    """The most connections to the database pg_stat_activity showed, sampled every second."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.name = url.rsplit("/", 1)[1]
        self.engine = sa.create_engine(sqlalchemy_url(url), pool_size=1)
        self.most = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import sqlalchemy as sa

        query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
        while not self.stop.is_set():
            with self.engine.connect() as connection:
                count = int(connection.execute(query, {"name": self.name}).scalar_one())
            self.most = max(self.most, count - 1)  # not this sampler's own
            self.stop.wait(1)

    def __enter__(self) -> Connections:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.engine.dispose()


class FleetPeople(People):
    """The simulated people of one run, deciding through `Control` instead of Slack."""

    control: Control
    scenario: str

    def click(self, person: str, action: str) -> None:
        if action == "approve":
            self.control.approve(self.run_id, person, source=Source.SIMULATED)
        elif action == "confirm-fix":
            self.control.confirm_fix(self.run_id, person, source=Source.SIMULATED)
        else:
            raise ValueError(f"no simulated decision {action}")

    def look(self) -> bool:
        """Act if it is their turn; False once the run has ended."""
        from oob.errors import OobError

        try:
            return self._look()
        except (OobError, OSError) as exc:
            self.troubles.append(f"{type(exc).__name__}: {exc}")
            return True


class Sandbox:
    """`oob sandbox --pipelines N` in a process of its own (its CPU is not the bench's): the
    fleet's worlds, each pipeline's under `/pNNN`, read over HTTP as anyone would."""

    def __init__(self, args: argparse.Namespace, home: Path) -> None:
        with socket.socket() as probe:  # a free port for it
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.config = home / "oob.toml"
        self.config.unlink(missing_ok=True)  # it is written once the sandbox serves
        command = [sys.executable, "-m", "oob", "sandbox", "--port", str(port)]
        command += ["--pipelines", str(args.runs), "--mix", args.mix, "--seed", str(args.seed)]
        command += ["--time-scale", str(args.time_scale), "--write-config", str(self.config)]
        with (home / "sandbox.log").open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(timeout=60)
        self.prefix: dict[str, str] = {}  # each pipeline's path on the sandbox

    def start(self) -> Config:
        """Wait until it serves and has written its config; the config."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.config.exists():
                config = load(self.config)
                for name in config.pipeline_names:
                    jenkins = config.for_pipeline(name).services.jenkins.url
                    self.prefix[name] = jenkins.rstrip("/").removesuffix("/jenkins")
                return config
            time.sleep(0.2)
        raise SystemExit(f"the sandbox did not start; see {self.config.parent}/sandbox.log")

    def state(self, name: str) -> dict[str, Any]:
        return dict(self.http.get(f"{self.prefix[name]}/_sandbox/state").json())

    def ledger(self, name: str) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.prefix[name]}/_sandbox/ledger").json())

    def stop(self) -> None:
        self.http.close()
        stop_processes([self.process])


class LoginPage:
    """What helpdesk looks at of one pipeline's CMS: whether editors' login page answers."""

    def __init__(self, url: str) -> None:
        self.url = url

    def state(self) -> dict[str, Any]:
        return {"cms": {"login_status": httpx.get(self.url, timeout=30).status_code}}


def start_runs(
    sandbox: Sandbox, config: Config, store: Store, services: Any
) -> dict[str, FleetPeople]:
    """One run per pipeline, each with its people, by pipeline."""
    from concurrent.futures import ThreadPoolExecutor

    from oob.sandbox.scenario import load_scenario

    control = Control(store, store.url)

    def start(name: str) -> FleetPeople:
        plan = config.for_pipeline(name)
        state = sandbox.state(name)
        scenario = str(state["scenario"])
        wait = load_scenario(scenario).release_wait or plan.pipeline.release_wait
        request = RunRequest(
            pipeline=plan.pipeline.name,
            requester=OPERATOR,
            fix_sha=str(state["fix_sha"]),
            symptoms="editors cannot log in to the CMS",
            cause="a bad module update",
            fix_summary="revert the module update",
            affects="all CMS editors",
            release_wait_minutes=wait,
        )
        run = control.start(plan, request)
        login: Any = LoginPage(f"{sandbox.prefix[name]}/cms/user/login")
        person = FleetPeople(
            store=store,
            config=plan,
            code_host=services.code_host(plan),
            sandbox=login,
            run_id=run.id,
        )
        person.control, person.scenario = control, scenario
        return person

    # As many people starting their pipeline's run at once as the store's pool serves.
    with ThreadPoolExecutor(8) as starting:
        names = config.pipeline_names
        return dict(zip(names, starting.map(start, names), strict=True))


# The states in which a run awaits one of them: the product owner, the operator, helpdesk.
AWAITED = (RunState.AWAITING_APPROVAL, RunState.PREFLIGHT, RunState.VERIFYING)


def play(people: dict[str, FleetPeople], args: argparse.Namespace, workers: Workers) -> list[str]:
    """Let the people act until every run has ended (with `--kill-after`, SIGKILL the busiest
    worker that many seconds in); the pipelines whose run has not, at `--timeout`."""
    from oob.procedure import finished

    began = time.monotonic()
    waiting = dict(people)
    while waiting and time.monotonic() < began + args.timeout:
        after = args.kill_after
        if after is not None and workers.killed is None and time.monotonic() > began + after:
            workers.kill_busiest()
        store = next(iter(people.values())).store
        active = {run.id: run.state for run in store.runs(len(people), active=True)}
        for name, person in list(waiting.items()):
            state = active.get(person.run_id)
            if state is None and finished(store.events(person.run_id)):
                del waiting[name]
            elif state in AWAITED:
                person.look()
        time.sleep(args.look)
    return sorted(waiting)


def per_run(url: str) -> dict[str, Any]:
    """DBOS steps and timeline events per run, from the database (before it is dropped)."""
    import sqlalchemy as sa

    from oob.reaction import percentiles

    engine = sa.create_engine(sqlalchemy_url(url), pool_size=1)
    steps = "SELECT count(*) FROM dbos.operation_outputs GROUP BY workflow_uuid"
    events = "SELECT count(*) FROM oob_events WHERE run_id IS NOT NULL GROUP BY run_id"
    kinds = "SELECT function_name, count(*) FROM dbos.operation_outputs GROUP BY 1 ORDER BY 2 DESC"
    try:
        with engine.connect() as connection:
            counts = {
                name: [float(n) for (n,) in connection.execute(sa.text(query))]
                for name, query in (("dbos_steps", steps), ("events", events))
            }
            runs = max(1, len(counts["events"]))
            by_kind = {str(k): round(n / runs, 1) for k, n in connection.execute(sa.text(kinds))}
    finally:
        engine.dispose()
    return {name: percentiles(found) for name, found in counts.items()} | {"steps": by_kind}


def duplicates(
    effects: dict[str, Any], ledger: list[dict[str, Any]], seen: Counter[str]
) -> list[str]:
    """The side effects of one run's world done more than once; `seen` counts those looked at."""
    from oob.messages import MessageKey

    builds = effects["jenkins_builds_triggered"]
    found = [f"{job} triggered {n} times" for job, n in builds.items() if n > 1]
    keys: Counter[str] = Counter()
    for entry in ledger:
        if entry["service"] == "slack" and entry["path"].endswith("chat.postMessage"):
            payload = entry["summary"].get("event_payload") or {}
            if MessageKey.parse(str(payload.get("key", ""))) is not None:
                keys[str(payload["key"])] += 1
    found += [f"message {key} posted {n} times" for key, n in keys.items() if n > 1]
    if effects["pull_requests_opened"] > 1:
        found.append(f"{effects['pull_requests_opened']} pull requests")
    seen["builds_triggered"] += sum(builds.values())
    seen["messages_posted"] += sum(keys.values())
    seen["pull_requests_opened"] += effects["pull_requests_opened"]
    return found


def report(
    sandbox: Sandbox, people: dict[str, FleetPeople], gate: str, time_scale: float
) -> dict[str, Any]:
    """Outcomes by scenario, duplicates, GitHub requests and reaction latency, over all runs."""
    from oob.events import Ended
    from oob.reaction import latency, percentiles
    from oob.side_effects import side_effects

    outcomes: dict[str, Counter[str]] = {}
    wrong, duplicated, latencies, github = [], {}, [], []
    unproposed: dict[str, list[str]] = {}
    seen: Counter[str] = Counter()
    for name, person in people.items():
        run = person.store.run(person.run_id)
        events = person.store.events(person.run_id)
        scenario = person.scenario
        outcome = run.outcome.value if run.outcome else "none"
        outcomes.setdefault(scenario, Counter())[outcome] += 1
        if outcome != EXPECTED.get(scenario):
            reason = next((e.reason for e in map(Ended.of, events) if e is not None), None)
            wrong.append(f"{name} ({scenario}): {outcome}: {reason}")
        ledger = sandbox.ledger(name)
        effects = side_effects(ledger)
        found = duplicates(effects, ledger, seen)
        if found:
            duplicated[name] = found
        if effects["pull_requests_opened"] == 0:  # every run's postmortem is proposed
            said = [e.summary for e in events if e.kind.startswith("postmortem.")]
            unproposed[name] = said or [e.summary for e in events[-3:]]
        state = sandbox.state(name)
        samples = latency(state, events, gate, time_scale)["samples"]
        latencies += [s["ms"] for s in samples]
        github.append(int(state["github"]["requests_counted"]))
    return {
        "outcomes": {s: dict(c) for s, c in sorted(outcomes.items())},
        "not_expected": wrong,
        "duplicate_side_effects": duplicated,
        "side_effects_looked_at": dict(seen),
        "without_postmortem_pull_request": unproposed,
        "github_requests_counted_per_run": percentiles([float(n) for n in github]),
        "reaction_latency_ms": percentiles(latencies),
        "reaction_samples": len(latencies),
        "troubles": Counter(t.split(":")[0] for p in people.values() for t in p.troubles),
        "troubles_first": [t for p in people.values() for t in p.troubles][:3],
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from oob.adapters.pool import Pool
    from oob.adapters.retry import RetryPolicy

    with ExitStack() as stack:
        url = stack.enter_context(fresh_database(args.database_url))
        home = args.logs or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oob-")))
        home.mkdir(parents=True, exist_ok=True)
        sandbox = Sandbox(args, home)
        stack.callback(sandbox.stop)
        config = sandbox.start()
        path = sandbox.config
        # Each worker takes at most its share of the runs with one worker fewer: the runs spread
        # over the workers, and the survivors of a killed one have room for its runs.
        share = -(-args.runs // max(1, args.workers - 1))
        with path.open("a", encoding="utf-8") as written:
            written.write(f"\n[workers]\nmax_runs = {share}\n")
        store = Store(url, clock=clock_for(config.sandbox_base()))
        stack.callback(store.close)
        workers = Workers(args.workers, path, url, home, args)
        stack.callback(workers.stop)
        workers.start(store)
        connections = stack.enter_context(Connections(url))
        policy = RetryPolicy(time_scale=args.time_scale)
        services = stack.enter_context(Pool(config, policy=policy))
        began = time.monotonic()
        people = start_runs(sandbox, config, store, services)
        started = time.monotonic() - began
        unfinished = play(people, args, workers)
        wall = time.monotonic() - began
        idle = workers.idle_cpu(args.idle_seconds) if args.idle_seconds > 0 else []
        gate = config.for_pipeline(config.pipeline_names[0]).pipeline.gate.job or ""
        return {
            "runs": args.runs,
            "workers": args.workers,
            "time_scale": args.time_scale,
            "mix": args.mix,
            "seed": args.seed,
            "wall_seconds": round(wall, 1),
            "seconds_to_start_all_runs": round(started, 1),
            "unfinished": unfinished,
            **report(sandbox, people, gate, args.time_scale),
            "workers_figures": workers.figures(),
            "sandbox_figures": figures(sandbox.process.pid),
            "worker_killed": workers.killed,
            "idle_seconds": args.idle_seconds,
            "idle_cpu_percent_of_a_core": idle,
            "postgres_connections_most": connections.most,
            "per_run": per_run(url),
            "load_average": os.getloadavg(),
        }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="pipelines, one run each")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=300)
    parser.add_argument("--mix", default="happy=0.8,wrong-commit=0.1,flaky-cypress=0.1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", default=DATABASE)
    parser.add_argument("--look", type=float, default=0.5, help="real seconds between looks")
    parser.add_argument(
        "--kill-after", type=float, help="SIGKILL the busiest worker this many seconds in"
    )
    parser.add_argument(
        "--lease-seconds", type=float, default=30, help="silence after which a worker is dead"
    )
    parser.add_argument("--logs", type=Path, help="keep the config and workers' logs here")
    parser.add_argument("--timeout", type=float, default=1800, help="real seconds at most")
    parser.add_argument(
        "--idle-seconds", type=float, default=60, help="then each worker's CPU idle (0: skip)"
    )
    parser.add_argument(
        "--lone", action="store_true", help="first a lone happy run the same way, for the ratio"
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    lone = None
    if args.lone:  # the same bench with one happy pipeline: the ratio's denominator
        alone = {"runs": 1, "mix": "happy=1", "kill_after": None, "idle_seconds": 0}
        alone["logs"] = args.logs / "lone" if args.logs else None
        lone = bench(argparse.Namespace(**{**vars(args), **alone}))
    result = bench(args)
    if lone is not None:
        result["lone"] = {k: lone[k] for k in ("wall_seconds", "outcomes", "load_average")}
        result["wall_ratio_to_lone"] = round(result["wall_seconds"] / lone["wall_seconds"], 2)
    print(json.dumps(result, indent=2))
    if any(result[k] for k in ("unfinished", "not_expected", "duplicate_side_effects")):
        sys.exit(1)


if __name__ == "__main__":
    main()
