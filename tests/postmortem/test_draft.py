"""The draft: every outcome's facts and sections, UTC times with dates, paths, templates."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from oob import events
from oob import postmortem as pm
from oob.config import Config
from oob.errors import ConfigError
from oob.store import RunState, Source, Store
from tests.postmortem.conftest import (
    FIX,
    MERGED,
    OTHER,
    Scripted,
    approve_and_release,
    cancelled_run,
    denied_run,
    deploy,
    deploy_failed_run,
    end,
    fix_not_verified_run,
    release_mismatch_run,
    resolved_run,
    start_run,
)

SECTIONS = [
    "## What happened?",
    "## Background",
    "## Detection",
    "## Impact",
    "## Root Causes",
    "## Resolution",
    "## Documentation links",
    "## Action Items",
    "## Lessons Learned",
    "### What went well",
    "### What went wrong",
    "### Where we got lucky",
    "### Takeaways",
    "## Timeline",
]

OUTCOMES: dict[str, tuple[Callable[[Store], str], list[str]]] = {
    "resolved": (
        resolved_run,
        [
            "The fix was deployed to production and verified; the issue is resolved.",
            "- Verification: passed",
            "- Verification: passed\n  - 2026-06-23",  # each check on its own line, nested
            "(deploy shield up → down): 2026-06-23 14:37:00 UTC → 2026-06-23 14:45:00 UTC (8 min)",
            "Lead time from approval to resolution: 45 min",
        ],
    ),
    "cancelled": (
        cancelled_run,
        [
            "The deploy was cancelled by cms-oncall (a second bug was found)",
            "- Cancelled by cms-oncall: 2026-06-23 14:18:00 UTC (a second bug was found)",
            "| deploys/cms-auto-deploy | 15 min | 8 min | ABORTED |",
            "- Released commit: none",
        ],
    ),
    "denied": (
        denied_run,
        [
            "The deploy was denied by cms-product-owner (wait for the daily deploy)",
            "| 2026-06-23 14:00:30 UTC | 2026-06-23 14:04:00 UTC | cms-product-owner | denied | "
            "wait for the daily deploy |",
            "No Jenkins build was triggered or followed in this run.",
            "- Verification: not reached",
        ],
    ),
    "release_mismatch": (
        release_mismatch_run,
        [
            f"The release job released {OTHER[:7]}, which does not contain the fix",
            "**does not contain the fix**",
            f"compare/{FIX}...{OTHER}",
            f"| Find out why the release job released {OTHER[:7]}, "
            "which does not contain the fix |",
        ],
    ),
    "deploy_failed": (
        deploy_failed_run,
        [
            "The deploy failed: deploys/cms-vagov-prod #66 ended FAILURE.",
            "| Find out why deploys/cms-vagov-prod #66 ended FAILURE | Bug |",
            "(the shield was not seen lowered)",
            ":crit, 2026-06-23 14:35:00, 2026-06-23 14:45:00",
        ],
    ),
    "fix_not_verified": (
        fix_not_verified_run,
        [
            "The deploy completed, but the fix could not be verified in production.",
            "- Verification: **failed**",
            "2026-06-23 14:47:00 UTC — editor login page: failed (HTTP 500, expected 200)",
            "| Find out why the fix was not verified in production: editor login page "
            "(HTTP 500, expected 200) | Bug |",
        ],
    ),
}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_every_outcome_has_the_sections_and_its_facts(
    outcome: str, store: Store, config: Config
) -> None:
    make, expected = OUTCOMES[outcome]
    run_id = make(store)
    assert store.run(run_id).outcome is RunState(outcome)
    text = pm.build_draft(store, config, run_id).text

    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions), "sections out of the VA template's order"
    assert text.startswith("# Editors cannot log in with PIV\n")
    assert "**Date:** 2026-06-23" in text
    assert "**Authors:** cms-oncall" in text
    assert "**Status:** Draft" in text
    assert "- Who was affected: all CMS editors" in text
    assert "- a bad module update of simplesamlphp — _as given" in text
    assert (
        f"[`{FIX[:7]}`](https://github.com/department-of-veterans-affairs/va.gov-cms/commit/{FIX})"
        in text
    )
    assert "| Description | Type | Owner | Issue # |" in text
    assert f"- Run ended ({outcome}): 2026-06-23 " in text
    for fragment in expected:
        assert fragment in text, fragment


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_every_time_is_utc_with_its_date(outcome: str, store: Store, config: Config) -> None:
    run_id = OUTCOMES[outcome][0](store)
    text = pm.build_draft(store, config, run_id).text
    body = text.replace("axisFormat %H:%M", "")
    # A clock time must follow a date; the draft's own format is "YYYY-MM-DD HH:MM:SS UTC",
    # Mermaid's the same without the zone.
    bare = re.findall(r"(?<![\d:])(?<!\d{4}-\d{2}-\d{2} )\d{2}:\d{2}", body)
    assert bare == []
    assert re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?! UTC)(?!,|\n)", body) == []


@pytest.mark.parametrize("outcome", list(OUTCOMES))
def test_timeline_has_every_event_in_time_order(outcome: str, store: Store, config: Config) -> None:
    run_id = OUTCOMES[outcome][0](store)
    events = store.events(run_id)
    text = pm.build_draft(store, config, run_id).text
    timeline = text[text.index("## Timeline") :]
    rows = [line for line in timeline.splitlines() if re.match(r"\| \d{4}-", line)]
    assert len(rows) == len(events)
    times = [row.split(" | ")[0].lstrip("| ") for row in rows]
    assert times == sorted(times)
    for event in events:
        assert f"| {event.actor} | {event.source.value} | {event.summary} |" in timeline


def test_resolved_run_with_an_override_and_a_merge_suggests_action_items(
    store: Store, config: Config
) -> None:
    run_id = resolved_run(store, overridden=True, merge=True)
    facts = pm.extract_facts(store.run(run_id), store.events(run_id), config)

    assert facts.approver == "cms-product-owner"
    assert [o.context for o in facts.overrides] == ["va/tests/cypress"]
    assert [m.sha for m in facts.merges] == [MERGED]
    assert facts.release is not None
    assert facts.release.sha == MERGED
    assert facts.release.tag == "cms/v0.0.1234"
    descriptions = [item.description for item in facts.action_items]
    assert f"Investigate the flaky va/tests/cypress (overridden on {FIX[:7]})" in descriptions
    assert f"Find out why {MERGED[:7]} by someone was merged during the merge hold" in descriptions
    assert facts.lucky == (
        f"The release job picked {MERGED[:7]}, merged during the hold, and it contained the fix.",
    )

    text = pm.render(facts, config)
    assert (
        "| 2026-06-23 14:03:00 UTC | cms-oncall | `va/tests/cypress` | f1e2d3c | failure |" in text
    )
    assert "| someone | Bump a dependency |" in text  # the first line of the message only
    assert "**Authors:** cms-oncall (operator of the out-of-band deploy); approved by " in text


def test_a_stage_much_slower_than_its_estimate_is_an_action_item(
    store: Store, config: Config
) -> None:
    s: Scripted = start_run(store)
    approve_and_release(s)
    s.state(27, RunState.DEPLOYING)
    s.build(27, 34, "cms/cms-full-pipeline", 88)
    s.build(34, 35, "releases/cms", 77)
    s.build(35, 65, "deploys/cms-vagov-prod", 66)  # 30 min against 7
    s.state(66, RunState.VERIFYING)
    s.event(67, events.KIND_CHECK, "login ok", name="editor login page", ok=True, detail="HTTP 200")
    end(s, 68, RunState.RESOLVED)

    facts = pm.extract_facts(store.run(s.run_id), store.events(s.run_id), config)
    slow = [stage.name for stage in facts.stages if stage.slow]
    assert slow == ["deploys/cms-vagov-prod"]
    descriptions = [item.description for item in facts.action_items]
    assert "Find out why deploys/cms-vagov-prod took 30 min against an estimate of 7 min" in (
        descriptions
    )
    text = pm.render(facts, config)
    assert "| deploys/cms-vagov-prod | 7 min | 30 min (much slower) | SUCCESS |" in text


def test_stage_table_lead_time_and_gantt(store: Store, config: Config) -> None:
    run_id = resolved_run(store)
    text = pm.build_draft(store, config, run_id).text
    assert "| deploys/cms-auto-deploy | 15 min | 17 min | SUCCESS |" in text
    assert "| cms/cms-full-pipeline | 7 min | 7 min | SUCCESS |" in text
    assert "| releases/cms | 1 min | 1 min | SUCCESS |" in text
    assert "| deploys/cms-vagov-prod | 7 min | 10 min | SUCCESS |" in text
    assert "the runbook's estimate from the release job on: 30 min" in text
    assert "(estimate given with the approval request: 30 min)" in text

    gantt = text[text.index("```mermaid") : text.index("```", text.index("```mermaid") + 3)]
    assert "dateFormat YYYY-MM-DD HH:mm:ss" in gantt
    sections = re.findall(r"^    section (.+)$", gantt, flags=re.MULTILINE)
    assert sections == ["Approval", "Merges", "Jenkins", "Editors", "Verification"]
    assert (
        "    deploys/cms-auto-deploy 321 :done, 2026-06-23 14:10:00, 2026-06-23 14:27:00" in gantt
    )
    assert (
        "    Deploy shield (editor downtime) :crit, 2026-06-23 14:37:00, 2026-06-23 14:45:00"
        in gantt
    )


def test_documentation_links(store: Store, config: Config) -> None:
    run_id = resolved_run(store)
    text = pm.build_draft(store, config, run_id).text
    links = text[text.index("## Documentation links") : text.index("## Action Items")]
    assert "- Jenkins deploys/cms-vagov-prod #66: https://jenkins.example/job/deploys/job/" in links
    assert (
        f"- Fix commit: https://github.com/department-of-veterans-affairs/va.gov-cms/commit/{FIX}"
        in links
    )
    assert (
        "- Chat, 2026-06-23 14:07:00 UTC, #sitewide-program: hold_merges — "
        "https://slack.example/archives/C2/p2" in links
    )
    assert f"compare/{FIX}...{FIX}" in links


def test_impact_lists_who_was_affected_and_the_symptoms_on_their_own_lines(
    store: Store, config: Config
) -> None:
    # Both were run together on one line ("…all CMS editors- Symptoms: …").
    text = pm.build_draft(store, config, resolved_run(store)).text
    assert "\n- Who was affected: all CMS editors\n- Symptoms: " in text


def test_a_run_still_going_gives_a_partial_draft(store: Store, config: Config) -> None:
    s = start_run(store)
    approve_and_release(s)
    deploy(s)
    text = pm.build_draft(store, config, s.run_id).text
    assert "The run has not ended yet (it is deploying); this draft is partial." in text
    assert "- Run ended" not in text


def test_user_text_cannot_break_a_table(store: Store, config: Config) -> None:
    s = start_run(store)
    s.event(1, "note", "a | pipe\nand a second line")
    text = pm.build_draft(store, config, s.run_id).text
    assert "| a \\| pipe<br>and a second line |" in text


def test_repository_path_follows_the_pattern_without_zero_padding(
    store: Store, config: Config
) -> None:
    draft = pm.build_draft(store, config, resolved_run(store))
    assert draft.repository_path == "Postmortems/2026/2026-6-23-Editors-Cannot-Log-In-With-PIV.md"

    other = config.model_copy(
        update={"postmortem": config.postmortem.model_copy(update={"path": "pm/{run_id}.md"})}
    )
    assert pm.repository_path(draft.facts, other) == f"pm/{draft.facts.run_id}.md"


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("P/{nope}.md", "cannot fill it in"), ("../{slug}.md", "gives"), ("/abs/{slug}.md", "gives")],
)
def test_a_bad_path_pattern_is_a_config_error(
    store: Store, config: Config, pattern: str, message: str
) -> None:
    draft = pm.build_draft(store, config, denied_run(store))
    bad = config.model_copy(
        update={"postmortem": config.postmortem.model_copy(update={"path": pattern})}
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        pm.repository_path(draft.facts, bad)


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("CMS PIV login failure", "CMS-PIV-Login-Failure"),
        ("editors can't log in!", "Editors-Can-T-Log-In"),
        ("  ", "Out-Of-Band-Deployment"),
        (
            "one two three four five six seven eight nine ten",
            "One-Two-Three-Four-Five-Six-Seven-Eight",
        ),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert pm.slugify(text) == slug


def test_due_date_skips_the_weekend() -> None:
    friday = datetime(2026, 6, 26, 18, 0, tzinfo=UTC)
    assert pm.due_date(friday).isoformat() == "2026-06-30"
    tuesday = datetime(2026, 6, 23, 9, 0, tzinfo=UTC)
    assert pm.due_date(tuesday).isoformat() == "2026-06-25"


def test_the_config_can_replace_the_template(store: Store, config: Config, tmp_path: Path) -> None:
    (tmp_path / "pm.md.j2").write_text(
        "# {{ facts.title }}\n{% for e in facts.timeline %}{{ e.at | utc }} {{ e.kind }}\n"
        "{% endfor %}",
        encoding="utf-8",
    )
    custom = config.model_copy(
        update={"postmortem": config.postmortem.model_copy(update={"template": Path("pm.md.j2")})}
    )
    text = pm.build_draft(store, custom, denied_run(store)).text
    assert text.startswith(
        "# Editors cannot log in with PIV\n2026-06-23 14:00:00 UTC run.requested"
    )


def compiles(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The names of the templates Jinja2 compiles from now on in the test."""
    import jinja2

    compiled: list[Any] = []
    compile_ = jinja2.Environment.compile

    def counted(self: jinja2.Environment, source: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(args[:1])
        return compile_(self, source, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    return compiled


def test_a_second_draft_in_the_process_compiles_no_template(
    store: Store, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Compiling the built-in template takes 40 to 60 ms: a worker does it once, not per run.
    run_id = denied_run(store)
    first = pm.build_draft(store, config, run_id).text
    compiled = compiles(monkeypatch)
    assert pm.build_draft(store, config, run_id).text == first
    assert compiled == []


def test_a_custom_template_edited_between_two_drafts_is_read_again(
    store: Store, config: Config, tmp_path: Path
) -> None:
    template = tmp_path / "pm.md.j2"
    custom = config.model_copy(
        update={"postmortem": config.postmortem.model_copy(update={"template": template})}
    )
    run_id = denied_run(store)
    template.write_text("before {{ facts.title }}\n", encoding="utf-8")
    assert pm.build_draft(store, custom, run_id).text.startswith("before ")
    template.write_text("after {{ facts.title }}\n", encoding="utf-8")
    later = template.stat().st_mtime + 1
    os.utime(template, (later, later))
    assert pm.build_draft(store, custom, run_id).text.startswith("after ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{ facts.nope }}", "the postmortem template failed"),
        ("{% if %}", "pm.md.j2:1"),
        (None, "not found"),
    ],
)
def test_a_broken_custom_template_is_a_config_error(
    store: Store, config: Config, tmp_path: Path, body: str | None, message: str
) -> None:
    if body is not None:
        (tmp_path / "pm.md.j2").write_text(body, encoding="utf-8")
    custom = config.model_copy(
        update={"postmortem": config.postmortem.model_copy(update={"template": Path("pm.md.j2")})}
    )
    run_id = denied_run(store)
    with pytest.raises(ConfigError, match=re.escape(message)):
        pm.build_draft(store, custom, run_id)


def test_write_draft_without_a_code_host_writes_the_file_only(
    store: Store, config: Config, tmp_path: Path
) -> None:
    run_id = resolved_run(store)
    result = pm.write_draft(store, config, run_id, None, directory=tmp_path / "out")
    assert result.pull_request is None
    assert result.pr_url is None
    assert result.path == tmp_path / "out" / result.repository_path
    assert result.path.read_text(encoding="utf-8") == pm.build_draft(store, config, run_id).text
    assert [p.name for p in result.path.parent.iterdir()] == [result.path.name]


def test_the_draft_written_while_closing_knows_the_outcome(store: Store, config: Config) -> None:
    # The procedure's postmortem step runs after `run.ended` is recorded, before the run
    # moves to its outcome.
    s = start_run(store)
    approve_and_release(s)
    deploy(s, prod_result="FAILURE")
    end(s, 46, RunState.DEPLOY_FAILED, final=False)
    assert store.run(s.run_id).state is RunState.CLOSING

    facts = pm.build_draft(store, config, s.run_id).facts
    assert facts.outcome is RunState.DEPLOY_FAILED
    assert facts.end_reason == "the deploy_failed reason"
    assert facts.ended_at == datetime(2026, 6, 23, 14, 47, tzinfo=UTC)
    text = pm.render(facts, config)
    assert "The deploy failed: deploys/cms-vagov-prod #66 ended FAILURE." in text
    assert "- Run ended (deploy_failed): 2026-06-23 14:47:00 UTC" in text


def test_an_override_in_the_audit_log_before_the_run_is_named(store: Store, config: Config) -> None:
    # `oob override-status` before the deploy: audited outside any run, with a short SHA.
    store.append_event(
        None,
        actor="cms-oncall",
        source="cli",
        kind=events.KIND_STATUS_OVERRIDDEN,
        summary="va/tests/cypress overridden to success",
        details={
            "sha": FIX[:7],
            "context": "va/tests/cypress",
            "previous_state": "failure",
            "reason": "known flaky",
        },
    )
    store.append_event(
        None,
        actor="someone",
        source="cli",
        kind=events.KIND_STATUS_OVERRIDDEN,
        summary="another commit's status",
        details={"sha": OTHER, "context": "va/tests/phpunit", "reason": "unrelated"},
    )
    run_id = resolved_run(store)
    facts = pm.build_draft(store, config, run_id).facts
    assert [(o.context, o.reason) for o in facts.overrides] == [("va/tests/cypress", "known flaky")]
    assert f"Investigate the flaky va/tests/cypress (overridden on {FIX[:7]})" in [
        item.description for item in facts.action_items
    ]
    assert "va/tests/cypress overridden to success" in [e.summary for e in facts.timeline]
    assert "another commit's status" not in [e.summary for e in facts.timeline]


def test_a_preflight_wait_is_what_went_wrong(store: Store, config: Config) -> None:
    s = start_run(store)
    s.event(5, events.KIND_APPROVED, "approved", actor="cms-product-owner", source=Source.CLI)
    s.state(5, RunState.PREFLIGHT)
    s.event(
        5, events.KIND_PREFLIGHT_WAITING, "waiting", reasons=["post-deploy tests still running"]
    )
    s.event(17, events.KIND_PREFLIGHT_PASSED, "pre-flight passed")
    facts = pm.build_draft(store, config, s.run_id).facts
    assert facts.preflight_wait is not None
    assert facts.preflight_wait.minutes == 12
    assert "Pre-flight had to wait 12 min: post-deploy tests still running" in facts.went_wrong


def test_a_workers_first_draft_compiles_no_template(
    store: Store, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker compiles the built-in template as it starts, not at the end of its first run.
    from oob.postmortem.render import _environment
    from oob.worker import make_runtime

    _environment.cache_clear()  # as in a fresh process
    make_runtime(store, SimpleNamespace(), drafts=tmp_path)  # type: ignore[arg-type]
    compiled = compiles(monkeypatch)
    pm.build_draft(store, config, denied_run(store))
    assert compiled == []
