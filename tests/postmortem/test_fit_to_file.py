"""A draft fit to file: its own path, a timeline of what a reader needs, links to where the
run happened (the sandbox's pages in a rehearsal)."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pytest

from oob import events
from oob import postmortem as pm
from oob.config import Config
from oob.postmortem import publish
from oob.rehearse import rehearse
from oob.store import Source, Store
from tests.postmortem.conftest import denied_run, resolved_run, start_run


def test_two_runs_with_the_same_symptoms_on_one_day_get_two_files(
    store: Store, config: Config, tmp_path: Path
) -> None:
    first = resolved_run(store)
    one = pm.write_draft(store, config, first, directory=tmp_path)
    # The second run is created with the same id pattern's clock: give it its own id.
    second = denied_run_with_id(store, "20260623-150000-cafe")
    two = pm.write_draft(store, config, second, directory=tmp_path)
    assert one.repository_path == "Postmortems/2026/2026-6-23-Editors-Cannot-Log-In-With-PIV.md"
    assert two.repository_path == "Postmortems/2026/2026-6-23-Editors-Cannot-Log-In-With-PIV-2.md"
    assert one.path.read_text(encoding="utf-8") != two.path.read_text(encoding="utf-8")
    assert "`20260623-140000-beef`" in one.path.read_text(encoding="utf-8")
    # Written again (a retried step), each keeps its own file.
    assert pm.write_draft(store, config, first, directory=tmp_path).path == one.path
    assert pm.write_draft(store, config, second, directory=tmp_path).path == two.path


def test_two_workers_drafting_at_once_get_two_files(
    store: Store, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers sharing one drafts folder drafted two runs of one title on one day at once: both
    # chose the same free name, and one's rename failed ("postmortem failed", no pull request;
    # bench/fleet.py --runs 50). The first here waits, once it has chosen, for the second to
    # choose (at most 5 s): with one draft chosen and written at a time, the second cannot.
    first = resolved_run(store)
    second = denied_run_with_id(store, "20260623-150000-cafe")
    chose = {first: threading.Event(), second: threading.Event()}
    build = publish.build_draft

    def choosing(store: Store, config: Config, run_id: str, **kwargs: Any) -> pm.Draft:
        draft = build(store, config, run_id, **kwargs)
        chose[run_id].set()
        if run_id == first:
            chose[second].wait(5)
        return draft

    monkeypatch.setattr(publish, "build_draft", choosing)
    results: dict[str, pm.DraftResult] = {}
    errors: list[BaseException] = []

    def draft(run_id: str) -> None:
        try:
            results[run_id] = pm.write_draft(store, config, run_id, directory=tmp_path)
        except BaseException as exc:  # the test says what it was
            errors.append(exc)

    one = threading.Thread(target=draft, args=(first,))
    one.start()
    chose[first].wait(30)
    two = threading.Thread(target=draft, args=(second,))
    two.start()
    one.join(60)
    two.join(60)
    assert errors == []
    assert results[first].path != results[second].path
    assert "`20260623-140000-beef`" in results[first].path.read_text(encoding="utf-8")
    assert "`20260623-150000-cafe`" in results[second].path.read_text(encoding="utf-8")


def test_a_name_taken_by_another_run_s_pull_request_is_not_reused(
    store: Store, config: Config
) -> None:
    first = resolved_run(store)
    path = "Postmortems/2026/2026-6-23-Editors-Cannot-Log-In-With-PIV.md"
    opened = events.PullRequestOpened("o/pm", "oob/postmortem-x", "main", path, 5, "https://x/5")
    store.record(
        first, opened, "Postmortem pull request #5 opened", actor="oob", source=Source.WORKER
    )
    second = denied_run_with_id(store, "20260623-150000-cafe")
    path = pm.build_draft(store, config, second).repository_path
    assert path.endswith("-With-PIV-2.md")
    assert pm.build_draft(store, config, first).repository_path.endswith("-With-PIV.md")


def denied_run_with_id(store: Store, run_id: str) -> str:
    from oob.store import RunRequest
    from tests.support import preset_plan

    run = store.create_run(
        RunRequest(
            pipeline="va-cms",
            requester="cms-oncall",
            fix_sha="f" * 40,
            symptoms="Editors cannot log in with PIV",
            cause="unknown",
            fix_summary="revert",
            affects="",
            release_wait_minutes=15,
        ),
        preset_plan(),
        run_id=run_id,
    )
    return run.id


def test_the_timeline_leaves_out_the_procedure_s_bookkeeping(store: Store, config: Config) -> None:
    s = start_run(store)
    for minute in range(1, 4):
        s.event(minute, events.KIND_STEP_STARTED, f"step {minute} started", step=str(minute))
        s.event(minute, events.KIND_STEP_FINISHED, f"step {minute} done", step=str(minute))
        s.event(minute, events.KIND_CHECK, "editor login page: HTTP 503", name="login", ok=False)
    s.event(5, events.KIND_APPROVED, "Approved by cms-product-owner", actor="cms-product-owner")
    text = pm.build_draft(store, config, s.run_id).text
    timeline = text[text.index("## Timeline") :]
    assert "started |" not in timeline
    assert " done |" not in timeline
    assert timeline.count("editor login page: HTTP 503") == 1
    assert "Approved by cms-product-owner" in timeline
    assert "Approval requested from the product owner" in timeline


def test_a_rehearsal_s_draft_links_to_the_sandbox(tmp_path: Path) -> None:
    result = rehearse("happy", time_scale=600, drafts=tmp_path)
    assert result.postmortem_path is not None
    text = Path(result.postmortem_path).read_text(encoding="utf-8")
    fix = text[text.index("- Fix commit: ") :].splitlines()[0]
    assert fix.startswith("- Fix commit: http://127.0.0.1:")
    assert "/web/github/department-of-veterans-affairs/va.gov-cms/commit/" in fix
    # No link of a drill points at a real host: GitHub's and Slack's links are the sandbox's.
    hosts = {m.group(1) for m in re.finditer(r"https?://([^/\s)|>]+)", text)}
    assert hosts
    assert all(h.startswith("127.0.0.1:") for h in hosts), hosts
    # The rows of the timeline are the events a reader needs, not every step's start and end.
    timeline = text[text.index("## Timeline") :]
    rows = [line for line in timeline.splitlines() if line.startswith("| 20")]
    assert len(rows) < 50  # about 40: the staging builds carrying the fix start and end too
    assert not [row for row in rows if row.endswith(" done |")]
    # Builds start (and oob tells the operators the release started); steps do not appear.
    started = [row for row in rows if row.endswith(" started |") and "told " not in row]
    assert all(" #" in row for row in started), started


def test_denied_run_drafts_too(store: Store, config: Config, tmp_path: Path) -> None:
    run_id = denied_run(store)
    assert pm.write_draft(store, config, run_id, directory=tmp_path).path.is_file()
