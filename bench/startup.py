"""How long the commands people type take, start to exit, as a user sees them.

`oob --version` and `oob --help`, then `oob status RUN` and `oob runs` against a SQLite store
holding `--store-runs` ended runs (each with a plan and a dozen events), made once in a
temporary `OOB_HOME` before timing. Prints the median and the max of `--runs` runs of each.

Run: .venv/bin/python bench/startup.py [--runs 20] [--store-runs 1000]
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


def measure(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, check=False, capture_output=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
        timings.append((time.perf_counter() - start) * 1000)
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
        commands = [["--version"], ["--help"], ["status", run_id], ["runs"]]
        for command in commands:
            subprocess.run([oob, *command], check=False, capture_output=True, env=env)  # warm
            timings = measure([oob, *command], args.runs, env)
            label = " ".join(command).replace(run_id, "RUN")
            print(
                f"oob {label:<12} median {statistics.median(timings):6.1f} ms   "
                f"max {max(timings):6.1f} ms   ({args.runs} runs, {args.store_runs} runs stored)"
            )


if __name__ == "__main__":
    main()
