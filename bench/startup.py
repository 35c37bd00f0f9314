"""How long `oob --version` and `oob --help` take, start to exit, as a user sees them.

Run: .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def measure(argv: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    # The oob installed beside this Python (the venv running the benchmark).
    oob = str(Path(sys.executable).with_name("oob"))
    for flag in ("--version", "--help"):
        timings = measure([oob, flag], args.runs)
        print(
            f"oob {flag:<10} median {statistics.median(timings):6.1f} ms   "
            f"max {max(timings):6.1f} ms   ({args.runs} runs)"
        )


if __name__ == "__main__":
    main()
