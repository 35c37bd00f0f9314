"""What a whole rehearsal costs beyond the jobs themselves: wall time, critical path, latency.

Runs `oob rehearse --json` several times and prints, per run, the wall time, the critical path
of the jobs converted to real time (the floor no orchestration can beat), oob's overhead above
that floor, and the reaction latency the rehearsal measured on the sandbox's ledger.

Run: .venv/bin/python bench/rehearse.py [--runs N] [--time-scale N] [--scenario NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path


def rehearse(oob: str, scenario: str, time_scale: float) -> dict[str, object]:
    argv = [oob, "rehearse", "--json", "--scenario", scenario, "--time-scale", str(time_scale)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"oob rehearse failed ({done.returncode}): {done.stderr.strip()}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=60)
    parser.add_argument("--scenario", default="happy")
    args = parser.parse_args()
    # The oob installed beside this Python (the venv running the benchmark).
    oob = str(Path(sys.executable).with_name("oob"))
    overheads = []
    for number in range(1, args.runs + 1):
        r = rehearse(oob, args.scenario, args.time_scale)
        wall = float(r["wall_seconds"])  # type: ignore[arg-type]
        floor = float(r["critical_path_sim_seconds"]) / args.time_scale  # type: ignore[arg-type]
        latency = {k: v for k, v in r["reaction_latency_ms"].items() if k != "samples"}  # type: ignore[attr-defined]
        overheads.append(wall - floor)
        print(
            f"run {number}: {r['outcome']:<18} wall {wall:6.2f} s   critical path "
            f"{floor:6.2f} s real ({r['critical_path_sim_seconds']} sim s)   "
            f"overhead {wall - floor:5.2f} s   reaction latency {latency}"
        )
    print(f"median overhead above the jobs: {statistics.median(overheads):.2f} s")


if __name__ == "__main__":
    main()
