"""What an idle `oob worker` costs: CPU over a minute with no run to execute.

Starts a sandbox (for the services the worker's config names), then `oob worker` on a fresh
SQLite file and on a fresh PostgreSQL database, lets each settle, and reads the worker's
utime+stime from /proc/PID/stat at the start and the end of `--seconds`.

Run: .venv/bin/python bench/idle.py [--seconds 60] [--postgres postgresql://postgres@127.0.0.1:5432/test]
     [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from oob.sandbox.configfile import render_config
from oob.sandbox.server import SandboxServer
from oob.sandbox.world import Options

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_database(admin_url: str) -> str:
    """A fresh database beside `admin_url`'s, for one measurement."""
    import sqlalchemy

    name = f"oob_idle_{uuid.uuid4().hex[:8]}"
    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def measure(config: Path, env: dict[str, str], seconds: float, settle: float) -> float:
    """Percent of one core the worker used over `seconds`, after `settle` seconds."""
    argv = [sys.executable, "-m", "oob", "--config", str(config), "worker"]
    with tempfile.TemporaryFile() as out:
        worker = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            time.sleep(settle)
            if worker.poll() is not None:
                out.seek(0)
                raise SystemExit(f"oob worker exited: {out.read().decode()[-2000:]}")
            before, started = cpu_seconds(worker.pid), time.monotonic()
            time.sleep(seconds)
            after, ended = cpu_seconds(worker.pid), time.monotonic()
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return 100 * (after - before) / (ended - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=10)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    with (
        SandboxServer(Options(scenario="happy", time_scale=1)) as sandbox,
        tempfile.TemporaryDirectory() as home,
    ):
        config = Path(home) / "oob.toml"
        config.write_text(render_config(sandbox.url, sandbox.options.token))
        for database in args.databases.split(","):
            env = {**os.environ, "OOB_HOME": str(Path(home) / database)}
            env.pop("OOB_DATABASE_URL", None)
            if database == "postgres":
                env["OOB_DATABASE_URL"] = postgres_database(args.postgres)
            for name in ("OOB_JENKINS_TOKEN", "OOB_GITHUB_TOKEN", "OOB_SLACK_TOKEN"):
                env[name] = sandbox.options.token
            percent = measure(config, env, args.seconds, args.settle)
            over = f"over {args.seconds:g} s"
            print(f"idle oob worker on {database:8}: {percent:5.2f} % of a core {over}")


if __name__ == "__main__":
    main()
