"""The fuzz tests (tests/proof/test_fuzz.py, test_api_schema.py) with many more examples.

CI runs them with a few dozen examples each; this runs `--examples` per property (and per API
operation), derandomized as in CI, and prints pytest's summary. docs/reliability.md has the
figures of the last run.

Run: .venv/bin/python bench/fuzz.py [--examples 2000] [-k EXPRESSION]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("-k", dest="keyword", default="")
    args = parser.parse_args()
    env = {**os.environ, "OOB_FUZZ_EXAMPLES": str(args.examples)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-n",
        "0",
        "-p",
        "no:cacheprovider",
        "--hypothesis-show-statistics",
        "tests/proof/test_fuzz.py",
        "tests/proof/test_api_schema.py",
    ]
    if args.keyword:
        command += ["-k", args.keyword]
    sys.exit(subprocess.run(command, cwd=ROOT, env=env, check=False).returncode)


if __name__ == "__main__":
    main()
