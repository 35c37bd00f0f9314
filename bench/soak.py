"""Fault soak: every rehearsable scenario x N seeds with the sandbox failing 20% of requests.

For each run: the outcome against the scenario's right one, side effects beyond the fault-free
rehearsal of the same scenario (duplicates, counted from the sandbox's ledger), the faults
injected (each failed request is one retry forced on oob), and `oob audit verify` of the run's
hash chain. With `--kill`, the run is executed by `oob worker` processes and the worker is
killed with SIGKILL after a step drawn from the seed (`oob.rehearse.Crash`). Prints a Markdown
table (docs/reliability.md has the last one).

Run: .venv/bin/python bench/soak.py [--seeds 2] [--rate 0.2] [--kill] [--scenario NAME ...]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import oob.rehearse as rehearse_mod
from oob.sandbox.faults import FaultPlan, Faults

# The right outcome of each scenario rehearsed to one (tests/procedure/test_rehearse.py checks
# the same; tests/proof/test_soak.py checks that the two lists agree).
EXPECTED = {
    "happy": "resolved",
    "flaky-cypress": "resolved",
    "tests-pending": "resolved",
    "main-moved": "resolved",
    "pr-during-hold": "resolved",
    "wrong-commit": "release_mismatch",
    "prod-deploy-fails": "deploy_failed",
    "fix-ineffective": "fix_not_verified",
}
TIME_SCALE = 600

_faults: Counter[str] = Counter()
_audits: list[tuple[bool, int]] = []  # per run verified: intact, events
_undelivered: list[int] = []  # per run: messages it recorded as undelivered (loud, not lost)


def _instrument() -> None:
    """Count the faults the sandbox injects, and verify each run's audit chain before its
    temporary store goes away."""
    draw = Faults._draw

    def counting(self: Faults, service: str, method: str) -> str | None:
        fault = draw(self, service, method)
        if fault is not None:
            _faults[fault] += 1
        return fault

    Faults._draw = counting  # type: ignore[method-assign]
    result = rehearse_mod._result

    def verified(store: Any, config: Any, run_id: str, *args: Any, **kwargs: Any) -> Any:
        from oob.audit import verify
        from oob.events import KIND_MESSAGE_UNDELIVERED

        verdict = verify(store, run_id)
        _audits.append((verdict.ok, verdict.events))
        kinds = [e.kind for e in store.events(run_id)]
        _undelivered.append(kinds.count(KIND_MESSAGE_UNDELIVERED))
        return result(store, config, run_id, *args, **kwargs)

    rehearse_mod._result = verified  # type: ignore[assignment]


def _effects(result: Any) -> Counter[str]:
    effects = result.side_effects
    counted: Counter[str] = Counter()
    for job, n in effects["jenkins_builds_triggered"].items():
        counted[f"build {job}"] += n
    for audience, n in effects["chat_messages"].items():
        counted[f"chat {audience}"] += n
    counted["statuses"] += effects["statuses_posted"]
    counted["pull requests"] += effects["pull_requests_opened"]
    return counted


def crash_for(seed: int, events: int) -> rehearse_mod.Crash:
    """A worker kill after an event drawn from `seed`, among the `events` of a fault-free run
    (not the first two: the run is just queued then; not the last two: it has ended)."""
    return rehearse_mod.Crash(random.Random(seed).randint(3, max(3, events - 2)))


def soak(scenarios: list[str], seeds: int, rate: float, kill: bool) -> list[dict[str, Any]]:
    _instrument()
    rows = []
    drafts = Path(tempfile.mkdtemp(prefix="oob-soak-"))
    for scenario in scenarios:
        _audits.clear()
        base = rehearse_mod.rehearse(scenario, time_scale=TIME_SCALE, drafts=drafts)
        baseline = _effects(base)
        events = _audits[-1][1]
        row: dict[str, Any] = {
            "scenario": scenario,
            "runs": 0,
            "right": 0,
            "duplicates": 0,
            "missing": 0,
            "faults": 0,
            "audit_ok": 0,
            "killed": 0,
            "undelivered": 0,
            "wall": 0.0,
        }
        for seed in range(1, seeds + 1):
            _faults.clear()
            _audits.clear()
            _undelivered.clear()
            plan = FaultPlan(rate=rate, seed=seed, slow_seconds=0.5, retry_after_seconds=1)
            started = time.monotonic()
            crash = crash_for(seed, events) if kill else None
            result = rehearse_mod.rehearse(
                scenario, time_scale=TIME_SCALE, drafts=drafts, faults=plan, crash=crash
            )
            row["wall"] += time.monotonic() - started
            row["runs"] += 1
            row["right"] += result.outcome == EXPECTED[scenario]
            got = _effects(result)
            row["duplicates"] += sum(max(0, got[k] - baseline[k]) for k in got | baseline)
            row["missing"] += sum(max(0, baseline[k] - got[k]) for k in got | baseline)
            row["faults"] += sum(n for kind, n in _faults.items() if kind != "slow")
            row["audit_ok"] += all(ok for ok, _ in _audits) and bool(_audits)
            row["killed"] += result.killed_after is not None
            row["undelivered"] += sum(_undelivered)
            killed = f" killed after {result.killed_after}" if result.killed_after else ""
            print(
                f"{scenario} seed {seed}:{killed} {result.outcome} "
                f"faults {dict(_faults)} effects {dict(got)} (fault-free {dict(baseline)})",
                file=sys.stderr,
                flush=True,
            )
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], seeds: int, rate: float) -> str:
    lines = [
        "| scenario | runs | right outcome | duplicate side effects | missing side effects "
        "| messages recorded undelivered | mean failed requests retried per run "
        "| audit chain intact | worker killed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['runs']} | {r['right']} | {r['duplicates']} | {r['missing']} "
            f"| {r['undelivered']} "
            f"| {r['faults'] / max(1, r['runs']):.1f} | {r['audit_ok']} | {r['killed']} |"
        )
    total = {
        k: sum(r[k] for r in rows)
        for k in (
            "runs",
            "right",
            "duplicates",
            "missing",
            "undelivered",
            "faults",
            "audit_ok",
            "killed",
        )
    }
    lines.append(
        f"| **all** | {total['runs']} | {total['right']} | {total['duplicates']} "
        f"| {total['missing']} | {total['undelivered']} "
        f"| {total['faults'] / max(1, total['runs']):.1f} "
        f"| {total['audit_ok']} | {total['killed']} |"
    )
    return "\n".join(lines) + f"\n\n(fault rate {rate}, seeds 1..{seeds}, time scale {TIME_SCALE})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--scenario", action="append", choices=sorted(EXPECTED))
    parser.add_argument("--kill", action="store_true", help="SIGKILL the worker in each run")
    args = parser.parse_args()
    rows = soak(args.scenario or list(EXPECTED), args.seeds, args.rate, args.kill)
    print(table(rows, args.seeds, args.rate))


if __name__ == "__main__":
    main()
