"""How long the commands people type take, start to exit, as a user sees them.

`oob --version` and `oob --help`, then `oob status RUN` and `oob runs` against a SQLite store
holding `--store-runs` ended runs (each with a plan and a dozen events), made once in a
temporary `OOB_HOME` before timing. Prints the median and the max of `--runs` runs of each.

With `--before SRC`, the same commands of the oob whose sources are at SRC too (say, main's:
`git archive main src | tar -x -C /tmp/before`, then `--before /tmp/before/src`), run in turn
with this one, so that a machine whose speed drifts (shared cores) slows both alike.

Run: .venv/bin/python bench/startup.py [--runs 20] [--store-runs 1000] [--before SRC]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path


def measure(argv: list[str], runs: int, envs: dict[str, dict[str, str]]) -> dict[str, list[float]]:
    """Milliseconds of `runs` runs of `argv` in each environment, taking them in turn."""
    timings: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(runs):
        for name, env in envs.items():
            start = time.perf_counter()
            done = subprocess.run(argv, check=False, capture_output=True, env=env)
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
            timings[name].append((time.perf_counter() - start) * 1000)
    return timings


def fill(home: Path, count: int) -> str:
    """A store at `home` with `count` ended runs; the id of the newest."""
    from oob.config import parse
    from oob.plan import freeze
    from oob.sandbox.configfile import render_config
    from oob.states import RunState
    from oob.store import RunRequest, Store

    os.environ["OOB_HOME"] = str(home)
    from oob.store import database_url

    store = Store(database_url())
    plan = freeze(parse(render_config("http://127.0.0.1:9", "token"), home / "oob.toml"))
    run_id = ""
    for number in range(count):
        request = RunRequest(
            pipeline="cms",
            requester="alice",
            fix_sha=f"{number:040x}",
            symptoms="editors cannot publish",
            cause="a bad migration",
            fix_summary="revert the migration",
            release_wait_minutes=15,
        )
        run_id = store.create_run(request, plan, run_id=f"run-{number:05d}").id
        for index in range(12):
            store.append_event(
                run_id,
                actor="oob",
                source="worker",
                kind="step.started",
                summary=f"step {index} started",
                details={"step": "approval"},
            )
        store.transition(run_id, RunState.CLOSING)
        store.transition(run_id, RunState.RESOLVED)
    store.close()
    return run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--store-runs", type=int, default=1000)
    parser.add_argument("--before", type=Path, help="sources of an oob to compare with")
    args = parser.parse_args()
    # The oob installed beside this Python (the venv running the benchmark).
    oob = str(Path(sys.executable).with_name("oob"))
    with tempfile.TemporaryDirectory() as home:
        run_id = fill(Path(home), args.store_runs)
        env = {**os.environ, "OOB_HOME": home}
        env.pop("OOB_DATABASE_URL", None)
        # As an installed oob runs: from bytecode, written by the warm-up run if missing (with
        # PYTHONDONTWRITEBYTECODE set, every run compiled oob's modules again, about 50 ms).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # The real day's config (a sandbox config would ask the sandbox for its clock).
        config = Path(home) / "oob.toml"
        config.write_text((resources.files("oob") / "presets" / "va-cms.toml").read_text("utf-8"))
        env["OOB_CONFIG"] = str(config)
        envs = {"": env}
        if args.before:
            envs = {"before": {**env, "PYTHONPATH": str(args.before)}, "after": env}
        commands = [["--version"], ["--help"], ["status", run_id], ["runs"]]
        for command in commands:
            measure([oob, *command], 1, envs)  # warm
            label = " ".join(command).replace(run_id, "RUN")
            for name, timings in measure([oob, *command], args.runs, envs).items():
                print(
                    f"oob {label:<12} {name:<6} median {statistics.median(timings):6.1f} ms   "
                    f"max {max(timings):6.1f} ms   ({args.runs} runs, {args.store_runs} stored)"
                )


if __name__ == "__main__":
    main()
