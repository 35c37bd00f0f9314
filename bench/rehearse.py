"""What a whole rehearsal costs beyond the jobs themselves, and the usual way side by side.

Rehearses a scenario in this process, timing oob's own work as it goes (each DBOS step, the
store writes and service requests inside it, each pause between looks, the postmortem), then
splits the time above the critical path -- the moments no build the run follows is running --
by phase and by cause: Jenkins' queue (a triggered build's quiet period: the world's time, not
oob's), waits on the simulated people, polling (pauses after a change, until the next look),
store writes, service requests and DBOS steps (the rest of a step's time), the postmortem and
its pull request, and what is left (the workflow's own code, DBOS between steps). Start-up and
teardown (sandbox, store, worker) are outside the run and shown apart. oob's own time is the
time above the critical path less Jenkins' queue and the people.

Then it runs the usual way (`bench/baseline.py`: python-jenkins polling every 10 s and a
`curl` of the combined status) against a fresh sandbox with the same scenario and time scale,
and prints both: latency per change and requests to each service per minute of the run.

Run: .venv/bin/python bench/rehearse.py [--runs N] [--time-scale N] [--scenario NAME]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from baseline import baseline
from slack_sdk.web.base_client import BaseClient

from oob.errors import ProcedureError
from oob.procedure.effects import Durable
from oob.procedure.runtime import rt
from oob.reaction import epoch
from oob.rehearse import Rehearsal, rehearse
from oob.store import Store

Span = tuple[float, float]
PAUSES = ("wait", "sleep")
STORE_WRITES = ("append_event", "transition", "decide", "record_facts")
CAUSES = (
    "jenkins queue",
    "people",
    "polling",
    "store writes",
    "requests",
    "DBOS steps",
    "postmortem + PR",
    "rest",
)


class Spans:
    """oob's own work during a rehearsal, as spans of the run's clock, by what it was."""

    def __init__(self) -> None:
        self.by: dict[str, list[Span]] = defaultdict(list)
        self._inside = threading.local()

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Time the workflow's steps and pauses, and the store writes and requests in steps."""
        originals: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, name: str, wrapper: Callable[[Any], Any]) -> None:
            originals.append((owner, name, owner.__dict__[name]))
            setattr(owner, name, wrapper(getattr(owner, name)))

        for name in [n for n, v in vars(Durable).items() if isinstance(v, staticmethod)]:
            cause = "pause" if name in PAUSES else "postmortem" if name == "postmortem" else "step"
            patch(Durable, name, lambda f, c=cause: staticmethod(self._timed(f, c, step=True)))
        for name in STORE_WRITES:
            patch(Store, name, lambda f: self._timed(f, "store"))
        patch(httpx.Client, "send", lambda f: self._timed(f, "requests"))
        # Slack's client sends with urllib.
        patch(BaseClient, "_perform_urllib_http_request", lambda f: self._timed(f, "requests"))
        try:
            yield
        finally:
            for owner, name, value in originals:
                setattr(owner, name, value)

    def _timed(self, function: Any, cause: str, *, step: bool = False) -> Any:
        """`function`, timed as `cause`: a step always, anything else only inside a step."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            inside = getattr(self._inside, "step", False)
            if not step and not inside:
                return function(*args, **kwargs)
            begun = _now()
            self._inside.step = True
            try:
                return function(*args, **kwargs)
            finally:
                self._inside.step = inside
                ended = _now()
                if begun is not None and ended is not None:
                    self.by[cause].append((begun, ended))

        return timed


def _now() -> float | None:
    try:
        return rt().clock.now().timestamp()
    except ProcedureError:  # no run bound yet
        return None


def union(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for begun, ended in sorted(spans):
        if merged and begun <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], ended))
        else:
            merged.append((begun, ended))
    return merged


def overlap(a: list[Span], b: list[Span]) -> list[Span]:
    """The parts of `a` inside `b`."""
    return union(
        [(max(x, y), min(u, v)) for x, u in union(a) for y, v in union(b) if max(x, y) < min(u, v)]
    )


def minus(a: list[Span], b: list[Span]) -> list[Span]:
    """The parts of `a` outside `b`."""
    out: list[Span] = []
    for begun, ended in union(a):
        at = begun
        for x, u in union(b):
            if u <= at or x >= ended:
                continue
            if x > at:
                out.append((at, x))
            at = max(at, u)
        if at < ended:
            out.append((at, ended))
    return out


def length(spans: list[Span]) -> float:
    return sum(e - b for b, e in union(spans))


def split(result: Rehearsal, spans: Spans) -> dict[str, dict[str, float]]:
    """Simulated seconds above the critical path, by phase and by cause."""
    samples = {s["change"]: s for s in result.reaction_latency_ms["samples"]}
    phases = {
        s["name"]: (epoch(s["started_at"]), epoch(s["ended_at"]))
        for s in result.steps
        if s["started_at"] and s["ended_at"]
    }
    run = [(min(b for b, _ in phases.values()), max(e for _, e in phases.values()))]
    builds, queue = _builds(samples, phases)
    idle = minus(run, builds)
    causes: dict[str, list[Span]] = {"jenkins queue": overlap(idle, queue)}
    causes["people"] = minus(overlap(idle, _people(samples, phases)), causes["jenkins queue"])
    taken = causes["jenkins queue"] + causes["people"]
    causes["postmortem + PR"] = minus(overlap(idle, spans.by["postmortem"]), taken)
    taken += causes["postmortem + PR"]
    causes["polling"] = minus(overlap(idle, spans.by["pause"]), taken)
    for cause, key in (("store writes", "store"), ("requests", "requests")):
        causes[cause] = minus(overlap(idle, spans.by[key]), taken)
    inner = causes["store writes"] + causes["requests"]
    causes["DBOS steps"] = minus(minus(overlap(idle, spans.by["step"]), taken), inner)
    known = union([s for c in causes.values() for s in c])
    causes["rest"] = minus(idle, known)
    return {
        phase: {cause: length(overlap(causes[cause], [span])) for cause in CAUSES}
        for phase, span in sorted(phases.items(), key=lambda p: p[1])
    }


def _builds(samples: dict[str, Any], phases: dict[str, Span]) -> tuple[list[Span], list[Span]]:
    """The followed builds' spans, and Jenkins' queue before each: from its upstream's end (for
    the release, from its trigger) to its start. A build already running when the run began
    (staging's first, in `quick` and `happy`) runs from the run's start."""
    builds, queue = [], []
    begin = min(b for b, _ in phases.values())
    trigger = phases.get("trigger", (math.inf, math.inf))[0]
    previous = begin
    for change, sample in samples.items():
        if " #" not in change:
            continue
        name = change.rsplit(" ", 1)[0]
        if change.endswith(" ended") and f"{name} started" not in samples:
            previous = epoch(sample["changed_at"])
            builds.append((begin, previous))
        elif change.endswith(" started"):
            begun = epoch(sample["changed_at"])
            ended_sample = samples.get(f"{name} ended")
            ended = epoch(ended_sample["changed_at"]) if ended_sample else begun
            builds.append((begun, ended))
            queue.append((max(previous, trigger) if begun >= trigger else previous, begun))
            previous = ended
    return builds, queue


def _people(samples: dict[str, Any], phases: dict[str, Span]) -> list[Span]:
    """The waits for people: the approval, and the confirmation once editors could log in."""
    waits = []
    if "approval" in phases and "approval.approved" in samples:
        waits.append((phases["approval"][0], epoch(samples["approval.approved"]["changed_at"])))
    login = samples.get("editor login answers")
    if login and "verify.confirmed" in samples:
        waits.append((epoch(login["acted_at"]), epoch(samples["verify.confirmed"]["changed_at"])))
    return waits


def once(scenario: str, time_scale: float) -> None:
    spans = Spans()
    begun = time.monotonic()
    with spans.timing(), tempfile.TemporaryDirectory() as drafts:
        result = rehearse(scenario, time_scale=time_scale, drafts=Path(drafts))
    total = time.monotonic() - begun
    table = split(result, spans)
    critical = result.critical_path_sim_seconds / time_scale
    above = sum(sum(row.values()) for row in table.values()) / time_scale
    own = above - sum(row["jenkins queue"] + row["people"] for row in table.values()) / time_scale
    print(
        f"{result.outcome}: wall {result.wall_seconds:.2f} s, critical path {critical:.2f} s, "
        f"above it {above:.2f} s, oob's own {own:.2f} s; "
        f"start-up and teardown {total - result.wall_seconds:.2f} s"
    )
    print(f"{'real seconds':<14}" + "".join(f"{c:>16}" for c in CAUSES))
    for phase, row in table.items():
        print(f"{phase:<14}" + "".join(f"{row[c] / time_scale:>16.3f}" for c in CAUSES))
    totals = {c: sum(row[c] for row in table.values()) / time_scale for c in CAUSES}
    print(f"{'all':<14}" + "".join(f"{totals[c]:>16.3f}" for c in CAUSES))
    show("oob", result.reaction_latency_ms, result.side_effects["requests_per_minute"])
    usual = baseline(scenario, time_scale)
    show("usual", usual["reaction_latency_ms"], usual["requests_per_minute"])


def show(who: str, latency: dict[str, Any], per_minute: dict[str, dict[str, float]]) -> None:
    figures = {k: v for k, v in latency.items() if k != "samples"}
    requests = {s: (n["requests"], n["not_modified"]) for s, n in per_minute.items()}
    print(f"{who:>6}: latency ms {figures} over {len(latency['samples'])} changes")
    for sample in latency["samples"]:
        print(f"{'':>8}{sample['ms']:>10.1f} ms  {sample['change']}")
    print(f"{'':>8}requests per run minute (of which 304): {requests}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--time-scale", type=float, default=60)
    parser.add_argument("--scenario", default="happy")
    args = parser.parse_args()
    for _ in range(args.runs):
        once(args.scenario, args.time_scale)


if __name__ == "__main__":
    main()
