"""One clock per run: a rehearsal's draft reads as the real day's would, in simulated time, at
every time scale (issue: what a rehearsal shows is true)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

import pytest

from oob.rehearse import rehearse

STAMP = r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC"


def minutes(text: str) -> float:
    """`1 h 8 min` or `7 min` as minutes."""
    hours = re.search(r"(\d+) h", text)
    mins = re.search(r"(\d+) min", text)
    return (int(hours.group(1)) * 60 if hours else 0) + (int(mins.group(1)) if mins else 0)


def at(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")


@pytest.mark.parametrize("time_scale", [600, 120, 60])
def test_lead_time_and_downtime_agree_with_the_builds_at_every_time_scale(
    tmp_path: Path, time_scale: float
) -> None:
    result = rehearse("happy", time_scale=time_scale, drafts=tmp_path)
    assert result.outcome == "resolved"
    assert result.postmortem_path is not None
    draft = Path(result.postmortem_path).read_text(encoding="utf-8")

    builds = {
        row[0]: (at(row[1]), at(row[2]))
        for row in re.findall(rf"\| ([\w/-]+) \| \[#\d+\]\([^)]*\) \| {STAMP} \| {STAMP} \|", draft)
    }
    assert set(builds) >= {"deploys/cms-auto-deploy", "deploys/cms-vagov-prod"}, draft
    down = re.search(rf"Editor downtime[^:]*: {STAMP} → {STAMP} \(([^)]*)\)", draft)
    assert down is not None, draft
    prod_start, prod_end = builds["deploys/cms-vagov-prod"]
    # The shield is up while the production job runs: the same window, to the minute.
    assert abs((at(down.group(1)) - prod_start).total_seconds()) <= 60
    assert abs((at(down.group(2)) - prod_end).total_seconds()) <= 60
    assert abs(minutes(down.group(3)) - (prod_end - prod_start).total_seconds() / 60) <= 1

    lead = re.search(r"Lead time from approval to resolution: ([^;]*);", draft)
    approved = re.search(rf"- Approved by [^:]+: {STAMP}", draft)
    assert lead is not None, draft
    assert approved is not None, draft
    # The first staging build ran before the approval: the lead time counts from the approval.
    first = max(at(approved.group(1)), min(start for start, _ in builds.values()))
    last = max(end for _, end in builds.values())
    # The lead time holds every build the run followed, in the same (simulated) minutes.
    assert minutes(lead.group(1)) >= (last - first).total_seconds() / 60 - 1


def test_the_live_view_never_shows_a_running_stage_with_negative_time(tmp_path: Path) -> None:
    """The live view measured a running stage's sandbox start against the wall clock."""
    from rich.console import Console

    from oob.config import Config
    from oob.live import render
    from oob.readmodel import snapshot
    from oob.store import Store

    running: list[float] = []
    shown: list[str] = []

    def show(store: Store, _config: Config, run_id: str, _scale: float) -> None:
        while store.run(run_id).active:
            shot = snapshot(store, run_id, store.clock.now())
            now = [s.actual_minutes for s in shot.stages if s.status == "running"]
            running.extend(m for m in now if m is not None)
            if now and len(shown) < 5:
                screen = Console(record=True, width=200)
                screen.print(render(shot))
                shown.append(screen.export_text())
            time.sleep(0.05)

    result = rehearse("happy", time_scale=600, drafts=tmp_path, show=show)
    assert result.outcome == "resolved"
    assert running
    assert min(running) >= 0
    assert shown
    assert not [text for text in shown if re.search(r"-\d+ (h|min)", text)]
